"""Course settings over real HTTP (local gateway, authorizer, handlers, DynamoDB Local):
PATCH /courses/{courseId}, enrollment windows, and capacity changes racing enrollments."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.conftest import Lms, User

pytestmark = pytest.mark.integration

PAST = "2020-01-01T00:00:00.000Z"
FUTURE = "2099-01-01T00:00:00.000Z"


def _patch(lms: Lms, caller: User, course_id: str, body: dict[str, Any]) -> requests.Response:
    return lms.api.patch(f"/courses/{course_id}", caller.token, json=body)


def _enroll(lms: Lms, caller: User, course_id: str, user_id: str | None = None) -> requests.Response:
    body = {"courseId": course_id} | ({"userId": user_id} if user_id else {})
    return lms.api.post("/enrollments", caller.token, json=body)


def _closed(lms: Lms, response: requests.Response) -> None:
    assert lms.problem(response, 403)["type"].endswith("/enrollment-closed")


def test_staff_change_a_course_and_others_cannot(lms: Lms) -> None:
    """GIVEN a course, WHEN its instructor PATCHes it, THEN 200 with the whole course changed as GET
    shows it; a student or another instructor is 403, an unknown course 404, bad bodies 422."""
    teacher, other, student = lms.user("teacher", "instructor"), lms.user("other", "instructor"), lms.user()
    course = lms.create_course(teacher, 2, capacity=3, enrollmentClosesAt=FUTURE)
    changes = {"title": "Renamed", "description": None, "accessDays": 30, "enrollmentOpensAt": PAST}

    updated = lms.expect(200, _patch(lms, teacher, course["id"], changes))

    assert {name: updated[name] for name in changes} == changes
    assert (updated["modules"], updated["enrollmentClosesAt"], updated["capacity"]) == (course["modules"], FUTURE, 3)
    assert lms.expect(200, lms.api.get(f"/courses/{course['id']}", student.token)) == updated
    for caller in (student, other):
        lms.problem(_patch(lms, caller, course["id"], {"title": "Mine"}), 403)
    lms.problem(_patch(lms, teacher, f"no-such-{uuid.uuid4().hex[:8]}", {"title": "X"}), 404)
    lms.problem(_patch(lms, teacher, course["id"], {"instructorIds": [student.id]}), 422)
    lms.problem(_patch(lms, teacher, course["id"], {"enrollmentOpensAt": "2100-01-01T00:00:00Z"}), 422)
    assert lms.expect(200, lms.api.get(f"/courses/{course['id']}", student.token)) == updated


def test_learners_enroll_only_within_the_window_and_staff_any_time(lms: Lms) -> None:
    """GIVEN a course whose enrollment closed, WHEN a student enrolls, THEN 403 enrollment-closed;
    its instructor still enrolls them; once the window is reopened, a student enrolls themselves."""
    teacher, late, enrolled_by_staff = lms.user("teacher", "instructor"), lms.user("late"), lms.user("staffed")
    course_id = lms.create_course(teacher, 1, enrollmentOpensAt=PAST, enrollmentClosesAt=PAST)["id"]

    _closed(lms, _enroll(lms, late, course_id))
    assert lms.expect(201, _enroll(lms, teacher, course_id, enrolled_by_staff.id))["userId"] == enrolled_by_staff.id

    lms.expect(200, _patch(lms, teacher, course_id, {"enrollmentOpensAt": FUTURE, "enrollmentClosesAt": None}))
    _closed(lms, _enroll(lms, late, course_id))
    lms.expect(200, _patch(lms, teacher, course_id, {"enrollmentOpensAt": PAST}))
    lms.enroll(late, course_id)


def test_a_learner_who_dropped_cannot_return_after_the_window(lms: Lms) -> None:
    teacher, learner = lms.user("teacher", "instructor"), lms.user()
    course_id = lms.create_course(teacher, 1)["id"]
    enrollment = lms.enroll(learner, course_id)
    lms.expect(200, lms.api.patch(f"/enrollments/{enrollment['id']}", learner.token, json={"status": "DROPPED"}))
    lms.expect(200, _patch(lms, teacher, course_id, {"enrollmentClosesAt": PAST}))

    _closed(lms, lms.api.patch(f"/enrollments/{enrollment['id']}", learner.token, json={"status": "ACTIVE"}))
    _closed(lms, _enroll(lms, learner, course_id))


def test_capacity_lowered_while_learners_enroll_keeps_seats_exact(lms: Lms) -> None:
    """GIVEN a 5-seat course, WHEN 10 learners enroll in parallel while its instructor lowers the
    capacity to 3, THEN at most 5 are admitted, none is evicted, and the seat counter stays exact:
    once they all drop, exactly 3 new learners fit."""
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 1, capacity=5)["id"]
    learners = [lms.user(f"racer{n}") for n in range(10)]

    with ThreadPoolExecutor(max_workers=11) as pool:
        lowered = pool.submit(_patch, lms, teacher, course_id, {"capacity": 3})
        replies = list(pool.map(lambda learner: _enroll(lms, learner, course_id), learners))
    assert lms.expect(200, lowered.result())["capacity"] == 3

    admitted = [reply.json() for reply in replies if reply.status_code == 201]
    assert {reply.status_code for reply in replies} <= {201, 409}
    assert 1 <= len(admitted) <= 5
    for learner in learners:
        mine = lms.expect(200, lms.api.get("/enrollments", learner.token, params={"courseId": course_id}))["items"]
        assert [e["status"] for e in mine] == (["ACTIVE"] if any(e["userId"] == learner.id for e in admitted) else [])
    by_id = {learner.id: learner for learner in learners}
    for enrollment in admitted:
        owner = by_id[enrollment["userId"]]
        lms.expect(200, lms.api.patch(f"/enrollments/{enrollment['id']}", owner.token, json={"status": "DROPPED"}))
    newcomers = [lms.user(f"new{n}") for n in range(4)]
    assert [_enroll(lms, learner, course_id).status_code for learner in newcomers] == [201, 201, 201, 409]


def test_a_capacity_is_refused_on_a_course_that_does_not_count_seats(lms: Lms) -> None:
    """GIVEN an uncapped course with a learner, WHEN its instructor sets a capacity, THEN 409
    seats-not-counted; a capped course whose capacity is cleared admits anyone, and is refused too."""
    teacher = lms.user("teacher", "instructor")
    uncapped = lms.create_course(teacher, 1)["id"]
    lms.enroll(lms.user(), uncapped)

    problem = lms.problem(_patch(lms, teacher, uncapped, {"capacity": 10}), 409)
    assert problem["type"].endswith("/seats-not-counted")

    capped = lms.create_course(teacher, 1, capacity=1)["id"]
    lms.enroll(lms.user(), capped)
    assert lms.expect(200, _patch(lms, teacher, capped, {"capacity": None}))["capacity"] is None
    lms.enroll(lms.user(), capped)
    lms.problem(_patch(lms, teacher, capped, {"capacity": 5}), 409)
