"""An API Gateway HTTP API, locally: routes, Lambda authorizer, CORS and payload format 2.0, all read
from template.yaml, in front of the functions run by `local.lambdas`.

Paths are served at the root: the local API is the `$default` stage (no /dev prefix).
"""

import base64
import binascii
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from local.httpapi import Authorizer, HttpApiSpec, Route, Throttle, http_api_spec
from local.lambdas import TIMEOUT_ERROR, InvocationError, LambdaService

log = logging.getLogger("local.gateway")

ACCOUNT_ID = "000000000000"
API_ID = "local"
STAGE = "$default"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # HTTP API's payload limit
# Framing is the gateway's business, never the function's.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: list[str] = field(default_factory=list)


def message_response(status: int, message: str) -> HttpResponse:
    """API Gateway's own answers: `{"message": "..."}`."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, {"content-type": "application/json"}, body)


class Reply(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Stop processing and answer with `response` (a gateway-generated error)."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


INTERNAL_ERROR = 500, "Internal Server Error"
# A function that runs out of its timeout: what HTTP API answers for it.
SERVICE_UNAVAILABLE = 503, "Service Unavailable"


@dataclass
class HttpRequest:
    method: str
    target: str  # the raw request target: /path?query
    header_pairs: list[tuple[str, str]]
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"
    request_id: str = field(default_factory=lambda: base64.b64encode(os.urandom(10)).decode())
    received_at: float = field(default_factory=time.time)

    @property
    def raw_path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def raw_query(self) -> str:
        return self.target.partition("?")[2]

    @cached_property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined by commas, as payload 2.0 does."""
        return _join_pairs((name.lower(), value) for name, value in self.header_pairs)

    @cached_property
    def query(self) -> dict[str, str]:
        return _join_pairs(parse_qsl(self.raw_query, keep_blank_values=True))

    @property
    def cookies(self) -> list[str]:
        raw = self.headers.get("cookie", "")
        return [c.strip() for c in raw.replace(",", ";").split(";") if c.strip()]


def _join_pairs(pairs: Any) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


@dataclass
class GatewayStats:
    """What the tests read: how often the authorizer ran (its cache at work)."""

    authorizer_invocations: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    context: dict[str, Any]


class AuthorizerCache:
    """Decisions (allow and deny) by identity-source values, for ReauthorizeEvery seconds."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], tuple[float, Decision]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Decision | None:
        with self._lock:
            expires_at, decision = self._entries.get(key, (0.0, None))
            return decision if time.monotonic() < expires_at else None

    def put(self, key: tuple[str, ...], decision: Decision, ttl_seconds: int) -> None:
        if ttl_seconds > 0:
            with self._lock:
                self._entries[key] = (time.monotonic() + ttl_seconds, decision)


class TokenBucket:
    """API Gateway's throttling: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle
        self._tokens = float(throttle.burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._throttle.burst, self._tokens + (now - self._at) * self._throttle.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class Gateway:
    """Serve the template's HTTP API on host:port (port 0 picks a free one; see `url`)."""

    def __init__(
        self, lambdas: LambdaService, host: str = "127.0.0.1", port: int = 0, api: HttpApiSpec | None = None
    ) -> None:
        self.lambdas = lambdas
        self.api = api or http_api_spec(lambdas.config)
        self.stats = GatewayStats()
        self._auth_cache = AuthorizerCache()
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()  # the buckets and the stats
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    # ------------------------------------------------------------------ request processing

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self._preflight(request) or self._respond(request)
        response.headers["apigw-requestid"] = request.request_id
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info("%s %s -> %d (%.0f ms)", request.method, request.target, response.status, elapsed_ms)
        return response

    def _preflight(self, request: HttpRequest) -> HttpResponse | None:
        """CORS preflight, answered by API Gateway itself (no route, no authorizer) when CORS is on."""
        cors = self.api.cors
        if cors is None or request.method != "OPTIONS":
            return None
        if "access-control-request-method" not in request.headers:
            return None
        if self.api.find_route("OPTIONS", request.raw_path) is not None:
            return None  # an explicit OPTIONS route wins
        return HttpResponse(204, cors.preflight_headers(request.headers.get("origin")))

    def _respond(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self._handle(request)
        except Reply as reply:
            response = reply.response
        if self.api.cors:  # on every answer, the gateway's own errors included
            response.headers.update(self.api.cors.response_headers(request.headers.get("origin")))
        return response

    def _handle(self, request: HttpRequest) -> HttpResponse:
        found = self.api.find_route(request.method, request.raw_path)
        if found is None:
            raise Reply(message_response(404, "Not Found"))
        route, path_parameters = found
        if not self._within_rate(route):
            raise Reply(message_response(429, "Too Many Requests"))
        event = _base_event(request, route, path_parameters)
        context = None
        if route.authorizer is not None:
            context = self._authorize(self.api.authorizers[route.authorizer], request, route, event)
        return self._integrate(route, _handler_event(event, request, context))

    def _within_rate(self, route: Route) -> bool:
        """DefaultRouteSettings throttling, per route, as the stage applies it."""
        if self.api.throttle is None:
            return True
        with self._lock:
            bucket = self._buckets.setdefault(route.key, TokenBucket(self.api.throttle))
        return bucket.take()

    def _authorize(
        self, authorizer: Authorizer, request: HttpRequest, route: Route, event: dict[str, Any]
    ) -> dict[str, Any]:
        identity = authorizer.identity_source(request.headers, request.query)
        if identity is None:
            raise Reply(message_response(401, "Unauthorized"))
        key = (authorizer.name, *identity)
        decision = self._auth_cache.get(key)
        if decision is None:
            decision = self._invoke_authorizer(authorizer, _authorizer_event(event, request, route, identity))
            self._auth_cache.put(key, decision, authorizer.ttl_seconds)
        if not decision.allowed:
            raise Reply(message_response(403, "Forbidden"))
        return decision.context

    def _invoke_authorizer(self, authorizer: Authorizer, event: dict[str, Any]) -> Decision:
        with self._lock:
            self.stats.authorizer_invocations += 1
        try:
            result = self.lambdas.invoke(authorizer.function, event)
            return parse_decision(result, authorizer.simple_responses)
        except (InvocationError, ValueError) as exc:
            log.error("authorizer %s failed: %s", authorizer.name, exc)
            raise Reply(message_response(*INTERNAL_ERROR)) from exc

    def _integrate(self, route: Route, event: dict[str, Any]) -> HttpResponse:
        try:
            return to_http_response(self.lambdas.invoke(route.function, event))
        except (InvocationError, ValueError, TypeError) as exc:
            # The traceback is already in the function's log; the client only learns that it failed.
            log.error("%s failed: %s", route.key, exc)
            timed_out = isinstance(exc, InvocationError) and exc.error_type == TIMEOUT_ERROR
            return message_response(*(SERVICE_UNAVAILABLE if timed_out else INTERNAL_ERROR))


# ---------------------------------------------------------------------- payload format 2.0


def _base_event(request: HttpRequest, route: Route, path_parameters: dict[str, str]) -> dict[str, Any]:
    """What the authorizer event and the integration event share."""
    headers = {name: value for name, value in request.headers.items() if name != "cookie"}
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", str(request.server_port))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": _request_context(request, route),
    }
    optional = {
        "cookies": request.cookies,
        "queryStringParameters": request.query,
        "pathParameters": path_parameters,
    }
    event.update({name: value for name, value in optional.items() if value})
    return event


def _request_context(request: HttpRequest, route: Route) -> dict[str, Any]:
    domain = request.headers.get("host", f"127.0.0.1:{request.server_port}")
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": route.key,
        "stage": STAGE,
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.received_at)),
        "timeEpoch": int(request.received_at * 1000),
    }


def _authorizer_event(base: dict[str, Any], request: HttpRequest, route: Route, identity: list[str]) -> dict[str, Any]:
    route_arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{API_ID}/{STAGE}/{request.method}{request.raw_path}"
    return {**base, "type": "REQUEST", "routeArn": route_arn, "identitySource": identity}


def _handler_event(
    base: dict[str, Any], request: HttpRequest, authorizer_context: dict[str, Any] | None
) -> dict[str, Any]:
    event = {**base, "isBase64Encoded": False}
    if authorizer_context is not None:
        event["requestContext"] = {**base["requestContext"], "authorizer": {"lambda": authorizer_context}}
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
    return event


def parse_decision(result: Any, simple_responses: bool) -> Decision:
    """A simple response `{"isAuthorized", "context"}`: the template's authorizer returns no IAM policy."""
    if not simple_responses:
        raise ValueError("only simple authorizer responses (EnableSimpleResponses) are emulated")
    if not (isinstance(result, dict) and isinstance(result.get("isAuthorized"), bool)):
        raise ValueError("simple response without a boolean isAuthorized")
    return Decision(result["isAuthorized"], result.get("context") or {})


def to_http_response(result: Any) -> HttpResponse:
    """Interpret a function's result the way payload format 2.0 does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # "Bare" results: API Gateway assumes 200 and JSON; a string is the body as is.
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, {"content-type": "application/json"}, body.encode())
    status = result["statusCode"]
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"invalid statusCode {status!r}")
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise ValueError("body must be a string")
    try:
        data = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
    except binascii.Error as exc:
        raise ValueError("isBase64Encoded body is not base64") from exc
    headers = {
        name.lower(): str(value)
        for name, value in (result.get("headers") or {}).items()
        if name.lower() not in _HOP_BY_HOP
    }
    return HttpResponse(status, headers, data, [str(cookie) for cookie in result.get("cookies") or []])


# ---------------------------------------------------------------------- HTTP server


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck keep-alive connection never blocks shutdown
    request_queue_size = 128  # bursts of parallel clients queue instead of being refused

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway
    # Headers and body go out in separate writes; with Nagle's algorithm a keep-alive client would
    # wait for a delayed ACK (~40 ms) before seeing the body.
    disable_nagle_algorithm = True
    server_version = "local-http-api"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after this
    server: _Server

    def _serve(self) -> None:
        try:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                header_pairs=list(self.headers.items()),
                body=self._read_body(),
                source_ip=self.client_address[0],
                server_port=self.server.gateway.port,
                protocol=self.request_version,
            )
            response = self.server.gateway.dispatch(request)
        except Reply as reply:
            response = reply.response
        try:
            self._write(response)
        except ConnectionError:
            self.close_connection = True  # the client left before the answer: nothing to tell it

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, which the fuzzer sends, ...) reaches routing too, and no route has
        # it: a 404 as on API Gateway, not http.server's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        length_header = self.headers.get("content-length") or "0"
        # Digits only: int() would take "-1" (and read until the client gives up) or "+1" or " 1".
        if not (length_header.isascii() and length_header.isdigit()):
            self.close_connection = True
            raise Reply(message_response(400, "Bad Request"))
        length = int(length_header)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body makes the connection unusable
            raise Reply(message_response(413, "Request Entity Too Large"))
        return self.rfile.read(length)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the gateway logs one line per request itself
