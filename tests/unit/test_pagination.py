"""Every list route binds its cursor to the route, the caller and each filter it declares, in
declaration order, an absent filter as "" (LmsResolver.paginate): a cursor only ever continues the
query that issued it."""

import base64
import hashlib
import json

import pytest

from tests.conftest import (
    INSTRUCTOR,
    OTHER_STUDENT,
    STUDENT,
    ApiHarness,
    Course,
    create_course,
    enroll,
    ok,
    recorded,
)


def bound_query(cursor: str) -> str:
    """The query fingerprint a cursor was signed with (its payload is readable, only signed)."""
    payload = cursor.split(".")[0]
    fingerprint: str = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["q"]
    return fingerprint


def fingerprint(*parts: str) -> str:
    """The fingerprint of these parts (CursorCodec.fingerprint)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


@pytest.fixture
def two_of_everything(api: ApiHarness, course: Course) -> Course:
    """STUDENT enrolled in two courses, with two lessons viewed in `course`; OTHER_STUDENT enrolled too."""
    enroll(api, create_course(api).id)
    enroll(api, course.id, OTHER_STUDENT)
    for index in (0, 2):
        recorded(api, course.lesson(index))
    return course


@pytest.mark.parametrize(
    ("function", "caller", "with_path", "query", "parts"),
    [
        ("list_enrollments", STUDENT, False, {"status": "ACTIVE"}, ["user", "", "ACTIVE", ""]),
        ("list_course_enrollments", INSTRUCTOR, True, {"status": "ACTIVE"}, ["user", "course", "ACTIVE", ""]),
        ("list_course_enrollments", INSTRUCTOR, True, {}, ["user", "course", "", ""]),
        ("list_progress", STUDENT, False, {"status": "IN_PROGRESS"}, ["user", "", "IN_PROGRESS"]),
        ("list_course_progress", INSTRUCTOR, True, {"userId": STUDENT["user"]}, ["user", "course", "student-1", ""]),
        ("list_course_progress", STUDENT, True, {"status": "IN_PROGRESS"}, ["user", "course", "", "IN_PROGRESS"]),
    ],
)
def test_a_cursor_is_bound_to_every_filter_the_route_declares(
    api: ApiHarness,
    two_of_everything: Course,
    function: str,
    caller: dict[str, str],
    with_path: bool,
    query: dict[str, str],
    parts: list[str],
) -> None:
    path = {"courseId": two_of_everything.id} if with_path else None
    first = ok(api.call(function, **caller, path=path, query={**query, "limit": "1"}))
    expected = [caller["user"] if p == "user" else two_of_everything.id if p == "course" else p for p in parts]

    assert bound_query(first["nextCursor"]) == fingerprint(function, *expected)
