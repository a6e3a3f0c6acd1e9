"""The HTTP API as template.yaml declares it: routes, the Lambda authorizer and CORS."""

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from local.config import LocalConfig

_PARAMETER = re.compile(r"\{(\w+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    method: str  # an HTTP method or ANY
    path: str  # as in the template, e.g. /courses/{courseId}
    function: str  # logical id of the integration
    authorizer: str | None  # None: open route (Auth.Authorizer NONE, or no authorizer at all)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return _compile(self.path)

    @property
    def _segments(self) -> list[str]:
        return self.path.strip("/").split("/")

    def specificity(self) -> tuple[tuple[int, ...], int]:
        """Sort key: literal segments beat {param}, which beats {greedy+}, left to right (as API
        Gateway picks the most specific route); an exact method beats ANY."""
        ranks = tuple(_segment_rank(segment) for segment in self._segments)
        return ranks, int(self.method == "ANY")

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """The URL-decoded path parameters if the request hits this route, else None."""
        if self.method not in ("ANY", method):
            return None
        found = self._pattern.fullmatch(raw_path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def _segment_rank(segment: str) -> int:
    parameter = _PARAMETER.fullmatch(segment)
    if parameter is None:
        return 0
    return 2 if parameter.group(2) else 1


def _compile(path: str) -> re.Pattern[str]:
    def pattern(segment: str) -> str:
        parameter = _PARAMETER.fullmatch(segment)
        if parameter is None:
            return re.escape(segment)
        name, greedy = parameter.groups()
        return f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"

    return re.compile("/" + "/".join(pattern(s) for s in path.strip("/").split("/")))


@dataclass(frozen=True)
class Authorizer:
    """A Lambda REQUEST authorizer, payload format 2.0."""

    name: str
    function: str
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    ttl_seconds: int
    simple_responses: bool

    def identity_source(self, headers: dict[str, str], query: dict[str, str]) -> list[str] | None:
        """The identity values, or None when one is missing (API Gateway then answers 401)."""
        values = [headers.get(name.lower(), "") for name in self.identity_headers]
        values += [query.get(name, "") for name in self.identity_query_strings]
        return values if all(values) else None


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...]
    allow_headers: tuple[str, ...]
    allow_methods: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool

    def allowed_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers API Gateway adds to every response for a request from an allowed origin."""
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"access-control-allow-origin": allowed}
        if self.expose_headers:
            headers["access-control-expose-headers"] = ",".join(self.expose_headers)
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        return headers

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        headers = self.response_headers(origin)
        if not headers:
            return {}
        headers.pop("access-control-expose-headers", None)
        headers["access-control-allow-methods"] = ",".join(self.allow_methods)
        headers["access-control-allow-headers"] = ",".join(h.lower() for h in self.allow_headers)
        if self.max_age is not None:
            headers["access-control-max-age"] = str(self.max_age)
        return headers


@dataclass(frozen=True)
class Throttle:
    """DefaultRouteSettings throttling: a token bucket per route, refilled at `rate` per second."""

    rate: float
    burst: int


@dataclass(frozen=True)
class HttpApiSpec:
    routes: tuple[Route, ...]  # most specific first
    authorizers: dict[str, Authorizer]
    cors: Cors | None
    throttle: Throttle | None = None

    def find_route(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, raw_path)
            if parameters is not None:
                return route, parameters
        return None


def http_api_spec(config: LocalConfig) -> HttpApiSpec:
    """Routes of every function's HttpApi events, with the API's authorizers and CORS settings."""
    events = [
        (logical_id, event["Properties"])
        for logical_id, spec in config.functions.items()
        for event in spec.events.values()
        if event.get("Type") == "HttpApi"
    ]
    api_ids = {str(props.get("ApiId", "ServerlessHttpApi")) for _, props in events}
    if len(api_ids) > 1:
        raise ValueError(f"the local gateway serves one HttpApi, the template routes to {sorted(api_ids)}")
    api = config.stack.serverless.get(next(iter(api_ids), ""), {}).get("Properties", {})
    auth = api.get("Auth", {})
    routes = [_route(logical_id, props, auth.get("DefaultAuthorizer")) for logical_id, props in events]
    functions = {spec.name: logical_id for logical_id, spec in config.functions.items()}
    return HttpApiSpec(
        routes=tuple(sorted(routes, key=Route.specificity)),
        authorizers={name: _authorizer(name, spec, functions) for name, spec in auth.get("Authorizers", {}).items()},
        cors=_cors(api["CorsConfiguration"]) if api.get("CorsConfiguration") else None,
        throttle=_throttle(api.get("DefaultRouteSettings", {})),
    )


def _throttle(settings: dict[str, Any]) -> Throttle | None:
    if "ThrottlingRateLimit" not in settings and "ThrottlingBurstLimit" not in settings:
        return None
    # API Gateway's account-level defaults stand in for the one not given.
    return Throttle(float(settings.get("ThrottlingRateLimit", 10000)), int(settings.get("ThrottlingBurstLimit", 5000)))


def _route(function: str, props: dict[str, Any], default_authorizer: str | None) -> Route:
    authorizer = props.get("Auth", {}).get("Authorizer", default_authorizer)
    return Route(
        method=str(props["Method"]).upper(),
        path=props["Path"],
        function=function,
        authorizer=None if authorizer in (None, "NONE") else authorizer,
    )


def _authorizer(name: str, spec: dict[str, Any], functions: dict[str, str]) -> Authorizer:
    if str(spec.get("AuthorizerPayloadFormatVersion")) != "2.0":
        raise ValueError(f"authorizer {name}: only payload format 2.0 is emulated")
    identity = spec.get("Identity", {})
    return Authorizer(
        name=name,
        function=_authorizer_function(name, spec["FunctionArn"], functions),
        identity_headers=tuple(identity.get("Headers", [])),
        identity_query_strings=tuple(identity.get("QueryStrings", [])),
        ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
        simple_responses=bool(spec.get("EnableSimpleResponses", False)),
    )


def _authorizer_function(name: str, function_arn: str, functions: dict[str, str]) -> str:
    """The logical id behind `!GetAtt <Function>.Arn` (resolved to the function's ARN) or
    `!Ref <Function>.Alias` (its AutoPublishAlias, which SAM's resolver leaves as the reference's
    text): locally a function has no versions."""
    if function_arn.endswith(".Alias"):
        return function_arn.removesuffix(".Alias")
    if function_arn.rsplit(":function:", 1)[-1] in functions:
        return functions[function_arn.rsplit(":function:", 1)[-1]]
    raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn or !Ref <Function>.Alias locally")


def _cors(spec: dict[str, Any]) -> Cors:
    return Cors(
        allow_origins=_as_list(spec.get("AllowOrigins")),
        allow_headers=_as_list(spec.get("AllowHeaders")),
        allow_methods=_as_list(spec.get("AllowMethods")),
        expose_headers=_as_list(spec.get("ExposeHeaders")),
        max_age=int(spec["MaxAge"]) if "MaxAge" in spec else None,
        allow_credentials=bool(spec.get("AllowCredentials", False)),
    )


def _as_list(value: Any) -> tuple[str, ...]:
    # SAM's processor resolves a CommaDelimitedList parameter to a list, as CloudFormation does.
    return tuple(str(item) for item in value or ())
