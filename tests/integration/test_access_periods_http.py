"""Access periods over real HTTP (local gateway, authorizer, handlers, DynamoDB Local, the stream
poller, the local event bus): the write path's 403 /access-ended, who may set `accessEndsAt`, the
scheduled function expiring an enrollment (invoked as the schedule would, through the local
runtime's function invocation, under its own template policy), and, when the local runtime runs the
template's schedules by itself, the expiry within 60 s without any call."""

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from local.dev import LocalApi
from local.polling import poll_until
from tests.integration.conftest import Lms, User

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAST = "2020-01-01T00:00:00.000Z"
FUTURE = "2099-01-01T00:00:00.000Z"
SCHEDULED_EVENT = json.loads((ROOT / "events" / "expire_access.json").read_text(encoding="utf-8"))


def _runs_schedules() -> bool:
    """Whether the local runtime runs the template's ScheduleV2 events by itself (another change
    brings that to local/); until then the "by itself" test is skipped and says so."""
    return any("ScheduleV2" in path.read_text(encoding="utf-8") for path in (ROOT / "local").glob("*.py"))


def _patch(lms: Lms, caller: User, enrollment_id: str, body: dict[str, Any]) -> requests.Response:
    return lms.api.patch(f"/enrollments/{enrollment_id}", caller.token, json=body)


def _enrollment(lms: Lms, caller: User, enrollment_id: str) -> dict[str, Any]:
    return lms.expect(200, lms.api.get(f"/enrollments/{enrollment_id}", caller.token))


def _access_ended(lms: Lms, response: requests.Response) -> dict[str, Any]:
    problem = lms.problem(response, 403)
    assert problem["type"].endswith("/access-ended"), problem
    return problem


def _expired(lms: Lms, teacher: User, enrollment_id: str, timeout: float) -> dict[str, Any]:
    found: dict[str, Any] = poll_until(
        lambda: _enrollment(lms, teacher, enrollment_id),
        lambda enrollment: enrollment["status"] == "EXPIRED",
        timeout=timeout,
        interval=0.2,
        what=f"enrollment {enrollment_id} EXPIRED",
    )
    return found


def _bus_events(local_api: LocalApi, user_id: str) -> list[dict[str, Any]]:
    path = local_api.bus.events_path
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["detail"].get("userId") == user_id]


def test_access_days_set_the_end_and_only_staff_change_it(lms: Lms) -> None:
    """GIVEN a course with accessDays, WHEN a student enrolls, THEN accessEndsAt is enrolledAt plus
    those days; the student may not set it (403, on POST and PATCH), its instructor may."""
    teacher, student = lms.user("teacher", "instructor"), lms.user()
    course_id = lms.create_course(teacher, 1, accessDays=10)["id"]

    enrollment = lms.enroll(student, course_id)
    assert enrollment["accessEndsAt"][:10] > enrollment["enrolledAt"][:10]
    lms.problem(lms.api.post("/enrollments", student.token, json={"courseId": course_id, "accessEndsAt": FUTURE}), 403)
    lms.problem(_patch(lms, student, enrollment["id"], {"accessEndsAt": FUTURE}), 403)

    changed = lms.expect(200, _patch(lms, teacher, enrollment["id"], {"accessEndsAt": FUTURE}))
    assert (changed["accessEndsAt"], changed["version"]) == (FUTURE, 2)
    other = lms.user("other")
    body = {"courseId": course_id, "userId": other.id, "accessEndsAt": None}
    assert lms.expect(201, lms.api.post("/enrollments", teacher.token, json=body))["accessEndsAt"] is None


def test_after_the_end_the_learners_writes_are_refused_at_once(lms: Lms) -> None:
    """GIVEN an enrollment whose access staff end in the past, WHEN the learner records or edits
    progress, THEN 403 /access-ended at once (before anything expired it); staff still edit."""
    teacher, student = lms.user("teacher", "instructor"), lms.user()
    course = lms.create_course(teacher, 2)
    first, second = lms.lesson_ids(course)
    enrollment = lms.enroll(student, course["id"])
    progress = lms.complete(student, first)

    lms.expect(200, _patch(lms, teacher, enrollment["id"], {"accessEndsAt": PAST}))

    _access_ended(lms, lms.api.post("/progress", student.token, json={"lessonId": second, "action": "view"}))
    _access_ended(lms, lms.api.patch(f"/progress/{progress['id']}", student.token, json={"position": 2}))
    _access_ended(lms, _patch(lms, student, enrollment["id"], {"status": "DROPPED"}))
    lms.expect(200, lms.api.patch(f"/progress/{progress['id']}", teacher.token, json={"position": 3}))


def test_the_scheduled_function_expires_it_with_event_and_aggregate(lms: Lms, local_api: LocalApi) -> None:
    """GIVEN an ACTIVE enrollment whose access ended, WHEN the scheduled function runs (as the
    schedule invokes it), THEN it is EXPIRED (version + 1), EnrollmentStatusChanged is on the bus,
    the aggregate counts it in expired and not in active; the student may not change it, enrolling
    again is 409 with its id; its instructor moving the end later makes it ACTIVE again."""
    teacher, student, staying = lms.user("teacher", "instructor"), lms.user(), lms.user("staying")
    course_id = lms.create_course(teacher, 2, capacity=2)["id"]
    enrollment = lms.enroll(student, course_id)
    lms.enroll(staying, course_id)
    lms.expect(200, _patch(lms, teacher, enrollment["id"], {"accessEndsAt": PAST}))

    run = local_api.lambdas.invoke("ExpireAccessFunction", SCHEDULED_EVENT)

    assert run["expired"] >= 1, run
    expired = _expired(lms, teacher, enrollment["id"], timeout=5)
    assert expired["version"] == 3
    lms.wait_for_summary(teacher, course_id, lambda a: (a["active"], a["expired"]) == (1, 1))
    changed = poll_until(
        lambda: [e for e in _bus_events(local_api, student.id) if e["detail-type"] == "EnrollmentStatusChanged"],
        lambda events: len(events) >= 1,
        timeout=15,
        what="EnrollmentStatusChanged on the bus",
    )
    assert (changed[0]["detail"]["status"], changed[0]["detail"]["previousStatus"]) == ("EXPIRED", "ACTIVE")

    lms.problem(_patch(lms, student, enrollment["id"], {"status": "DROPPED"}), 403)
    lms.problem(lms.api.delete(f"/enrollments/{enrollment['id']}", student.token), 403)
    again = lms.problem(lms.api.post("/enrollments", student.token, json={"courseId": course_id}), 409)
    assert again["enrollmentId"] == enrollment["id"]
    listed = lms.expect(200, lms.api.get("/enrollments", student.token, params={"status": "EXPIRED"}))["items"]
    assert [e["id"] for e in listed] == [enrollment["id"]]

    back = lms.expect(200, _patch(lms, teacher, enrollment["id"], {"accessEndsAt": FUTURE}))
    assert (back["status"], back["version"]) == ("ACTIVE", 4)
    lms.wait_for_summary(teacher, course_id, lambda a: (a["active"], a["expired"]) == (2, 0))


def test_expiring_frees_the_seat_of_a_full_course(lms: Lms, local_api: LocalApi) -> None:
    """GIVEN a full course of one seat whose learner's access ended, WHEN the function runs, THEN the
    seat is free for another learner, and giving the first one access again is 409 (full)."""
    teacher, first, second = lms.user("teacher", "instructor"), lms.user("first"), lms.user("second")
    course_id = lms.create_course(teacher, 1, capacity=1)["id"]
    enrollment = lms.enroll(first, course_id)
    lms.enroll(second, course_id, status=409)
    lms.expect(200, _patch(lms, teacher, enrollment["id"], {"accessEndsAt": PAST}))

    local_api.lambdas.invoke("ExpireAccessFunction", SCHEDULED_EVENT)
    _expired(lms, teacher, enrollment["id"], timeout=5)

    lms.enroll(second, course_id)
    lms.problem(_patch(lms, teacher, enrollment["id"], {"accessEndsAt": None}), 409)


@pytest.mark.skipif(
    not _runs_schedules(),
    reason="the local runtime does not run ScheduleV2 events yet (another branch adds it): wire after merging",
)
def test_an_ended_access_expires_within_60_s_by_itself(lms: Lms) -> None:
    """GIVEN an ACTIVE enrollment whose access staff end now, WHEN nobody calls anything, THEN within
    60 s it is EXPIRED: the local runtime runs the template's schedule as AWS would."""
    teacher, student = lms.user("teacher", "instructor"), lms.user()
    course_id = lms.create_course(teacher, 1)["id"]
    enrollment = lms.enroll(student, course_id)
    lms.expect(200, _patch(lms, teacher, enrollment["id"], {"accessEndsAt": PAST}))

    # A run starts at most 60 s after the write; 5 s more for the run itself on a loaded machine.
    _expired(lms, teacher, enrollment["id"], timeout=65)
