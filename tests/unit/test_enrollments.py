"""Enrollments: who may enroll whom, seats, idempotent retries, listing, status changes and deletion."""

import base64
import itertools
import json
import re
from typing import Any

import pytest

from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    OTHER_INSTRUCTOR,
    SEED,
    ApiHarness,
    Reply,
    SeededCourse,
    assert_problem,
    load_event,
)
from tests.conftest import OTHER_STUDENT as CLASSMATE
from tests.conftest import STUDENT as LEARNER
from tests.conftest import THIRD_STUDENT as THIRD

# INSTRUCTOR teaches every course made by `make_course`.
STAFF = [INSTRUCTOR, ADMIN]
STAFF_IDS = ["instructor", "admin"]

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
STATUSES = ["ACTIVE", "COMPLETED", "DROPPED", "SUSPENDED"]
ENROLLMENT_FIELDS = {
    "id",
    "userId",
    "courseId",
    "status",
    "enrolledAt",
    "updatedAt",
    "accessEndsAt",
    "completedAt",
    "completedBy",
    "reopenedAt",
    "enrolledBy",
    "version",
    "progress",
}


# ------------------------------------------------------------------------------------------ helpers
def make_course(api: ApiHarness, capacity: int | None = None) -> str:
    """A course taught by INSTRUCTOR with three lessons, two of them required."""
    lessons = [{"title": "One"}, {"title": "Two"}, {"title": "Extra", "required": False}]
    body: dict[str, Any] = {"title": "Course", "modules": [{"title": "M", "lessons": lessons}]}
    if capacity is not None:
        body["capacity"] = capacity
    reply = api.call("create_course", **INSTRUCTOR, body=body)
    assert reply.status == 201, reply.body
    course_id: str = reply.body["id"]
    return course_id


@pytest.fixture
def course(api: ApiHarness) -> str:
    return make_course(api)


def enroll(
    api: ApiHarness,
    course_id: str,
    caller: dict[str, str] = LEARNER,
    user_id: str | None = None,
    key: str | None = None,
) -> Reply:
    body = {"courseId": course_id} | ({"userId": user_id} if user_id else {})
    return api.call("create_enrollment", **caller, body=body, headers={"Idempotency-Key": key} if key else None)


def enrolled(api: ApiHarness, course_id: str, caller: dict[str, str] = LEARNER, user_id: str | None = None) -> dict:
    """A new enrollment (asserting the 201)."""
    reply = enroll(api, course_id, caller, user_id)
    assert reply.status == 201, reply.body
    enrollment: dict[str, Any] = reply.body
    return enrollment


def patch(
    api: ApiHarness, enrollment_id: str, status: Any, caller: dict[str, str] = LEARNER, if_match: str | None = None
) -> Reply:
    headers = {"If-Match": if_match} if if_match is not None else None
    return api.call("update_enrollment", **caller, path={"id": enrollment_id}, body={"status": status}, headers=headers)


def set_status(api: ApiHarness, enrollment_id: str, status: str, caller: dict[str, str] = INSTRUCTOR) -> dict:
    reply = patch(api, enrollment_id, status, caller)
    assert reply.status == 200, reply.body
    enrollment: dict[str, Any] = reply.body
    return enrollment


def get(api: ApiHarness, enrollment_id: str, caller: dict[str, str] = LEARNER) -> Reply:
    return api.call("get_enrollment", **caller, path={"id": enrollment_id})


def delete(api: ApiHarness, enrollment_id: str, caller: dict[str, str] = LEARNER) -> Reply:
    return api.call("delete_enrollment", **caller, path={"id": enrollment_id})


def page(api: ApiHarness, function: str, caller: dict[str, str], path: dict[str, str] | None, **query: Any) -> Reply:
    return api.call(function, **caller, path=path, query={k: str(v) for k, v in query.items()} or None)


def all_pages(
    api: ApiHarness, function: str, caller: dict[str, str], path: dict[str, str] | None = None, **query: Any
) -> tuple[list[dict], int]:
    """Every item of a listing, following nextCursor until null; returns (items, number of pages)."""
    items: list[dict] = []
    cursor = None
    for pages in itertools.count(1):
        reply = page(api, function, caller, path, **query, **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body
        assert set(reply.body) == {"items", "nextCursor"}
        items += reply.body["items"]
        cursor = reply.body["nextCursor"]
        if cursor is None:
            return items, pages
        assert pages < 50, "pagination does not end"
    raise AssertionError  # unreachable


def mine(api: ApiHarness, caller: dict[str, str] = LEARNER, **query: Any) -> list[dict]:
    return all_pages(api, "list_enrollments", caller, **query)[0]


def of_course(api: ApiHarness, course_id: str, caller: dict[str, str] = INSTRUCTOR, **query: Any) -> list[dict]:
    return all_pages(api, "list_course_enrollments", caller, {"courseId": course_id}, **query)[0]


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def tamper(cursor: str) -> str:
    """The same cursor with one field of its (signed) payload changed."""
    payload, signature = cursor.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["k"]["pk"] = "USER#someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


@pytest.fixture
def clock(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each timestamp the enrollment service takes is one second after the previous one."""
    from lms import container

    seconds = itertools.count()

    def tick() -> str:
        minutes, second = divmod(next(seconds), 60)
        return f"2030-01-01T00:{minutes:02d}:{second:02d}.000Z"

    service = container.enrollment_service(clock=tick)
    api.wire(monkeypatch, "enrollments", service, "create_enrollment", "update_enrollment")


# ----------------------------------------------------------------------------------------- enroll
def test_student_enrolls_themselves(api: ApiHarness, course: str) -> None:
    reply = enroll(api, course)

    assert reply.status == 201
    assert reply.headers.get("Content-Type") == "application/json"
    body = reply.body
    assert set(body) == ENROLLMENT_FIELDS
    assert body["userId"] == body["enrolledBy"] == "student-1"
    assert body["courseId"] == course
    assert (body["status"], body["version"], body["completedAt"]) == ("ACTIVE", 1, None)
    assert TIMESTAMP.match(body["enrolledAt"])
    assert body["updatedAt"] == body["enrolledAt"]
    assert body["progress"] == {"percent": 0, "completedLessons": 0, "requiredLessons": 2}
    assert get(api, body["id"]).body == body
    assert mine(api) == [body]


def test_student_naming_themselves_as_user_id_is_the_same_as_omitting_it(api: ApiHarness, course: str) -> None:
    assert enrolled(api, course, user_id="student-1")["userId"] == "student-1"


def test_enrolling_in_an_unknown_course_is_404_and_creates_nothing(api: ApiHarness) -> None:
    assert_problem(enroll(api, "01unknowncourse"), 404)
    assert mine(api) == []


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED", "SUSPENDED"])
def test_enrolling_again_while_enrolled_is_409_naming_the_enrollment(api: ApiHarness, course: str, status: str) -> None:
    first = enrolled(api, course)
    if status != "ACTIVE":
        first = set_status(api, first["id"], status)

    problem = assert_problem(enroll(api, course), 409)

    assert problem["enrollmentId"] == first["id"]
    assert mine(api) == [first]


def test_enrolling_again_after_dropping_reactivates_the_same_enrollment(api: ApiHarness, course: str) -> None:
    first = enrolled(api, course)
    set_status(api, first["id"], "DROPPED", LEARNER)

    reply = enroll(api, course)

    assert reply.status == 200
    assert (reply.body["id"], reply.body["status"], reply.body["version"]) == (first["id"], "ACTIVE", 3)
    assert reply.body["enrolledAt"] == first["enrolledAt"]
    assert mine(api) == [reply.body]


@pytest.mark.parametrize("capacity", [1, 2])
def test_a_full_course_refuses_another_learner_with_409(api: ApiHarness, capacity: int) -> None:
    course_id = make_course(api, capacity)
    admitted = [enrolled(api, course_id, caller={"user": f"s{n}", "roles": "student"}) for n in range(capacity)]

    problem = assert_problem(enroll(api, course_id), 409)

    assert "enrollmentId" not in problem
    assert sorted(ids(of_course(api, course_id))) == sorted(ids(admitted))
    assert mine(api) == []


def test_a_course_without_capacity_admits_everyone(api: ApiHarness, course: str) -> None:
    for n in range(6):
        enrolled(api, course, caller={"user": f"s{n}", "roles": "student"})
    assert len(of_course(api, course)) == 6


def test_dropping_frees_a_seat_and_reactivating_needs_one(api: ApiHarness) -> None:
    """Given a course with one seat, when its learner drops, another learner fits; then the first
    learner cannot come back (409) until a seat is free again."""
    course_id = make_course(api, capacity=1)
    first = enrolled(api, course_id)
    set_status(api, first["id"], "DROPPED", LEARNER)
    second = enrolled(api, course_id, CLASSMATE)

    assert_problem(enroll(api, course_id), 409)
    assert_problem(patch(api, first["id"], "ACTIVE"), 409)
    assert get(api, first["id"]).body["status"] == "DROPPED"

    set_status(api, second["id"], "DROPPED", CLASSMATE)
    assert enroll(api, course_id).status == 200


def test_deleting_a_dropped_enrollment_frees_no_second_seat(api: ApiHarness) -> None:
    course_id = make_course(api, capacity=1)
    first = enrolled(api, course_id)
    set_status(api, first["id"], "DROPPED", LEARNER)
    enrolled(api, course_id, CLASSMATE)

    assert delete(api, first["id"]).status == 204

    assert_problem(enroll(api, course_id, THIRD), 409)


@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
def test_course_staff_may_enroll_another_user(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrollment = enrolled(api, course, caller, user_id="student-2")

    assert (enrollment["userId"], enrollment["enrolledBy"]) == ("student-2", caller["user"])
    assert mine(api, CLASSMATE) == [enrollment]
    assert mine(api, caller) == []


@pytest.mark.parametrize("caller", [LEARNER, OTHER_INSTRUCTOR], ids=["student", "instructor-of-another-course"])
def test_others_may_not_enroll_another_user(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    assert_problem(enroll(api, course, caller, user_id="student-2"), 403)
    assert mine(api, CLASSMATE) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"courseId": "c", "extra": 1}, "extra"),
        ({}, "courseId"),
        ({"courseId": 5}, "courseId"),
        ({"courseId": "c", "userId": ""}, "userId"),
    ],
)
def test_invalid_enrollment_body_is_422(api: ApiHarness, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(api.call("create_enrollment", **LEARNER, body=body), 422)
    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("body", field)]


def test_malformed_json_enrollment_body_is_400(api: ApiHarness) -> None:
    assert_problem(api.call("create_enrollment", **LEARNER, raw_body='{"courseId": '), 400)


# ------------------------------------------------------------------------------------ idempotency
def test_retry_with_the_same_idempotency_key_returns_the_first_response(api: ApiHarness) -> None:
    """Given a two-seat course, retries with the same key return the first 201 and take no seat."""
    course_id = make_course(api, capacity=2)
    first = enroll(api, course_id, key="retry-1")

    retries = [enroll(api, course_id, key="retry-1") for _ in range(2)]

    assert first.status == 201
    assert all((r.status, r.body) == (201, first.body) for r in retries)
    assert mine(api) == [first.body]
    assert enroll(api, course_id, CLASSMATE).status == 201  # the retries took no seat


def test_reusing_an_idempotency_key_with_another_body_is_422(api: ApiHarness, course: str) -> None:
    other_course = make_course(api)
    enroll(api, course, key="k")

    assert_problem(enroll(api, other_course, key="k"), 422)
    assert [e["courseId"] for e in mine(api)] == [course]


def test_idempotency_keys_of_different_users_are_independent(api: ApiHarness, course: str) -> None:
    mine_reply = enroll(api, course, LEARNER, key="same")
    theirs = enroll(api, course, CLASSMATE, key="same")

    assert (mine_reply.status, theirs.status) == (201, 201)
    assert mine_reply.body["id"] != theirs.body["id"]
    assert theirs.body["userId"] == "student-2"


def test_without_an_idempotency_key_a_repeat_is_a_duplicate(api: ApiHarness, course: str) -> None:
    enrolled(api, course)
    assert_problem(enroll(api, course), 409)


# --------------------------------------------------------------------------------- GET /enrollments
def test_listing_shows_only_the_callers_enrollments(api: ApiHarness) -> None:
    courses = [make_course(api) for _ in range(3)]
    own = [enrolled(api, c) for c in courses[:2]]
    enrolled(api, courses[2], CLASSMATE)

    assert sorted(ids(mine(api))) == sorted(ids(own))
    assert [e["userId"] for e in mine(api, CLASSMATE)] == ["student-2"]
    assert mine(api, THIRD) == []


@pytest.mark.parametrize("status", STATUSES)
def test_listing_filters_by_status(api: ApiHarness, status: str) -> None:
    """Given one enrollment in each status, the filter returns exactly the one with that status."""
    by_status = {}
    for each in STATUSES:
        enrollment = enrolled(api, make_course(api))
        by_status[each] = set_status(api, enrollment["id"], each) if each != "ACTIVE" else enrollment

    assert mine(api, status=status) == [by_status[status]]
    assert len(mine(api)) == 4


@pytest.mark.parametrize("function", ["list_enrollments", "list_course_enrollments"])
@pytest.mark.parametrize("value", ["FOO", "active", ""])
def test_unknown_status_filter_is_400(api: ApiHarness, course: str, function: str, value: str) -> None:
    assert_problem(page(api, function, INSTRUCTOR, {"courseId": course}, status=value), 400)


@pytest.mark.parametrize("function", ["list_enrollments", "list_course_enrollments"])
@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_limit_outside_1_to_100_is_422(api: ApiHarness, course: str, function: str, limit: str) -> None:
    problem = assert_problem(page(api, function, INSTRUCTOR, {"courseId": course}, limit=limit), 422)
    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("query", "limit")]


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_inclusive(api: ApiHarness, course: str, limit: str) -> None:
    enrolled(api, course)
    assert page(api, "list_enrollments", LEARNER, None, limit=limit).status == 200


def test_pagination_returns_every_enrollment_once(api: ApiHarness) -> None:
    created = [enrolled(api, make_course(api)) for _ in range(7)]

    items, pages = all_pages(api, "list_enrollments", LEARNER, limit=3)

    assert sorted(ids(items)) == sorted(ids(created))
    assert len(items) == len(set(ids(items))) == 7
    assert pages >= 3
    first_page = page(api, "list_enrollments", LEARNER, None, limit=3).body
    assert len(first_page["items"]) == 3
    assert first_page["nextCursor"]


def test_default_page_size_is_20(api: ApiHarness) -> None:
    # A learner's own list: one partition, so an unfiltered page is full (a course's list reads its
    # index shards 3 at a time and may come short).
    for _ in range(21):
        enrolled(api, make_course(api))

    first = page(api, "list_enrollments", LEARNER, None).body

    assert len(first["items"]) == 20
    assert first["nextCursor"]


@pytest.fixture
def cursor(api: ApiHarness) -> str:
    """A valid nextCursor of LEARNER's own listing, limit 1."""
    for _ in range(2):
        enrolled(api, make_course(api))
    next_cursor: str = page(api, "list_enrollments", LEARNER, None, limit=1).body["nextCursor"]
    assert next_cursor
    return next_cursor


@pytest.mark.parametrize(
    "forge",
    [
        tamper,
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),
        lambda c: "garbage",
        lambda c: c + ".x",
        lambda c: "é" + c,
    ],
    ids=["payload-changed", "signature-changed", "garbage", "extra-part", "non-ascii"],
)
def test_tampered_cursor_is_400(api: ApiHarness, cursor: str, forge: Any) -> None:
    assert_problem(page(api, "list_enrollments", LEARNER, None, limit=1, cursor=forge(cursor)), 400)


@pytest.mark.parametrize(
    ("caller", "query"),
    [(CLASSMATE, {}), (LEARNER, {"status": "ACTIVE"}), (ADMIN, {"userId": "student-1"})],
    ids=["another-user", "another-filter", "admin-reading-the-same-user"],
)
def test_cursor_from_another_query_is_400(
    api: ApiHarness, cursor: str, caller: dict[str, str], query: dict[str, str]
) -> None:
    assert_problem(page(api, "list_enrollments", caller, None, limit=1, cursor=cursor, **query), 400)


def test_cursor_of_one_route_is_refused_by_another(api: ApiHarness, course: str, cursor: str) -> None:
    for n in range(2):
        enrolled(api, course, caller={"user": f"s{n}", "roles": "student"})
    course_cursor = page(api, "list_course_enrollments", INSTRUCTOR, {"courseId": course}, limit=1).body["nextCursor"]
    other_course = make_course(api)

    assert_problem(page(api, "list_course_enrollments", INSTRUCTOR, {"courseId": course}, cursor=cursor), 400)
    assert_problem(page(api, "list_enrollments", INSTRUCTOR, None, cursor=course_cursor), 400)
    assert_problem(
        page(api, "list_course_enrollments", INSTRUCTOR, {"courseId": other_course}, cursor=course_cursor), 400
    )


def test_admin_lists_another_users_enrollments(api: ApiHarness, course: str) -> None:
    own = enrolled(api, course)
    enrolled(api, course, CLASSMATE)

    assert mine(api, ADMIN, userId="student-1") == [own]


@pytest.mark.parametrize("caller", [CLASSMATE, OTHER_INSTRUCTOR, INSTRUCTOR], ids=["student", "other", "instructor"])
def test_non_admin_naming_another_user_is_403(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrolled(api, course)
    assert_problem(page(api, "list_enrollments", caller, None, userId="student-1"), 403)


def test_naming_yourself_as_user_id_lists_your_own(api: ApiHarness, course: str) -> None:
    own = enrolled(api, course)
    assert mine(api, userId="student-1") == [own]


# -------------------------------------------------------------------- GET /enrollments/course/{id}
@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
def test_course_staff_list_the_course_enrollments(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    created = [enrolled(api, course, c) for c in (LEARNER, CLASSMATE, THIRD)]
    enrolled(api, make_course(api), LEARNER)  # another course's enrollment stays out

    items, pages = all_pages(api, "list_course_enrollments", caller, {"courseId": course}, limit=2)

    assert sorted(ids(items)) == sorted(ids(created))
    assert pages >= 2


@pytest.mark.parametrize("caller", [LEARNER, OTHER_INSTRUCTOR], ids=["enrolled-student", "other-instructor"])
def test_others_may_not_list_a_course_enrollments(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrolled(api, course)
    assert_problem(page(api, "list_course_enrollments", caller, {"courseId": course}), 403)


@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
def test_listing_an_unknown_course_is_404(api: ApiHarness, caller: dict[str, str]) -> None:
    assert_problem(page(api, "list_course_enrollments", caller, {"courseId": "01unknowncourse"}), 404)


def test_course_listing_filters_by_status(api: ApiHarness, course: str) -> None:
    active = enrolled(api, course)
    dropped = set_status(api, enrolled(api, course, CLASSMATE)["id"], "DROPPED")

    assert of_course(api, course, status="ACTIVE", limit=1) == [active]
    assert of_course(api, course, status="DROPPED", limit=1) == [dropped]
    assert of_course(api, course, status="COMPLETED") == []


# --------------------------------------------------------------------------- GET /enrollments/{id}
@pytest.mark.parametrize("caller", [LEARNER, INSTRUCTOR, ADMIN], ids=["owner", "course-instructor", "admin"])
def test_owner_and_staff_read_an_enrollment(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrollment = enrolled(api, course)
    reply = get(api, enrollment["id"], caller)
    assert (reply.status, reply.body) == (200, enrollment)


@pytest.mark.parametrize("caller", [CLASSMATE, OTHER_INSTRUCTOR], ids=["other-student", "other-instructor"])
def test_an_enrollment_does_not_exist_for_anyone_else(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrollment = enrolled(api, course)
    unknown = assert_problem(get(api, "01unknownenrollment", caller), 404)

    assert assert_problem(get(api, enrollment["id"], caller), 404)["detail"] == unknown["detail"]


# ------------------------------------------------------------------------- PATCH /enrollments/{id}
def test_owner_drops_and_comes_back(api: ApiHarness, course: str, clock: None) -> None:
    enrollment = enrolled(api, course)

    dropped = patch(api, enrollment["id"], "DROPPED")
    back = patch(api, enrollment["id"], "ACTIVE")

    assert (dropped.status, dropped.body["status"], dropped.body["version"]) == (200, "DROPPED", 2)
    assert (back.status, back.body["status"], back.body["version"]) == (200, "ACTIVE", 3)
    assert enrollment["updatedAt"] < dropped.body["updatedAt"] < back.body["updatedAt"]
    assert back.body["enrolledAt"] == enrollment["enrolledAt"]
    assert get(api, enrollment["id"]).body == back.body


@pytest.mark.parametrize("status", ["COMPLETED", "SUSPENDED"])
def test_owner_may_not_set_staff_statuses(api: ApiHarness, course: str, status: str) -> None:
    enrollment = enrolled(api, course)
    assert_problem(patch(api, enrollment["id"], status), 403)
    assert get(api, enrollment["id"]).body == enrollment


@pytest.mark.parametrize("status", ["COMPLETED", "SUSPENDED"])
def test_owner_may_not_reactivate_an_enrollment_that_staff_closed(api: ApiHarness, course: str, status: str) -> None:
    """Only a DROPPED enrollment comes back by the learner's own hand; anything else is staff's (403)."""
    closed = set_status(api, enrolled(api, course)["id"], status)
    assert_problem(patch(api, closed["id"], "ACTIVE"), 403)
    assert get(api, closed["id"]).body == closed


def test_a_suspended_learner_cannot_drop_their_way_out(api: ApiHarness, course: str) -> None:
    """Dropping and re-activating would lift the suspension, so the learner may not drop (403)."""
    suspended = set_status(api, enrolled(api, course)["id"], "SUSPENDED")
    assert_problem(patch(api, suspended["id"], "DROPPED"), 403)
    assert get(api, suspended["id"]).body == suspended


@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
@pytest.mark.parametrize("status", ["SUSPENDED", "COMPLETED", "DROPPED"])
def test_staff_may_set_any_status(api: ApiHarness, course: str, caller: dict[str, str], status: str) -> None:
    enrollment = enrolled(api, course)

    changed = set_status(api, enrollment["id"], status, caller)

    assert (changed["status"], changed["version"]) == (status, 2)
    assert (changed["completedAt"] is not None) is (status == "COMPLETED")
    assert set_status(api, enrollment["id"], "ACTIVE", caller)["version"] == 3


def test_completed_at_is_set_once(api: ApiHarness, course: str, clock: None) -> None:
    """COMPLETED, then ACTIVE, then COMPLETED again: completedAt keeps the first completion's time."""
    enrollment = enrolled(api, course)

    completed = set_status(api, enrollment["id"], "COMPLETED")
    reopened = set_status(api, enrollment["id"], "ACTIVE")
    again = set_status(api, enrollment["id"], "COMPLETED")

    assert TIMESTAMP.match(completed["completedAt"])
    assert completed["completedAt"] == completed["updatedAt"]
    assert reopened["completedAt"] == again["completedAt"] == completed["completedAt"]
    assert again["updatedAt"] > completed["updatedAt"]
    assert again["version"] == 4


def test_setting_the_current_status_changes_nothing(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)
    assert set_status(api, enrollment["id"], "ACTIVE", LEARNER) == enrollment


@pytest.mark.parametrize("if_match", ["1", '"1"', 'W/"1"'])
def test_matching_if_match_applies_the_change(api: ApiHarness, course: str, if_match: str) -> None:
    enrollment = enrolled(api, course)
    reply = patch(api, enrollment["id"], "DROPPED", if_match=if_match)
    assert (reply.status, reply.body["version"]) == (200, 2)


def test_stale_if_match_is_409_and_changes_nothing(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)
    dropped = set_status(api, enrollment["id"], "DROPPED", LEARNER)

    problem = assert_problem(patch(api, enrollment["id"], "ACTIVE", if_match="1"), 409)

    assert problem["currentVersion"] == 2
    assert get(api, enrollment["id"]).body == dropped


@pytest.mark.parametrize("if_match", ["abc", "1.0", "-1", "", '"1', '1"', "²", "W/"])
def test_malformed_if_match_is_400(api: ApiHarness, course: str, if_match: str) -> None:
    enrollment = enrolled(api, course)
    assert_problem(patch(api, enrollment["id"], "DROPPED", if_match=if_match), 400)
    assert get(api, enrollment["id"]).body == enrollment


def test_if_match_any_version_applies_the_change(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)
    reply = patch(api, enrollment["id"], "DROPPED", if_match="*")
    assert (reply.status, reply.body["version"]) == (200, 2)


@pytest.mark.parametrize("status", ["FOO", "dropped", 3, None, ["DROPPED"]])
def test_invalid_status_value_is_422(api: ApiHarness, course: str, status: Any) -> None:
    enrollment = enrolled(api, course)

    problem = assert_problem(patch(api, enrollment["id"], status), 422)

    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("body", "status")]
    assert get(api, enrollment["id"]).body == enrollment


@pytest.mark.parametrize("body", [{"status": "DROPPED", "version": 1}, {"userId": "student-2"}, {}])
def test_unknown_or_missing_fields_in_a_patch_are_422(api: ApiHarness, course: str, body: dict[str, Any]) -> None:
    enrollment = enrolled(api, course)
    reply = api.call("update_enrollment", **LEARNER, path={"id": enrollment["id"]}, body=body)
    assert assert_problem(reply, 422)["errors"]
    assert get(api, enrollment["id"]).body == enrollment


@pytest.mark.parametrize("caller", [CLASSMATE, OTHER_INSTRUCTOR], ids=["other-student", "other-instructor"])
def test_others_patching_an_enrollment_get_404(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrollment = enrolled(api, course)
    assert_problem(patch(api, enrollment["id"], "DROPPED", caller), 404)
    assert_problem(patch(api, "01unknownenrollment", "DROPPED", caller), 404)
    assert get(api, enrollment["id"]).body == enrollment


# ------------------------------------------------------------------------ DELETE /enrollments/{id}
def test_owner_deletes_and_the_enrollment_is_gone_from_every_read(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)

    reply = delete(api, enrollment["id"])

    assert (reply.status, reply.body) == (204, None)
    assert_problem(get(api, enrollment["id"]), 404)
    assert_problem(get(api, enrollment["id"], ADMIN), 404)
    assert mine(api) == []
    assert of_course(api, course) == []
    assert_problem(delete(api, enrollment["id"]), 404)
    assert_problem(patch(api, enrollment["id"], "ACTIVE"), 404)


def test_deleting_frees_the_seat(api: ApiHarness) -> None:
    course_id = make_course(api, capacity=1)
    first = enrolled(api, course_id)
    assert_problem(enroll(api, course_id, CLASSMATE), 409)

    delete(api, first["id"])

    assert enrolled(api, course_id, CLASSMATE)["userId"] == "student-2"


def test_re_enrolling_after_delete_creates_a_new_enrollment(api: ApiHarness, course: str) -> None:
    first = enrolled(api, course)
    delete(api, first["id"])

    again = enrolled(api, course)

    assert again["id"] != first["id"]
    assert (again["status"], again["version"]) == ("ACTIVE", 1)
    assert_problem(get(api, first["id"]), 404)
    assert mine(api) == [again]


@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
def test_course_staff_may_delete_an_enrollment(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrollment = enrolled(api, course)
    assert delete(api, enrollment["id"], caller).status == 204
    assert mine(api) == []


@pytest.mark.parametrize("caller", [CLASSMATE, OTHER_INSTRUCTOR], ids=["other-student", "other-instructor"])
def test_others_deleting_an_enrollment_get_404(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    enrollment = enrolled(api, course)
    assert_problem(delete(api, enrollment["id"], caller), 404)
    assert mine(api) == [enrollment]


# ------------------------------------------------------------------------ suspensions survive a delete
def test_a_suspended_learner_cannot_delete_their_way_out(api: ApiHarness, course: str) -> None:
    """DELETE then POST would start afresh as ACTIVE: the owner may not delete a SUSPENDED enrollment."""
    suspended = set_status(api, enrolled(api, course)["id"], "SUSPENDED")

    problem = assert_problem(delete(api, suspended["id"]), 403)

    assert "suspended" in problem["detail"]
    assert get(api, suspended["id"]).body == suspended
    assert_problem(enroll(api, course), 409)
    assert mine(api) == [suspended]


@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
def test_staff_may_delete_a_suspended_enrollment(api: ApiHarness, course: str, caller: dict[str, str]) -> None:
    suspended = set_status(api, enrolled(api, course)["id"], "SUSPENDED")
    assert delete(api, suspended["id"], caller).status == 204
    assert mine(api) == []


def test_a_suspension_landing_during_the_owners_delete_wins(
    api: ApiHarness, course: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's delete read an ACTIVE enrollment; staff suspend it before the delete is written:
    the delete is conditioned on the version read, fails, and the retry sees the suspension."""
    enrollment = enrolled(api, course)
    repository = api.module("delete_enrollment").enrollments._enrollments
    real_delete = repository.delete

    def suspended_meanwhile(current: Any, **options: Any) -> None:
        monkeypatch.setattr(repository, "delete", real_delete)
        set_status(api, enrollment["id"], "SUSPENDED")
        real_delete(current, **options)

    monkeypatch.setattr(repository, "delete", suspended_meanwhile)

    assert_problem(delete(api, enrollment["id"]), 403)
    assert get(api, enrollment["id"]).body["status"] == "SUSPENDED"


# ----------------------------------------------------------------------- bounded reads per list page
class DynamoCalls:
    """The DynamoDB operations one handler module sends, with their parameters, and how many items
    its Queries read (ScannedCount: what they cost, before any filter)."""

    def __init__(self, api: ApiHarness, function: str, service: str = "enrollments") -> None:
        self._events = getattr(api.module(function), service)._enrollments._table.client.meta.events
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.scanned = 0

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.sent.append((model.name, params))

    def _received(self, parsed: dict[str, Any], **_: Any) -> None:
        self.scanned += parsed.get("ScannedCount", 0)

    def __enter__(self) -> "DynamoCalls":
        self._events.register("before-parameter-build.dynamodb", self._record)
        self._events.register("after-call.dynamodb", self._received)
        return self

    def __exit__(self, *_: Any) -> None:
        self._events.unregister("before-parameter-build.dynamodb", self._record)
        self._events.unregister("after-call.dynamodb", self._received)

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.sent]


def test_a_rare_status_filter_reads_a_bounded_amount_per_page(api: ApiHarness, course: str) -> None:
    """30 learners, one SUSPENDED (sorted last): no request reads more than 3 pages' worth, pages
    may be empty but carry a cursor, and following the cursors finds the one match."""
    from lms import keys

    for n in range(29):
        enrolled(api, course, caller={"user": f"learner-{n:02}", "roles": "student"})
    suspended = set_status(
        api, enrolled(api, course, caller={"user": "zz-last", "roles": "student"})["id"], "SUSPENDED"
    )

    with DynamoCalls(api, "list_course_enrollments") as calls:
        first = page(api, "list_course_enrollments", INSTRUCTOR, {"courseId": course}, status="SUSPENDED", limit=2)
    queries = [params for name, params in calls.sent if name == "Query"]
    assert 0 < calls.scanned <= 3 * 2  # three pages' worth read at most
    assert len(queries) <= keys.INDEX_SHARDS + 1 + 3  # each index partition once, and a few more
    assert (first.body["items"], bool(first.body["nextCursor"])) == ([], True)

    found, pages = all_pages(
        api, "list_course_enrollments", INSTRUCTOR, {"courseId": course}, status="SUSPENDED", limit=2
    )
    assert found == [suspended]
    assert pages >= 5


# ----------------------------------------------------- one call answers "is this user enrolled here?"
def test_course_id_filter_answers_the_callers_enrollment_with_one_get_item(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)
    enrolled(api, make_course(api))  # in another course: not this answer

    with DynamoCalls(api, "list_enrollments") as calls:
        reply = page(api, "list_enrollments", LEARNER, None, courseId=course)

    assert (reply.status, reply.body) == (200, {"items": [enrollment], "nextCursor": None})
    assert calls.operations == ["GetItem"]


def test_course_id_filter_is_empty_when_not_enrolled_and_never_shows_another_user(api: ApiHarness, course: str) -> None:
    enrolled(api, course, CLASSMATE)
    assert mine(api, courseId=course) == []
    assert mine(api, courseId="01JUNKNOWNCOURSE0000000000") == []


def test_course_id_filter_shows_a_dropped_enrollment_and_forgets_a_deleted_one(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)
    dropped = patch(api, enrollment["id"], "DROPPED").body
    assert mine(api, courseId=course) == [dropped]

    delete(api, enrollment["id"])
    assert mine(api, courseId=course) == []


@pytest.mark.parametrize(("status", "found"), [("ACTIVE", True), ("DROPPED", False), ("SUSPENDED", False)])
def test_course_id_and_status_filters_narrow_together(api: ApiHarness, course: str, status: str, found: bool) -> None:
    enrollment = enrolled(api, course)
    assert mine(api, courseId=course, status=status) == ([enrollment] if found else [])
    assert of_course(api, course, userId=LEARNER["user"], status=status) == ([enrollment] if found else [])


def test_admin_checks_another_users_enrollment_but_a_student_may_not(api: ApiHarness, course: str) -> None:
    enrollment = enrolled(api, course)
    assert mine(api, ADMIN, courseId=course, userId=LEARNER["user"]) == [enrollment]
    assert_problem(page(api, "list_enrollments", CLASSMATE, None, courseId=course, userId=LEARNER["user"]), 403)


@pytest.mark.parametrize("query", [{"cursor": "abc.def"}, {"courseId": "no/such id"}], ids=["cursor", "bad-course-id"])
def test_course_id_filter_refuses_a_cursor_and_an_impossible_id(
    api: ApiHarness, course: str, cursor: str, query: dict[str, str]
) -> None:
    status = 400 if "cursor" in query else 422
    request = {"courseId": course, **query}
    if "cursor" in query:
        request["cursor"] = cursor  # a valid cursor, but of the unfiltered listing
    assert_problem(page(api, "list_enrollments", LEARNER, None, **request), status)


@pytest.mark.parametrize("caller", STAFF, ids=STAFF_IDS)
def test_course_staff_check_one_learner_with_a_single_batch_get(
    api: ApiHarness, course: str, caller: dict[str, str]
) -> None:
    enrollment = enrolled(api, course)
    enrolled(api, course, CLASSMATE)

    with DynamoCalls(api, "list_course_enrollments") as calls:
        reply = page(api, "list_course_enrollments", caller, {"courseId": course}, userId=LEARNER["user"])

    assert (reply.status, reply.body) == (200, {"items": [enrollment], "nextCursor": None})
    assert calls.operations == ["BatchGetItem"]
    assert of_course(api, course, caller, userId="nobody") == []


@pytest.mark.parametrize(
    ("caller", "status"),
    [(LEARNER, 403), (CLASSMATE, 403), (OTHER_INSTRUCTOR, 403)],
    ids=["the-learner", "another-student", "another-instructor"],
)
def test_only_course_staff_check_a_learner_in_the_course(
    api: ApiHarness, course: str, caller: dict[str, str], status: int
) -> None:
    enrolled(api, course)
    reply = page(api, "list_course_enrollments", caller, {"courseId": course}, userId=LEARNER["user"])
    assert_problem(reply, status)


def test_checking_a_learner_in_an_unknown_course_is_404(api: ApiHarness) -> None:
    reply = page(api, "list_course_enrollments", ADMIN, {"courseId": "01JUNKNOWN"}, userId=LEARNER["user"])
    assert_problem(reply, 404)


# ------------------------------------------------------------------ any `sub` is a usable user id
@pytest.mark.parametrize("user_id", ["CN=Ann,OU=Staff", "José", "a#b", "x" * 256, "USER#student-1"])
def test_a_user_with_any_sub_enrolls_and_is_found_by_every_read(api: ApiHarness, course: str, user_id: str) -> None:
    learner = {"user": user_id, "roles": "student"}
    mine_before = enrolled(api, course)  # LEARNER, whose keys a crafted sub must never reach

    enrollment = enrolled(api, course, learner)

    assert enrollment["userId"] == user_id
    assert mine(api, learner) == [enrollment]
    assert mine(api, learner, courseId=course) == [enrollment]
    assert of_course(api, course, userId=user_id) == [enrollment]
    assert get(api, enrollment["id"], learner).body == enrollment
    assert mine(api) == [mine_before]
    assert delete(api, enrollment["id"], learner).status == 204


@pytest.mark.parametrize(
    ("function", "sample"),
    [("list_enrollments", "check_enrollment.json"), ("list_course_enrollments", "check_course_enrollment.json")],
)
def test_the_enrollment_check_samples_in_events_answer_one_item(
    api: ApiHarness, seeded: SeededCourse, lambda_context: Any, function: str, sample: str
) -> None:
    """The events `sam local invoke` uses: student-1's enrollment in the seeded course, found by key."""
    seeded.enroll()

    response = api.module(function).lambda_handler(load_event(sample), lambda_context)

    assert response["statusCode"] == 200, response["body"]
    assert [item["id"] for item in json.loads(response["body"])["items"]] == [SEED["enrollment"]]
