"""HTTP plumbing shared by every handler: the resolver, the caller's identity, and the one place
where domain errors become RFC 9457 problem responses. Over 300 lines because every answer a client
can get before or beside a service's (guards, validation, problems, paging) is decided here, once."""

import base64
import binascii
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as AwsConnectionError

from lms.cursors import MAX_CURSOR_LENGTH, CursorCodec
from lms.errors import (
    AccessEndedError,
    BadRequestError,
    ConcurrencyError,
    ConflictError,
    DomainError,
    EnrollmentClosedError,
    ErasureInProgressError,
    ForbiddenError,
    NotFoundError,
    SeatsBeingCountedError,
    UnprocessableError,
)
from lms.identity import Identity
from lms.models.common import ID_PATTERN, MAX_USER_ID_LENGTH, ListResponse
from lms.observability import logger, metrics, tracer
from lms.pagination import Page, PageRequest

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://lms-api.dev/problems/"
MAX_BODY_BYTES = 64 * 1024
# Our deepest body (a course outline) nests 4 levels; json.loads would recurse into a 500 long
# before a 64 KiB body runs out of brackets.
MAX_JSON_DEPTH = 32
# Error codes of an AWS service that is busy rather than refusing the request itself.
AWS_BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
    }
)
RETRY_AFTER_SECONDS = 2  # when an AWS service could not be reached (after the client's own retries)

_ID = re.compile(ID_PATTERN)

# A resource id in the path. Ids outside the pattern are answered 404 before routing (see resolve).
ResourceId = Annotated[str, Path(pattern=ID_PATTERN)]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# Query parameters every list route takes; LmsResolver.paginate reads them.
PageLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-100)")]
# A cursor's length is checked with its signature, so that every bad cursor is the same 400.
PageCursor = Annotated[
    str | None,
    Query(description=f"The previous page's nextCursor (at most {MAX_CURSOR_LENGTH} characters; a bad one is 400)"),
]
_PAGE_PARAMETERS = frozenset({"limit", "cursor"})


def user_id_query(description: str) -> Any:
    """A `userId` query parameter: a user's id, any string a token's `sub` may be."""
    return Query(min_length=1, max_length=MAX_USER_ID_LENGTH, description=description)


def course_id_query(description: str) -> Any:
    """A `courseId` query parameter: an id we generated, so it has their pattern (else 422)."""
    return Query(pattern=ID_PATTERN, description=description)


def created_response(description: str, location: str, model: type[Any] | None = None) -> OpenAPIResponse:
    """A create route's 201 in OpenAPI: the new resource (`model`, else the route's return type) and
    its path in `Location` (LmsResolver.created), described by its template (`/courses/{courseId}`)."""
    response: OpenAPIResponse = {
        "description": description,
        "headers": {
            "Location": {
                "description": f"The new resource's path, {location} (through a named stage, after it: /dev{location})",
                "schema": {"type": "string"},
            }
        },
    }
    if model is not None:
        response["content"] = {"application/json": {"model": model}}
    return response


@dataclass(frozen=True, slots=True)
class ProblemType:
    status: HTTPStatus
    name: str | None = None  # the `type` URI's last segment; None: the status phrase's


# The single mapping from domain error kinds to problems; the most specific class wins.
PROBLEM_BY_ERROR: dict[type[DomainError], ProblemType] = {
    BadRequestError: ProblemType(HTTPStatus.BAD_REQUEST),
    ForbiddenError: ProblemType(HTTPStatus.FORBIDDEN),
    EnrollmentClosedError: ProblemType(HTTPStatus.FORBIDDEN, "enrollment-closed"),
    AccessEndedError: ProblemType(HTTPStatus.FORBIDDEN, "access-ended"),
    NotFoundError: ProblemType(HTTPStatus.NOT_FOUND),
    ConflictError: ProblemType(HTTPStatus.CONFLICT),
    SeatsBeingCountedError: ProblemType(HTTPStatus.CONFLICT, "seats-being-counted"),
    ErasureInProgressError: ProblemType(HTTPStatus.CONFLICT, "erasure-in-progress"),
    ConcurrencyError: ProblemType(HTTPStatus.SERVICE_UNAVAILABLE),
    UnprocessableError: ProblemType(HTTPStatus.UNPROCESSABLE_ENTITY),
}


def _slug(status: HTTPStatus) -> str:
    return status.phrase.lower().replace(" ", "-")


def problem_body(status: HTTPStatus, detail: str, type_name: str | None = None, **extensions: Any) -> dict[str, Any]:
    return {
        "type": f"{PROBLEM_BASE}{type_name or _slug(status)}",
        "title": status.phrase,
        "status": status.value,
        "detail": detail,
        **extensions,
    }


def problem(status: HTTPStatus, detail: str, type_name: str | None = None, **extensions: Any) -> Response[str]:
    return Response(
        status_code=status.value,
        content_type=PROBLEM_JSON,
        body=json.dumps(problem_body(status, detail, type_name, **extensions)),
    )


def problem_for(error: DomainError) -> ProblemType:
    for kind in type(error).__mro__:
        if kind in PROBLEM_BY_ERROR:
            return PROBLEM_BY_ERROR[kind]
    return ProblemType(HTTPStatus.BAD_REQUEST)


def problem_details(error: DomainError) -> dict[str, Any]:
    """The problem a domain error is answered with, as a body (also inside another answer: a refused
    learner of a roster)."""
    kind = problem_for(error)
    return problem_body(kind.status, error.detail, kind.name, **error.extensions)


def _validation_entry(error: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc", ())]
    location = loc[0] if loc else "body"
    return {
        "location": location,
        "field": ".".join(loc[1:]),
        "loc": loc,
        "type": error.get("type", "invalid"),
        "message": error.get("msg", "Invalid value"),
    }


def _is_unknown_filter_value(error: dict[str, Any]) -> bool:
    """A query filter typed as an enum (`status`) given a value outside it."""
    return error.get("type") == "enum" and tuple(error.get("loc", ()))[:1] == ("query",)


def _unknown_filter_value(error: dict[str, Any]) -> str:
    # pydantic lists the members as "'A', 'B' or 'C'".
    allowed = ", ".join(re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", ""))))
    return f"Unknown {error['loc'][-1]} '{error.get('input')}'; expected one of {allowed}."


class LmsResolver(APIGatewayHttpResolver):
    """An HTTP API resolver with request validation, OpenAPI, and problem+json errors."""

    def __init__(self) -> None:
        # The OpenAPI document (title, security) is assembled for the whole API by tools/openapi.py.
        super().__init__(enable_validation=True, json_body_deserializer=_json_body)
        self.exception_handler(DomainError)(self._domain_error)
        self.exception_handler(RequestValidationError)(self._validation_error)
        self.exception_handler(RequestUnsupportedContentType)(self._unsupported_content_type)
        # A body that is not UTF-8 fails before it can fail to be JSON.
        self.exception_handler(UnicodeDecodeError)(self._undecodable_body)
        self.exception_handler(PermissionError)(self._no_identity)
        # DynamoDB (or another AWS service) out of reach after the client's bounded retries.
        self.exception_handler([AwsConnectionError, HTTPClientError])(self._service_unreachable)
        self.exception_handler(ClientError)(self._service_refused)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        # Checked before routing, because request validation would otherwise answer first.
        body = _decoded_body(event)
        if body is None:
            return _raw_problem(HTTPStatus.BAD_REQUEST, "The request body is not valid base64.")
        if len(body) > MAX_BODY_BYTES:
            return _raw_problem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body exceeds {MAX_BODY_BYTES} bytes.")
        if not _is_json(event):
            return _raw_problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
        event = _with_lower_case_media_type(event)
        if _nests_deeper_than(body, MAX_JSON_DEPTH):
            return _raw_problem(HTTPStatus.BAD_REQUEST, f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
        # An id no resource can have names nothing: 404, as for any unknown id.
        if not all(_ID.fullmatch(value) for value in (event.get("pathParameters") or {}).values()):
            return _raw_problem(HTTPStatus.NOT_FOUND, "No resource has this id.")
        return super().resolve(event, context)

    def lambda_handler(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """The function's entry point: correlation id and Lambda context in the logs, X-Ray, EMF
        metrics flushed after every invocation, then routing."""

        @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
        @tracer.capture_lambda_handler
        @metrics.log_metrics
        def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self.resolve(event, context)

        return lambda_handler

    def paginate[T](self, cursors: CursorCodec, fetch: Callable[[PageRequest], Page[T]]) -> ListResponse[T]:
        """One page of the list route being served. The route declares `limit`, `cursor` and its
        filters as parameters (validated before this runs); the cursor is bound to the route, the
        caller and every filter, so it only ever continues the query that issued it."""
        # Powertools keeps the matched route and, once request validation has run, the validated
        # arguments the handler is called with in its per-request context.
        route = self.context["_route"]
        arguments: dict[str, Any] = self.context["_route_args"]
        fingerprint = cursors.fingerprint(
            route.func.__name__, self.identity.user_id, *_fingerprinted(_filters(route.func), arguments)
        )
        page = fetch(cursors.page_request(arguments["limit"], arguments["cursor"], fingerprint))
        return ListResponse[T](items=page.items, next_cursor=cursors.encode(page.last_key, fingerprint))

    def created[T](self, resource: T, path: str) -> Response[T]:
        """201 Created with `Location`: the new resource's path (`/courses/{id}`), after the stage
        when the API is called through a named one (`/dev/courses/{id}`), as the client addressed it."""
        stage = self.current_event.request_context.stage
        prefix = "" if stage == "$default" else f"/{stage}"
        return Response(
            status_code=HTTPStatus.CREATED.value,
            content_type="application/json",
            body=resource,
            headers={"Location": prefix + path},
        )

    @property
    def identity(self) -> Identity:
        """The caller as the authorizer established it."""
        return Identity.from_authorizer_context(self.current_event.request_context.authorizer.get_lambda)

    def header(self, name: str) -> str | None:
        value = self.current_event.headers.get(name.lower())
        return value if value else None

    @staticmethod
    def _domain_error(error: DomainError) -> Response[str]:
        kind = problem_for(error)
        if kind.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.warning("request could not complete", extra={"error": error.detail})
        return problem(kind.status, error.detail, kind.name, **error.extensions)

    @staticmethod
    def _validation_error(error: RequestValidationError) -> Response[str]:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.")
        # A filter value the API does not know is a 400, as the contract says, unless the request
        # also fails validation otherwise (checked first, as when filters were parsed by hand).
        invalid = [e for e in errors if not _is_unknown_filter_value(e)]
        if not invalid:
            return problem(HTTPStatus.BAD_REQUEST, _unknown_filter_value(errors[0]))
        return problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The request failed validation.",
            errors=[_validation_entry(e) for e in invalid],
        )

    @staticmethod
    def _undecodable_body(error: UnicodeDecodeError) -> Response[str]:
        return problem(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.")

    @staticmethod
    def _unsupported_content_type(error: RequestUnsupportedContentType) -> Response[str]:
        return problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")

    @staticmethod
    def _no_identity(error: PermissionError) -> Response[str]:
        return problem(HTTPStatus.FORBIDDEN, "The request carries no caller identity.")

    @classmethod
    def _service_refused(cls, error: ClientError) -> Response[str]:
        """Throttled still after the client's own retries: busy, so 503 like an unreachable service.
        Any other refusal (AccessDenied, a validation error) is ours to fix: it stays a 500."""
        if error.response.get("Error", {}).get("Code") in AWS_BUSY_CODES:
            return cls._service_unreachable(error)
        raise error

    @staticmethod
    def _service_unreachable(error: Exception) -> Response[str]:
        logger.warning("an AWS service could not be reached", extra={"error": type(error).__name__})
        response = problem(HTTPStatus.SERVICE_UNAVAILABLE, "The service is briefly unavailable; retry later.")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


@cache
def _filters(handler: Callable[..., Any]) -> tuple[str, ...]:
    """Every filter a list route declares (path and query parameters but the page's own), in
    declaration order: the order of the fingerprint's parts."""
    return tuple(name for name in inspect.signature(handler).parameters if name not in _PAGE_PARAMETERS)


def _fingerprinted(filters: tuple[str, ...], arguments: Mapping[str, Any]) -> list[str]:
    """The filters' values as the fingerprint takes them: absent is ""."""
    return ["" if arguments[name] is None else str(arguments[name]) for name in filters]


def _raw_problem(status: HTTPStatus, detail: str) -> dict[str, Any]:
    """A problem response in the payload 2.0 shape, for answers given before routing."""
    return {
        "statusCode": status.value,
        "headers": {"Content-Type": PROBLEM_JSON},
        "body": json.dumps(problem_body(status, detail)),
        "isBase64Encoded": False,
    }


def _is_json(event: Mapping[str, Any]) -> bool:
    """A request without a body, or whose body is JSON or undeclared (then read as JSON)."""
    if not event.get("body"):
        return True
    _, content_type = _content_type(event)
    return _media_type(content_type) in ("", "application/json")


def _content_type(event: Mapping[str, Any]) -> tuple[str | None, str]:
    """The Content-Type header as sent: (its name in the event, its value); (None, "") without one."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type":
            return name, value
    return None, ""


def _media_type(content_type: str) -> str:
    """`Application/JSON; charset=UTF-8` -> `application/json`: media types compare
    case-insensitively (RFC 9110, section 8.3.1)."""
    return content_type.split(";", 1)[0].strip().lower()


def _with_lower_case_media_type(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with its media type in lower case (parameters as sent): Powertools' request
    validation matches `application/json` case-sensitively, and would answer 415."""
    name, content_type = _content_type(event)
    _, separator, parameters = content_type.partition(";")
    lower_case = _media_type(content_type) + separator + parameters
    if name is None or lower_case == content_type:
        return event
    return {**event, "headers": {**event["headers"], name: lower_case}}


def _json_body(text: str) -> Any:
    """The body's JSON, for Powertools' request validation. An integer literal longer than Python
    converts (sys.get_int_max_str_digits(), 4,300 digits) is a 400, not the ValueError json.loads
    raises, which would be a 500."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise  # answered by request validation: "not valid JSON"
    except ValueError as error:
        digits = sys.get_int_max_str_digits()
        raise BadRequestError(f"The request body holds an integer of more than {digits:,} digits.") from error


def _decoded_body(event: Mapping[str, Any]) -> bytes | None:
    """The body as the client sent it (None: base64 that does not decode)."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


# A JSON string, where brackets mean nothing. One left open runs to the end, so the match never
# fails and never backtracks: the scan stays linear.
_JSON_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]+")


def _nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the body's arrays and objects nest deeper than `limit`, without parsing it (UTF-8
    never has ASCII bytes inside a multi-byte character, so the scan works on bytes)."""
    depth = 0
    for bracket in _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


# A bare or quoted (optionally weak) ASCII version number; str.isdigit() would also accept "²".
_IF_MATCH = re.compile(r'(?:W/)?(?P<quote>"?)(?P<version>[0-9]{1,18})(?P=quote)')


def parse_if_match(header: str | None) -> int | None:
    """`If-Match: 3`, `"3"` or `W/"3"` -> 3; `*` (any version) -> None."""
    if header is None or header.strip() == "*":
        return None
    match = _IF_MATCH.fullmatch(header.strip())
    if match is None:
        raise BadRequestError("If-Match must be the enrollment's version number.")
    return int(match["version"])


def no_content() -> Response[None]:
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body=None)
