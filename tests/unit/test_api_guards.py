"""Input that could never name anything is answered before it reaches DynamoDB's key limits."""

import base64
from typing import Any

import pytest

from tests.conftest import STUDENT, ApiHarness, assert_problem, create_course

IMPOSSIBLE_IDS = ["x" * 200, "a#b", "has space", "semi;colon", "trailing-newline\n"]


@pytest.mark.parametrize("bad_id", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(
    ("function", "parameter"),
    [("get_course", "courseId"), ("get_enrollment", "id"), ("get_progress", "id"), ("delete_enrollment", "id")],
)
def test_an_id_no_resource_can_have_is_404(api: ApiHarness, function: str, parameter: str, bad_id: str) -> None:
    problem = assert_problem(api.call(function, roles="admin", path={parameter: bad_id}), 404)
    assert problem["detail"] == "No resource has this id."


# Any `sub` a token may carry: user ids are not ours to shape (keys.user_key makes them key-safe).
UNUSUAL_USER_IDS = ["CN=Ann,OU=Staff", "José", "a#b", "has space", "u" * 256, "USER#x#ENROLLMENT#y"]


@pytest.mark.parametrize("bad_id", ["u" * 257, ""])
@pytest.mark.parametrize("function", ["list_enrollments", "list_progress"])
def test_a_user_id_filter_no_token_could_carry_is_422(api: ApiHarness, function: str, bad_id: str) -> None:
    problem = assert_problem(api.call(function, roles="admin", query={"userId": bad_id}), 422)
    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("query", "userId")]


@pytest.mark.parametrize("user_id", UNUSUAL_USER_IDS)
@pytest.mark.parametrize("function", ["list_enrollments", "list_progress"])
def test_a_user_id_filter_takes_any_id_a_token_may_carry(api: ApiHarness, function: str, user_id: str) -> None:
    reply = api.call(function, roles="admin", query={"userId": user_id})
    assert (reply.status, reply.body) == (200, {"items": [], "nextCursor": None})


# Every route that takes a body, with the path parameters it needs (ids that need not exist).
BODY_ROUTES = [
    ("create_course", None),
    ("create_module", {"courseId": "c1"}),
    ("create_lesson", {"courseId": "c1", "moduleId": "m1"}),
    ("create_enrollment", None),
    ("update_enrollment", {"id": "e1"}),
    ("record_progress", None),
    ("update_progress", {"id": "p1"}),
]


@pytest.mark.parametrize(("function", "path"), BODY_ROUTES)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_400_on_every_route_with_a_body(
    api: ApiHarness, function: str, path: dict[str, str] | None, opening: str
) -> None:
    """10,000 levels (~20-50 KB) would make json.loads raise RecursionError, a 500."""
    closing = "]" if opening == "[" else "}"
    problem = assert_problem(
        api.call(function, roles="admin", path=path, raw_body=opening * 10_000 + closing * 10_000), 400
    )
    assert "nests deeper" in problem["detail"]


# Python converts at most 4,300 digits to an int (sys.get_int_max_str_digits()); json.loads raises
# ValueError past that, wherever the literal is.
TOO_LONG = "9" * 4_301
BODIES_WITH_A_TOO_LONG_INTEGER = {
    "in an unknown field": '{"unknown": ' + TOO_LONG + "}",
    "negative, in an array": "[-" + TOO_LONG + "]",
    "as the whole body": TOO_LONG,
}


@pytest.mark.parametrize(("function", "path"), BODY_ROUTES)
@pytest.mark.parametrize("body", BODIES_WITH_A_TOO_LONG_INTEGER.values(), ids=BODIES_WITH_A_TOO_LONG_INTEGER)
def test_an_integer_too_long_for_python_is_400_on_every_route_with_a_body(
    api: ApiHarness, function: str, path: dict[str, str] | None, body: str
) -> None:
    """Was a 500: the ValueError json.loads raises escaped request validation."""
    problem = assert_problem(api.call(function, roles="admin", path=path, raw_body=body), 400)
    assert problem["detail"] == "The request body holds an integer of more than 4,300 digits."


def test_an_integer_too_long_for_python_changes_nothing(api: ApiHarness, dynamodb: Any) -> None:
    """Given a course, when requests that are valid but for one unknown field of 4,301 digits try
    to enroll and record progress, then both are 400 and no table holds anything new."""
    course = create_course(api)
    tables = ("lms-dev", "lms-idempotency-dev")
    before = [dynamodb.scan(TableName=table)["Items"] for table in tables]
    enrollment = '{"courseId": "' + course.id + '", "extra": ' + TOO_LONG + "}"
    progress = '{"lessonId": "' + course.lesson(0) + '", "action": "complete", "extra": ' + TOO_LONG + "}"

    assert_problem(api.call("create_enrollment", **STUDENT, raw_body=enrollment), 400)
    assert_problem(api.call("record_progress", **STUDENT, raw_body=progress), 400)

    assert [dynamodb.scan(TableName=table)["Items"] for table in tables] == before


def test_an_integer_of_4300_digits_still_reaches_validation(api: ApiHarness) -> None:
    """The limit is Python's, not ours: one digit fewer parses, and fails the field's bounds."""
    reply = api.call("create_course", roles="admin", raw_body='{"title": "T", "capacity": ' + "9" * 4_300 + "}")
    assert [e["field"] for e in assert_problem(reply, 422)["errors"]] == ["capacity"]


def test_nesting_is_measured_outside_strings_only(api: ApiHarness) -> None:
    """Brackets inside a string, even with escaped quotes, are text: the body reaches validation."""
    description = '\\"[' * 200 + "{" * 200
    body = '{"title": "T", "description": "' + description + '", "modules": [[[[1]]]]}'
    reply = api.call("create_course", roles="admin", raw_body=body)
    assert next(e["field"] for e in assert_problem(reply, 422)["errors"]).startswith("modules")


@pytest.mark.parametrize(("size", "status"), [(64 * 1024, 415), (64 * 1024 + 1, 413)])
def test_the_64_kib_limit_is_on_the_decoded_body(api: ApiHarness, size: int, status: int) -> None:
    """API Gateway base64-encodes non-text bodies: 65,536 bytes encode to 87,384 characters (with
    padding), and must be measured as 65,536."""
    raw = base64.b64encode(b"x" * size).decode()
    reply = api.call(
        "create_course", roles="admin", raw_body=raw, base64_body=True, headers={"Content-Type": "text/plain"}
    )
    assert_problem(reply, status)


@pytest.mark.parametrize(
    ("function", "path"),
    [
        ("list_enrollments", None),
        ("list_course_enrollments", {"courseId": "c1"}),
        ("list_progress", None),
        ("list_course_progress", {"courseId": "c1"}),
    ],
)
@pytest.mark.parametrize("cursor", ["x" * 2049, "a." * 5000, "", "é.é", "...", "e30.AAAA"])
def test_every_bad_cursor_is_400(api: ApiHarness, function: str, path: dict[str, str] | None, cursor: str) -> None:
    assert_problem(api.call(function, roles="admin", path=path, query={"cursor": cursor}), 400)


LIST_ROUTES = [
    ("list_enrollments", None, "ACTIVE, COMPLETED, DROPPED, SUSPENDED, EXPIRED"),
    ("list_course_enrollments", {"courseId": "c1"}, "ACTIVE, COMPLETED, DROPPED, SUSPENDED, EXPIRED"),
    ("list_progress", None, "IN_PROGRESS, COMPLETED"),
    ("list_course_progress", {"courseId": "c1"}, "IN_PROGRESS, COMPLETED"),
]


@pytest.mark.parametrize(("function", "path", "allowed"), LIST_ROUTES)
def test_an_unknown_status_filter_is_400_naming_the_values_it_may_take(
    api: ApiHarness, function: str, path: dict[str, str] | None, allowed: str
) -> None:
    problem = assert_problem(api.call(function, roles="admin", path=path, query={"status": "DONE"}), 400)
    assert problem["detail"] == f"Unknown status 'DONE'; expected one of {allowed}."


@pytest.mark.parametrize(("function", "path", "allowed"), LIST_ROUTES)
def test_an_invalid_limit_beside_an_unknown_status_is_422_naming_the_limit(
    api: ApiHarness, function: str, path: dict[str, str] | None, allowed: str
) -> None:
    reply = api.call(function, roles="admin", path=path, query={"status": "DONE", "limit": "0"})
    problem = assert_problem(reply, 422)
    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("query", "limit")]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded", "Application/XML"]
)
def test_a_body_that_is_not_declared_json_is_415(api: ApiHarness, content_type: str) -> None:
    reply = api.call("create_course", roles="admin", raw_body='{"title": "T"}', headers={"Content-Type": content_type})
    assert_problem(reply, 415)


# Media types compare case-insensitively (RFC 9110, section 8.3.1).
JSON_IN_ANY_CASE = ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/Json;charset=utf-8"]


@pytest.mark.parametrize("content_type", JSON_IN_ANY_CASE)
def test_json_declared_in_any_case_is_json(api: ApiHarness, content_type: str) -> None:
    reply = api.call("create_course", roles="admin", body={"title": "T"}, headers={"Content-Type": content_type})
    assert (reply.status, reply.body["title"]) == (201, "T")


@pytest.mark.parametrize(("function", "path"), BODY_ROUTES)
@pytest.mark.parametrize("content_type", JSON_IN_ANY_CASE)
def test_json_declared_in_any_case_reaches_validation_on_every_route_with_a_body(
    api: ApiHarness, function: str, path: dict[str, str] | None, content_type: str
) -> None:
    """Was a 415 from Powertools' request validation, which matched `application/json` as sent."""
    reply = api.call(function, roles="admin", path=path, body={"unknown": 1}, headers={"Content-Type": content_type})
    assert any(e["field"] == "unknown" for e in assert_problem(reply, 422)["errors"])


def test_a_body_that_is_not_utf8_is_400(api: ApiHarness) -> None:
    event_body = base64.b64encode(b"\xff\xfe\x00 not text").decode()
    reply = api.call("create_course", roles="admin", raw_body=event_body, base64_body=True)
    assert_problem(reply, 400)
