"""The HTTP API as template.yaml declares it: routes, the Lambda authorizer, CORS and throttling.

Only what the template uses is read (a template using more fails here, at start): routes of one
method with `{param}` segments, a REQUEST authorizer of payload format 2.0 with simple responses and
header identity sources, `!Ref <Function>.Alias` as its function.
"""

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from local.config import LocalConfig

_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the template, e.g. /courses/{courseId}
    function: str  # logical id of the integration
    authorizer: str | None  # None: open route (Auth.Authorizer NONE, or no authorizer at all)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        segments = (_PARAMETER.fullmatch(segment) or segment for segment in self.path.split("/"))
        return re.compile("/".join(re.escape(s) if isinstance(s, str) else f"(?P<{s[1]}>[^/]+)" for s in segments))

    def specificity(self) -> tuple[bool, ...]:
        """Sort key: a literal segment beats a {param}, left to right, as API Gateway picks routes."""
        return tuple(bool(_PARAMETER.fullmatch(segment)) for segment in self.path.split("/"))

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """The URL-decoded path parameters if the request hits this route, else None."""
        found = self._pattern.fullmatch(raw_path) if method == self.method else None
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}


@dataclass(frozen=True)
class Authorizer:
    name: str
    function: str
    identity_headers: tuple[str, ...]
    ttl_seconds: int

    def identity_source(self, headers: dict[str, str]) -> list[str] | None:
        """The identity values, or None when one is missing (API Gateway then answers 401)."""
        values = [headers.get(name.lower(), "") for name in self.identity_headers]
        return values if all(values) else None


@dataclass(frozen=True)
class Cors:
    """The API's CorsConfiguration (SAM's processor resolves a CommaDelimitedList parameter to a list)."""

    settings: dict[str, Any]

    def _list(self, key: str) -> list[str]:
        return [str(item) for item in self.settings.get(key) or ()]

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers API Gateway adds to every response for a request from an allowed origin."""
        origins = self._list("AllowOrigins")
        if not origin or not ({"*", origin} & set(origins)):
            return {}
        headers = {"access-control-allow-origin": "*" if "*" in origins else origin}
        if expose := self._list("ExposeHeaders"):
            headers["access-control-expose-headers"] = ",".join(expose)
        return headers

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        headers = self.response_headers(origin)
        if not headers:
            return {}
        headers.pop("access-control-expose-headers", None)
        headers["access-control-allow-methods"] = ",".join(self._list("AllowMethods"))
        headers["access-control-allow-headers"] = ",".join(h.lower() for h in self._list("AllowHeaders"))
        if "MaxAge" in self.settings:
            headers["access-control-max-age"] = str(int(self.settings["MaxAge"]))
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
    cors, throttle = api.get("CorsConfiguration"), api.get("DefaultRouteSettings", {})
    return HttpApiSpec(
        routes=tuple(sorted(routes, key=Route.specificity)),
        authorizers={name: _authorizer(name, spec) for name, spec in auth.get("Authorizers", {}).items()},
        cors=Cors(cors) if cors else None,
        # API Gateway's account-level defaults stand in for a limit not given.
        throttle=Throttle(
            float(throttle.get("ThrottlingRateLimit", 10000)), int(throttle.get("ThrottlingBurstLimit", 5000))
        )
        if {"ThrottlingRateLimit", "ThrottlingBurstLimit"} & throttle.keys()
        else None,
    )


def _route(function: str, props: dict[str, Any], default_authorizer: str | None) -> Route:
    authorizer = props.get("Auth", {}).get("Authorizer", default_authorizer)
    method, path = str(props["Method"]).upper(), str(props["Path"])
    if method == "ANY" or "+}" in path:
        raise ValueError(f"{function}: ANY routes and greedy path parameters are not emulated")
    return Route(method, path, function, None if authorizer in (None, "NONE") else authorizer)


def _authorizer(name: str, spec: dict[str, Any]) -> Authorizer:
    identity = spec.get("Identity", {})
    function = str(spec["FunctionArn"])
    # SAM's resolver leaves `!Ref <Function>.Alias` as its text: locally a function has no versions.
    if (
        str(spec.get("AuthorizerPayloadFormatVersion")) != "2.0"
        or not spec.get("EnableSimpleResponses")
        or set(identity) - {"Headers", "ReauthorizeEvery"}
        or not function.endswith(".Alias")
    ):
        raise ValueError(f"authorizer {name}: only what the template uses is emulated (see local/httpapi.py)")
    return Authorizer(
        name,
        function.removesuffix(".Alias"),
        tuple(identity.get("Headers", [])),
        int(identity.get("ReauthorizeEvery", 300)),
    )
