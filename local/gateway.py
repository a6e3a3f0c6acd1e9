"""An API Gateway HTTP API, locally: routes, Lambda authorizer, CORS, throttling and payload format
2.0, all read from template.yaml (local.httpapi), in front of the functions run by `local.lambdas`.

Paths are served at the root: the local API is the `$default` stage (no /dev prefix). SAM CLI's own
`sam local start-api` service (samcli.local.apigw) is not used: it has no throttling, no authorizer
cache, no 413, answers a preflight 200 and a function failure 502, and runs in the SAM venv (Flask).
"""

import base64
import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from local.httpapi import Authorizer, HttpApiSpec, Route, http_api_spec
from local.lambdas import TIMEOUT_ERROR, InvocationError, LambdaService
from local.ports import LocalServer
from tools.template import ACCOUNT_ID

log = logging.getLogger("local.gateway")

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


class Reply(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Stop processing and answer with API Gateway's own `{"message": "..."}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        body = json.dumps({"message": message}, separators=(",", ":")).encode()
        self.response = HttpResponse(status, {"content-type": "application/json"}, body)


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
    raw_path: str = field(init=False)
    raw_query: str = field(init=False)

    def __post_init__(self) -> None:
        self.raw_path, _, self.raw_query = self.target.partition("?")

    @cached_property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined by commas, as payload 2.0 does."""
        return _join_pairs((name.lower(), value) for name, value in self.header_pairs)


def _join_pairs(pairs: Any) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


class Gateway:
    """Serve the template's HTTP API on host:port (port 0 picks a free one; see `url`)."""

    def __init__(
        self, lambdas: LambdaService, host: str = "127.0.0.1", port: int = 0, api: HttpApiSpec | None = None
    ) -> None:
        self.lambdas = lambdas
        self.api = api or http_api_spec(lambdas.config)
        self.stats: Counter[str] = Counter()  # "authorizer_invocations": its cache at work
        # Authorizer decisions (allow and deny) by identity-source values, until they expire.
        self._decisions: dict[tuple[str, ...], tuple[float, bool, dict[str, Any]]] = {}
        # Throttling per route, as the stage applies DefaultRouteSettings: a token bucket (tokens, at).
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()  # the decisions, the buckets and the stats
        self._server = LocalServer(host, port, _RequestHandler, self)
        self.url, self.port = self._server.url, int(self._server.server_address[1])
        self.start, self.stop = self._server.start, self._server.stop

    # ------------------------------------------------------------------ request processing

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        origin = request.headers.get("origin")
        cors = self.api.cors
        if cors and request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            # A CORS preflight: answered by API Gateway itself, no route, no authorizer.
            response = HttpResponse(204, cors.preflight_headers(origin))
        else:
            try:
                response = self._handle(request)
            except Reply as reply:
                response = reply.response
            response.headers.update(cors.response_headers(origin) if cors else {})  # the gateway's errors too
        response.headers["apigw-requestid"] = request.request_id
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info("%s %s -> %d (%.0f ms)", request.method, request.target, response.status, elapsed_ms)
        return response

    def _handle(self, request: HttpRequest) -> HttpResponse:
        for route in self.api.routes:  # the most specific first
            if (path_parameters := route.match(request.method, request.raw_path)) is not None:
                break
        else:
            raise Reply(404, "Not Found")
        if (throttle := self.api.throttle) is not None:
            with self._lock:
                tokens, at = self._buckets.get(route.key, (float(throttle.burst), time.monotonic()))
                tokens = min(throttle.burst, tokens + (time.monotonic() - at) * throttle.rate)
                self._buckets[route.key] = (tokens - (tokens >= 1), time.monotonic())
            if tokens < 1:
                raise Reply(429, "Too Many Requests")
        event = _base_event(request, route, path_parameters)
        if route.authorizer is not None:
            context = self._authorize(self.api.authorizers[route.authorizer], request, event)
            event["requestContext"] = {**event["requestContext"], "authorizer": {"lambda": context}}
        return self._integrate(route, _with_body(event, request.body))

    def _authorize(self, authorizer: Authorizer, request: HttpRequest, event: dict[str, Any]) -> dict[str, Any]:
        identity = authorizer.identity_source(request.headers)
        if identity is None:
            raise Reply(401, "Unauthorized")
        key = (authorizer.name, *identity)
        with self._lock:
            expires_at, allowed, context = self._decisions.get(key, (0.0, False, {}))
        if time.monotonic() >= expires_at:
            allowed, context = self._invoke_authorizer(authorizer, _authorizer_event(event, request, identity))
            with self._lock:
                self._decisions[key] = (time.monotonic() + authorizer.ttl_seconds, allowed, context)
        if not allowed:
            raise Reply(403, "Forbidden")
        return context

    def _invoke_authorizer(self, authorizer: Authorizer, event: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """A simple response `{"isAuthorized", "context"}` (the template enables simple responses)."""
        with self._lock:
            self.stats["authorizer_invocations"] += 1
        try:
            result = self.lambdas.invoke(authorizer.function, event)
        except InvocationError as exc:
            result = exc
        if not (isinstance(result, dict) and isinstance(result.get("isAuthorized"), bool)):
            log.error("authorizer %s failed or answered without a boolean isAuthorized: %s", authorizer.name, result)
            raise Reply(500, "Internal Server Error")
        return result["isAuthorized"], result.get("context") or {}

    def _integrate(self, route: Route, event: dict[str, Any]) -> HttpResponse:
        try:
            return to_http_response(self.lambdas.invoke(route.function, event))
        except (InvocationError, ValueError) as exc:
            # The traceback is already in the function's log; the client only learns that it failed.
            log.error("%s failed: %s", route.key, exc)
            if isinstance(exc, InvocationError) and exc.error_type == TIMEOUT_ERROR:
                raise Reply(503, "Service Unavailable") from exc  # what HTTP API answers for it
            raise Reply(500, "Internal Server Error") from exc


# ---------------------------------------------------------------------- payload format 2.0


def _base_event(request: HttpRequest, route: Route, path_parameters: dict[str, str]) -> dict[str, Any]:
    """What the authorizer event and the integration event share."""
    headers = dict(request.headers)
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", str(request.server_port))
    domain = request.headers.get("host", f"127.0.0.1:{request.server_port}")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
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
        },
    }
    query = _join_pairs(parse_qsl(request.raw_query, keep_blank_values=True))
    optional = {"queryStringParameters": query, "pathParameters": path_parameters}
    event.update({name: value for name, value in optional.items() if value})
    return event


def _authorizer_event(base: dict[str, Any], request: HttpRequest, identity: list[str]) -> dict[str, Any]:
    route_arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{API_ID}/{STAGE}/{request.method}{request.raw_path}"
    return {**base, "type": "REQUEST", "routeArn": route_arn, "identitySource": identity}


def _with_body(event: dict[str, Any], body: bytes) -> dict[str, Any]:
    event = {**event, "isBase64Encoded": False}
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def to_http_response(result: Any) -> HttpResponse:
    """Interpret a function's result the way payload format 2.0 does (the handlers return a
    statusCode, a string body and headers; nothing else is emulated)."""
    status = result.get("statusCode") if isinstance(result, dict) else None
    body = result.get("body") or "" if isinstance(result, dict) else None
    if not (isinstance(status, int) and 100 <= status <= 599 and isinstance(body, str)):
        raise ValueError(f"not a payload 2.0 response with a statusCode and a string body: {result!r}")
    headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    return HttpResponse(status, {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}, body.encode())


# ---------------------------------------------------------------------- HTTP server


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway
    # Headers and body go out in separate writes; with Nagle's algorithm a keep-alive client would
    # wait for a delayed ACK (~40 ms) before seeing the body.
    disable_nagle_algorithm = True
    server_version = "local-http-api"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after this
    server: LocalServer

    def _serve(self) -> None:
        try:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                header_pairs=list(self.headers.items()),
                body=self._read_body(),
                source_ip=self.client_address[0],
                server_port=self.server.owner.port,
                protocol=self.request_version,
            )
            response = self.server.owner.dispatch(request)
        except Reply as reply:
            response = reply.response
        try:
            self._write(response)
        except ConnectionError:
            self.close_connection = True  # the client left before the answer: nothing to tell it

    def __getattr__(self, name: str) -> Any:
        # Every method (TRACE, which the fuzzer sends, ...) reaches routing, and no route has most of
        # them: a 404 as on API Gateway, not http.server's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        length = self.headers.get("content-length") or "0"
        # Digits only: int() would take "-1" (and read until the client gives up) or "+1" or " 1".
        if not (length.isascii() and length.isdigit()):
            self.close_connection = True
            raise Reply(400, "Bad Request")
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body makes the connection unusable
            raise Reply(413, "Request Entity Too Large")
        return self.rfile.read(int(length))

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the gateway logs one line per request itself
