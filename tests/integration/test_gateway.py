"""The local HTTP API behaves like API Gateway HTTP API in front of Lambda.

The first part drives the real thing over HTTP (DynamoDB Local, worker processes, the template's
authorizer and handlers); the second feeds the gateway requests with a scripted function runtime to
pin down the payload format 2.0 events and responses exactly.
"""

import base64
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import jwt
import pytest

from local.config import LocalConfig
from local.gateway import Gateway, HttpRequest, HttpResponse
from local.lambdas import TIMEOUT_ERROR, InvocationError, LambdaService
from local.token import jwt_settings

pytestmark = pytest.mark.integration

TokenFor = Callable[..., str]
NOT_FOUND = {"message": "Not Found"}
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}
INTERNAL_ERROR = {"message": "Internal Server Error"}
SERVICE_UNAVAILABLE = {"message": "Service Unavailable"}


# ---------------------------------------------------------------------- over HTTP


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("PUT", "/courses"), ("GET", "/courses/a/b/c/d"), ("POST", "/enrollments/x")],
)
def test_an_unknown_route_is_404_before_any_authorization(api: Any, method: str, path: str) -> None:
    response = api.request(method, path)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_a_request_without_authorization_is_401_and_never_reaches_the_authorizer(api: Any, gateway: Gateway) -> None:
    before = gateway.stats["authorizer_invocations"]

    response = api.get("/enrollments")

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert gateway.stats["authorizer_invocations"] == before


def _foreign_token() -> str:
    claims = {"sub": "mallory", "iss": jwt_settings()["JWT_ISSUER"], "aud": jwt_settings()["JWT_AUDIENCE"]}
    return jwt.encode({**claims, "iat": 1, "exp": 4102444800}, "another-secret-of-32-bytes-length!")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda token_for: "Bearer not-a-jwt", id="garbage"),
        pytest.param(lambda token_for: f"Bearer {token_for('u-expired', ttl_seconds=-3600)}", id="expired"),
        pytest.param(lambda token_for: f"Bearer {_foreign_token()}", id="wrong-key"),
        pytest.param(lambda token_for: f"Basic {token_for('u-basic')}", id="not-bearer"),
    ],
)
def test_a_rejected_token_is_403(api: Any, token_for: TokenFor, authorization: Callable[[TokenFor], str]) -> None:
    response = api.get("/enrollments", headers={"Authorization": authorization(token_for)})

    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_a_valid_token_reaches_the_handler(api: Any, token_for: TokenFor) -> None:
    response = api.get(f"/courses/{uuid.uuid4().hex}", token=token_for("u-reader"))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_the_handler_sees_the_identity_the_authorizer_established(api: Any, token_for: TokenFor) -> None:
    response = api.post("/courses", token_for("u-teacher", "instructor"), json={"title": "Gateway 101"})

    assert response.status_code == 201, response.text
    assert "u-teacher" in response.json()["instructorIds"]


def test_a_cors_preflight_is_answered_by_the_gateway(api: Any, gateway: Gateway) -> None:
    before = gateway.stats["authorizer_invocations"]
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "PATCH"}

    response = api.request("OPTIONS", "/enrollments/some-id", headers=preflight)

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "PATCH" in response.headers["access-control-allow-methods"].split(",")
    assert "idempotency-key" in response.headers["access-control-allow-headers"].split(",")
    assert response.headers["access-control-max-age"] == "600"
    assert gateway.stats["authorizer_invocations"] == before


def test_responses_carry_cors_headers_for_an_allowed_origin(api: Any) -> None:
    response = api.get("/enrollments", headers={"Origin": "https://app.example"})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"
    assert set(response.headers["access-control-expose-headers"].split(",")) == {"ETag", "Location"}


def test_parallel_requests_all_succeed(api: Any, token_for: TokenFor, lambdas: LambdaService) -> None:
    tokens = [token_for(f"u-parallel-{n}") for n in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda token: api.get("/progress", token=token), tokens))

    assert [r.status_code for r in responses] == [200] * 12
    assert [r.json()["items"] for r in responses] == [[]] * 12
    assert lambdas.pool("ListProgressFunction").size <= lambdas.config.max_workers_per_function


def test_a_stalled_client_does_not_block_other_requests(api: Any, gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as stalled:
        stalled.sendall(b"GET /nope HTTP/1.1\r\nHost: local\r\n")  # headers never finished

        response = api.get("/nope", timeout=5)

    assert response.status_code == 404


@pytest.mark.parametrize("length", ["-1", "+5", "five"])
def test_a_content_length_that_is_not_a_number_of_bytes_is_a_400_at_once(gateway: Gateway, length: str) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as client:
        client.settimeout(30)  # a guard against a hang, not a measure: the answer needs no body
        client.sendall(f"POST /courses HTTP/1.1\r\nHost: local\r\nContent-Length: {length}\r\n\r\n".encode())
        answer = client.makefile("rb").read()  # the gateway answers and closes

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b'{"message":"Bad Request"}')


def test_authorizer_decisions_are_cached_per_token(api: Any, token_for: TokenFor, gateway: Gateway) -> None:
    good, bad = token_for("u-cached"), f"not-a-jwt-{uuid.uuid4().hex}"
    before = gateway.stats["authorizer_invocations"]

    allowed = [api.get("/enrollments", token=good).status_code for _ in range(3)]
    denied = [api.get("/enrollments", token=bad).status_code for _ in range(3)]

    assert (allowed, denied) == ([200] * 3, [403] * 3)
    assert gateway.stats["authorizer_invocations"] == before + 2


# ---------------------------------------------------------------------- payload format 2.0, scripted


class ScriptedLambdas:
    """Stands in for LambdaService: records events and answers from a script per function."""

    def __init__(self) -> None:
        self.config = LocalConfig(ddb_endpoint="http://127.0.0.1:9")
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.results: dict[str, Any] = {
            "AuthorizerFunction": {"isAuthorized": True, "context": {"userId": "u1", "roles": "admin"}},
        }

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.events.setdefault(logical_id, []).append(event)
        result = self.results.get(logical_id, {"statusCode": 200, "body": ""})
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture
def scripted() -> ScriptedLambdas:
    return ScriptedLambdas()


@pytest.fixture
def scripted_gateway(scripted: ScriptedLambdas) -> Iterator[Gateway]:
    gateway = Gateway(cast(LambdaService, scripted))  # bound, never started: dispatch() is called directly
    yield gateway
    gateway.stop()


def _request(method: str, target: str, body: bytes = b"", **headers: str) -> HttpRequest:
    pairs = [("Authorization", "Bearer t"), *((k.replace("_", "-"), v) for k, v in headers.items())]
    return HttpRequest(method, target, pairs, body, source_ip="10.0.0.7", server_port=3000)


def test_the_handler_event_is_payload_format_2(scripted: ScriptedLambdas, scripted_gateway: Gateway) -> None:
    request = _request("GET", "/courses/a%20b?x=1&x=2&empty=", X_Multi="a")
    request.header_pairs.append(("x-multi", "b"))

    scripted_gateway.dispatch(request)

    event = scripted.events["GetCourseFunction"][0]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /courses/{courseId}"
    assert (event["rawPath"], event["rawQueryString"]) == ("/courses/a%20b", "x=1&x=2&empty=")
    assert event["pathParameters"] == {"courseId": "a b"}
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["headers"]["x-multi"] == "a,b"
    assert event["headers"]["authorization"] == "Bearer t"
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["authorizer"] == {"lambda": {"userId": "u1", "roles": "admin"}}
    assert (context["stage"], context["routeKey"]) == ("$default", "GET /courses/{courseId}")
    assert context["http"] == {
        "method": "GET",
        "path": "/courses/a%20b",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.0.0.7",
        "userAgent": "",
    }
    assert isinstance(context["timeEpoch"], int)
    assert context["requestId"] == request.request_id


def test_the_authorizer_event_is_a_version_2_request(scripted: ScriptedLambdas, scripted_gateway: Gateway) -> None:
    scripted_gateway.dispatch(_request("DELETE", "/courses/c1/lessons/l1"))

    event = scripted.events["AuthorizerFunction"][0]
    assert (event["version"], event["type"]) == ("2.0", "REQUEST")
    assert event["identitySource"] == ["Bearer t"]
    assert event["routeKey"] == "DELETE /courses/{courseId}/lessons/{lessonId}"
    assert event["routeArn"].endswith("/$default/DELETE/courses/c1/lessons/l1")
    assert "authorizer" not in event["requestContext"]


def test_a_body_that_is_not_utf8_arrives_base64_encoded(scripted: ScriptedLambdas, scripted_gateway: Gateway) -> None:
    scripted_gateway.dispatch(_request("POST", "/courses", body=b"\xff\x00binary"))
    scripted_gateway.dispatch(_request("POST", "/courses", body='{"title": "é"}'.encode()))

    binary, text = scripted.events["CreateCourseFunction"]
    assert (binary["isBase64Encoded"], base64.b64decode(binary["body"])) == (True, b"\xff\x00binary")
    assert (text["isBase64Encoded"], text["body"]) == (False, '{"title": "é"}')


@pytest.mark.parametrize(
    ("result", "status", "body", "headers"),
    [
        (
            {"statusCode": 201, "headers": {"Location": "/x", "Content-Length": "999"}, "body": "{}"},
            201,
            b"{}",
            {"location": "/x"},
        ),
        ({"statusCode": 204}, 204, b"", {}),
    ],
)
def test_function_results_become_http_responses(
    scripted: ScriptedLambdas,
    scripted_gateway: Gateway,
    result: Any,
    status: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    scripted.results["GetCourseFunction"] = result

    response = scripted_gateway.dispatch(_request("GET", "/courses/c1"))

    assert (response.status, response.body) == (status, body)
    assert headers.items() <= response.headers.items()
    assert "content-length" not in response.headers  # framing is the server's job


@pytest.mark.parametrize(
    "failure",
    [
        InvocationError("GetCourseFunction", "ValueError", "secret detail from a traceback"),
        {"statusCode": "two hundred"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"items": []},
    ],
    ids=["exception", "bad-status", "bad-body", "no-status"],
)
def test_a_failing_or_malformed_function_is_a_bare_500(
    scripted: ScriptedLambdas, scripted_gateway: Gateway, failure: Any
) -> None:
    scripted.results["GetCourseFunction"] = failure

    response = scripted_gateway.dispatch(_request("GET", "/courses/c1"))

    assert (response.status, json.loads(response.body)) == (500, INTERNAL_ERROR)


def test_a_function_out_of_its_timeout_is_a_503(scripted: ScriptedLambdas, scripted_gateway: Gateway) -> None:
    scripted.results["GetCourseFunction"] = InvocationError("GetCourseFunction", TIMEOUT_ERROR, "timed out")

    response = scripted_gateway.dispatch(_request("GET", "/courses/c1"))

    assert (response.status, json.loads(response.body)) == (503, SERVICE_UNAVAILABLE)


@pytest.mark.parametrize(
    "answer",
    [InvocationError("AuthorizerFunction", "Runtime.ExitError", "crash"), {"isAuthorized": "yes"}, None],
    ids=["crash", "not-a-boolean", "null"],
)
def test_a_failing_authorizer_is_a_500(scripted: ScriptedLambdas, scripted_gateway: Gateway, answer: Any) -> None:
    scripted.results["AuthorizerFunction"] = answer

    response: HttpResponse = scripted_gateway.dispatch(_request("GET", "/courses/c1"))

    assert (response.status, json.loads(response.body)) == (500, INTERNAL_ERROR)
    assert "GetCourseFunction" not in scripted.events
