"""Course settings (PATCH /courses/{courseId}, enrollment window, access days, capacity changes) and
the enrollment window on a learner's own enrollment and return."""

from typing import Any

import pytest

from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    OTHER_INSTRUCTOR,
    ApiHarness,
    Reply,
    assert_problem,
    ok,
)
from tests.conftest import OTHER_STUDENT as CLASSMATE
from tests.conftest import STUDENT as LEARNER

OPENS = "2026-12-01T00:00:00.000Z"
CLOSES = "2026-12-31T23:59:59.999Z"
OUTLINE = {"title": "Course", "modules": [{"title": "M", "lessons": [{"title": "One"}]}]}


class Clock:
    """The enrollment service's clock, set by the test."""

    def __init__(self, now: str = "2026-12-15T12:00:00.000Z") -> None:
        self.now = now

    def __call__(self) -> str:
        return self.now


@pytest.fixture
def clock(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> Clock:
    from lms import container

    at = Clock()
    service = container.enrollment_service(clock=at)
    api.wire(monkeypatch, "enrollments", service, "create_enrollment", "update_enrollment")
    return at


# ------------------------------------------------------------------------------------------ helpers
def create(api: ApiHarness, caller: dict[str, str] = INSTRUCTOR, **settings: Any) -> dict[str, Any]:
    course: dict[str, Any] = ok(api.call("create_course", **caller, body=OUTLINE | settings), 201)
    return course


def patch(api: ApiHarness, course_id: str, body: Any, caller: dict[str, str] = INSTRUCTOR) -> Reply:
    return api.call("update_course", **caller, path={"courseId": course_id}, body=body)


def get(api: ApiHarness, course_id: str) -> dict[str, Any]:
    course: dict[str, Any] = ok(api.call("get_course", path={"courseId": course_id}))
    return course


def enroll(api: ApiHarness, course_id: str, caller: dict[str, str] = LEARNER, user_id: str | None = None) -> Reply:
    body = {"courseId": course_id} | ({"userId": user_id} if user_id else {})
    return api.call("create_enrollment", **caller, body=body)


def set_status(api: ApiHarness, enrollment_id: str, status: str, caller: dict[str, str] = LEARNER) -> Reply:
    return api.call("update_enrollment", **caller, path={"id": enrollment_id}, body={"status": status})


def learner(n: int) -> dict[str, str]:
    return {"user": f"s{n}", "roles": "student"}


def seats_taken(dynamodb: Any, course_id: str) -> Any:
    item = dynamodb.get_item(TableName="lms-dev", Key={"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}})
    counter = item["Item"].get("seatsTaken")
    return int(counter["N"]) if counter else None


def closed(reply: Reply) -> None:
    problem = assert_problem(reply, 403)
    assert problem["type"].endswith("/enrollment-closed")


# ------------------------------------------------------------------------------- creating a course
def test_a_course_is_created_with_its_settings_and_returns_them(api: ApiHarness) -> None:
    """GIVEN a window given with an offset, WHEN the course is created, THEN it is stored in UTC with
    a Z, and GET returns the same settings."""
    created = create(api, enrollmentOpensAt="2026-12-01T01:00:00+01:00", enrollmentClosesAt=CLOSES, accessDays=90)

    expected = {"enrollmentOpensAt": OPENS, "enrollmentClosesAt": CLOSES, "accessDays": 90}
    assert {name: created[name] for name in expected} == expected
    assert {name: get(api, created["id"])[name] for name in expected} == expected


def test_a_course_without_settings_returns_nulls(api: ApiHarness) -> None:
    course = get(api, create(api)["id"])

    assert (course["enrollmentOpensAt"], course["enrollmentClosesAt"], course["accessDays"]) == (None, None, None)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"accessDays": 0}, "accessDays"),
        ({"accessDays": 3651}, "accessDays"),
        ({"enrollmentOpensAt": "tomorrow"}, "enrollmentOpensAt"),
        ({"enrollmentOpensAt": "2026-12-01T00:00:00"}, "enrollmentOpensAt"),  # no time zone
        # Before year 1 / after 9999 once in UTC (make fuzz found the first one as a 500).
        ({"enrollmentClosesAt": "0001-01-01T00:00:00+05:06"}, "enrollmentClosesAt"),
        ({"enrollmentOpensAt": "9999-12-31T23:00:00-05:00"}, "enrollmentOpensAt"),
        ({"enrollmentOpensAt": CLOSES, "enrollmentClosesAt": OPENS}, ""),
    ],
)
def test_invalid_settings_at_creation_are_422(api: ApiHarness, settings: dict[str, Any], field: str) -> None:
    problem = assert_problem(api.call("create_course", **INSTRUCTOR, body=OUTLINE | settings), 422)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_window_of_one_instant_is_allowed(api: ApiHarness) -> None:
    assert create(api, enrollmentOpensAt=OPENS, enrollmentClosesAt=OPENS)["enrollmentClosesAt"] == OPENS


# --------------------------------------------------------------------------------- PATCH /courses
@pytest.mark.parametrize("caller", [INSTRUCTOR, ADMIN], ids=["course-instructor", "admin"])
def test_staff_change_a_course_and_get_the_whole_course(api: ApiHarness, caller: dict[str, str]) -> None:
    """GIVEN a course with an outline, WHEN its staff change its settings, THEN the answer is the
    whole course (outline included) with the changes, as GET returns it afterwards."""
    course = create(api, description="Old")
    changes = {"title": "New", "description": "Fresh", "enrollmentOpensAt": OPENS, "accessDays": 30}

    updated = ok(patch(api, course["id"], changes, caller))

    assert {name: updated[name] for name in changes} == changes
    assert updated["modules"] == course["modules"]
    assert updated["updatedAt"] >= course["updatedAt"]
    assert get(api, course["id"]) == updated


def test_null_clears_an_optional_setting_and_absent_fields_stay(api: ApiHarness) -> None:
    course = create(api, description="Kept?", enrollmentOpensAt=OPENS, enrollmentClosesAt=CLOSES, accessDays=7)

    updated = ok(patch(api, course["id"], {"description": None, "enrollmentOpensAt": None, "accessDays": None}))

    assert (updated["description"], updated["enrollmentOpensAt"], updated["accessDays"]) == (None, None, None)
    assert (updated["title"], updated["enrollmentClosesAt"]) == ("Course", CLOSES)


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"title": ""},
        {"instructorIds": ["x"]},
        {"modules": []},
        {},
        {"capacity": 0},
        {"accessDays": 3651},
        {"enrollmentClosesAt": "31/12/2026"},
        {"enrollmentClosesAt": "0001-01-01T00:00:00+05:06"},
        {"enrollmentOpensAt": CLOSES, "enrollmentClosesAt": OPENS},
    ],
    ids=[
        "null-title",
        "empty-title",
        "unknown",
        "modules",
        "empty",
        "capacity-0",
        "days",
        "bad-time",
        "before-year-1-in-utc",
        "inverted",
    ],
)
def test_an_invalid_update_is_422_and_changes_nothing(api: ApiHarness, body: dict[str, Any]) -> None:
    course = create(api)

    assert_problem(patch(api, course["id"], body), 422)

    assert get(api, course["id"]) == course


@pytest.mark.parametrize(
    ("stored", "body"),
    [
        ({"enrollmentClosesAt": OPENS}, {"enrollmentOpensAt": CLOSES}),
        ({"enrollmentOpensAt": CLOSES}, {"enrollmentClosesAt": OPENS}),
    ],
    ids=["opens-after-stored-close", "closes-before-stored-open"],
)
def test_a_window_inverted_with_the_stored_bound_is_422(
    api: ApiHarness, stored: dict[str, str], body: dict[str, str]
) -> None:
    course = create(api, **stored)

    problem = assert_problem(patch(api, course["id"], body), 422)

    assert "enrollmentOpensAt is after enrollmentClosesAt" in problem["detail"]
    assert get(api, course["id"]) == course


def test_a_bound_moved_with_the_other_cleared_is_accepted(api: ApiHarness) -> None:
    course = create(api, enrollmentClosesAt=OPENS)

    updated = ok(patch(api, course["id"], {"enrollmentOpensAt": CLOSES, "enrollmentClosesAt": None}))

    assert (updated["enrollmentOpensAt"], updated["enrollmentClosesAt"]) == (CLOSES, None)


@pytest.mark.parametrize("caller", [LEARNER, OTHER_INSTRUCTOR], ids=["student", "instructor-of-another-course"])
def test_others_are_refused_403_and_nothing_changes(api: ApiHarness, caller: dict[str, str]) -> None:
    course = create(api)

    assert_problem(patch(api, course["id"], {"title": "Mine"}, caller), 403)

    assert get(api, course["id"]) == course


@pytest.mark.parametrize("caller", [LEARNER, INSTRUCTOR, ADMIN], ids=["student", "instructor", "admin"])
def test_an_unknown_course_is_404_for_everyone(api: ApiHarness, caller: dict[str, str]) -> None:
    assert_problem(patch(api, "no-such-course", {"title": "X"}, caller), 404)


def test_a_learner_listed_as_instructor_without_the_role_may_not_change_it(api: ApiHarness) -> None:
    """instructorIds alone is not the instructor role (docs/API.md, roles)."""
    course = create(api, instructorIds=[LEARNER["user"]])

    assert_problem(patch(api, course["id"], {"title": "Mine"}, LEARNER), 403)


def test_a_write_refused_by_a_change_that_no_longer_shows_is_503_to_retry(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a course whose conditional write is refused (a concurrent change), WHEN the head read
    after it shows nothing to refuse, THEN 503: the client retries, nothing was changed."""
    from lms.repositories.courses import CourseRepository

    course = create(api)
    monkeypatch.setattr(CourseRepository, "update_settings", lambda *args, **kwargs: False)

    assert_problem(patch(api, course["id"], {"title": "Later"}), 503)


# ------------------------------------------------------------------------------------ capacity
def test_lowering_capacity_below_the_enrollments_evicts_no_one_and_stops_new_ones(
    api: ApiHarness, dynamodb: Any
) -> None:
    """GIVEN 3 learners in a 3-seat course, WHEN staff lower the capacity to 1, THEN all 3 stay
    ACTIVE, a fourth is 409, and only when 2 have dropped... still none fits until a third leaves."""
    course_id = create(api, capacity=3)["id"]
    ids = [ok(enroll(api, course_id, learner(n)), 201)["id"] for n in range(3)]

    assert ok(patch(api, course_id, {"capacity": 1}))["capacity"] == 1

    statuses = [ok(api.call("get_enrollment", **learner(n), path={"id": i}))["status"] for n, i in enumerate(ids)]
    assert statuses == ["ACTIVE"] * 3
    assert_problem(enroll(api, course_id, learner(3)), 409)
    ok(set_status(api, ids[0], "DROPPED", learner(0)))
    ok(set_status(api, ids[1], "DROPPED", learner(1)))
    assert_problem(enroll(api, course_id, learner(3)), 409)  # 1 seat taken of 1
    ok(set_status(api, ids[2], "DROPPED", learner(2)))
    ok(enroll(api, course_id, learner(3)), 201)
    assert seats_taken(dynamodb, course_id) == 1


def test_raising_capacity_admits_more(api: ApiHarness, dynamodb: Any) -> None:
    course_id = create(api, capacity=1)["id"]
    ok(enroll(api, course_id, learner(0)), 201)
    assert_problem(enroll(api, course_id, learner(1)), 409)

    ok(patch(api, course_id, {"capacity": 2}))

    ok(enroll(api, course_id, learner(1)), 201)
    assert_problem(enroll(api, course_id, learner(2)), 409)
    assert seats_taken(dynamodb, course_id) == 2


def test_clearing_a_capacity_uncaps_the_course_and_a_new_one_counts_its_seats_first(
    api: ApiHarness, dynamodb: Any
) -> None:
    """GIVEN a full one-seat course, WHEN staff clear its capacity, THEN anyone may enroll and the seat
    counter is gone; a capacity given again is 200, and holds enrollments (409 seats-being-counted)
    until the seats held are counted (tests/unit/test_seat_counts.py)."""
    course_id = create(api, capacity=1)["id"]
    ok(enroll(api, course_id, learner(0)), 201)

    assert ok(patch(api, course_id, {"capacity": None}))["capacity"] is None

    ok(enroll(api, course_id, learner(1)), 201)
    assert seats_taken(dynamodb, course_id) is None
    assert ok(patch(api, course_id, {"capacity": 5}))["capacity"] == 5
    assert seats_taken(dynamodb, course_id) == 0
    problem = assert_problem(enroll(api, course_id, learner(2)), 409)
    assert problem["type"].endswith("/seats-being-counted")


def test_an_enrollment_that_read_the_old_capacity_cannot_pass_the_new_one(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, dynamodb: Any
) -> None:
    """GIVEN a 2-seat course with 1 learner, WHEN staff lower the capacity to 1 between an
    enrollment's read of the course head (capacity 2) and its write, THEN that enrollment is 409:
    the seat is taken under the condition of the capacity stored when it commits."""
    from lms import container
    from lms.repositories.courses import CourseRepository

    course_id = create(api, capacity=2)["id"]
    ok(enroll(api, course_id, learner(0)), 201)
    read_head = CourseRepository.get_versioned_head

    def head_then_lowered(self: CourseRepository, *args: Any, **kwargs: Any) -> Any:
        head = read_head(self, *args, **kwargs)
        ok(patch(api, course_id, {"capacity": 1}))
        return head

    service = container.enrollment_service()
    monkeypatch.setattr(CourseRepository, "get_versioned_head", head_then_lowered)
    api.wire(monkeypatch, "enrollments", service, "create_enrollment")

    assert_problem(enroll(api, course_id, learner(1)), 409)
    assert seats_taken(dynamodb, course_id) == 1


# ------------------------------------------------------------------------------- enrollment window
@pytest.mark.parametrize(
    ("now", "admitted"),
    [
        ("2026-11-30T23:59:59.999Z", False),
        (OPENS, True),
        ("2026-12-15T12:00:00.000Z", True),
        (CLOSES, True),
        ("2027-01-01T00:00:00.000Z", False),
    ],
    ids=["just-before", "at-opening", "inside", "at-closing", "just-after"],
)
def test_a_learner_enrolls_themselves_only_within_the_window(
    api: ApiHarness, clock: Clock, now: str, admitted: bool
) -> None:
    course_id = create(api, enrollmentOpensAt=OPENS, enrollmentClosesAt=CLOSES)["id"]
    clock.now = now

    reply = enroll(api, course_id)

    if admitted:
        ok(reply, 201)
    else:
        closed(reply)


@pytest.mark.parametrize("settings", [{"enrollmentOpensAt": OPENS}, {"enrollmentClosesAt": CLOSES}])
def test_a_window_open_on_one_side_bounds_only_the_other(
    api: ApiHarness, clock: Clock, settings: dict[str, str]
) -> None:
    course_id = create(api, **settings)["id"]
    clock.now = "2026-06-01T00:00:00.000Z" if "enrollmentOpensAt" in settings else "2027-06-01T00:00:00.000Z"
    closed(enroll(api, course_id))
    clock.now = "2027-06-01T00:00:00.000Z" if "enrollmentOpensAt" in settings else "2026-06-01T00:00:00.000Z"
    ok(enroll(api, course_id), 201)


@pytest.mark.parametrize(
    ("caller", "user_id"),
    [(INSTRUCTOR, CLASSMATE["user"]), (ADMIN, CLASSMATE["user"]), (INSTRUCTOR, None), (ADMIN, None)],
    ids=["instructor-enrolls-learner", "admin-enrolls-learner", "instructor-self", "admin-self"],
)
def test_staff_are_never_limited_by_the_window(
    api: ApiHarness, clock: Clock, caller: dict[str, str], user_id: str | None
) -> None:
    course_id = create(api, enrollmentOpensAt=OPENS, enrollmentClosesAt=CLOSES)["id"]
    clock.now = "2027-02-01T00:00:00.000Z"

    ok(enroll(api, course_id, caller, user_id), 201)


def test_an_instructor_of_another_course_is_a_learner_here(api: ApiHarness, clock: Clock) -> None:
    course_id = create(api, enrollmentClosesAt=CLOSES)["id"]
    clock.now = "2027-02-01T00:00:00.000Z"

    closed(enroll(api, course_id, OTHER_INSTRUCTOR))


def test_a_window_set_later_closes_enrollment(api: ApiHarness, clock: Clock) -> None:
    course_id = create(api)["id"]
    ok(patch(api, course_id, {"enrollmentClosesAt": "2026-12-01T00:00:00.000Z"}))

    closed(enroll(api, course_id))
    ok(patch(api, course_id, {"enrollmentClosesAt": None}))
    ok(enroll(api, course_id), 201)


def test_a_dropped_learner_returns_only_within_the_window_but_may_drop_after_it(api: ApiHarness, clock: Clock) -> None:
    """GIVEN a learner who enrolled in the window, WHEN it has closed, THEN they may still drop, but
    coming back (POST /enrollments or PATCH ACTIVE) is 403 enrollment-closed and changes nothing;
    their course's staff may still make them ACTIVE."""
    course_id = create(api, enrollmentClosesAt=CLOSES)["id"]
    enrollment = ok(enroll(api, course_id), 201)
    clock.now = "2027-01-02T00:00:00.000Z"
    dropped = ok(set_status(api, enrollment["id"], "DROPPED"))

    closed(enroll(api, course_id))
    closed(set_status(api, enrollment["id"], "ACTIVE"))

    assert ok(api.call("get_enrollment", **LEARNER, path={"id": enrollment["id"]})) == dropped
    assert ok(set_status(api, enrollment["id"], "ACTIVE", INSTRUCTOR))["status"] == "ACTIVE"


def test_a_dropped_learner_returns_within_the_window(api: ApiHarness, clock: Clock) -> None:
    course_id = create(api, enrollmentClosesAt=CLOSES)["id"]
    enrollment = ok(enroll(api, course_id), 201)
    ok(set_status(api, enrollment["id"], "DROPPED"))

    assert ok(set_status(api, enrollment["id"], "ACTIVE"))["status"] == "ACTIVE"
