"""Roster enrollment over real HTTP (local gateway, authorizer, handlers, DynamoDB Local, the stream
poller and the event bus): a roster of 100 in one call, rosters racing each other and single
enrollments on a capped course, and the events, summaries and aggregate of a rostered learner
matching a learner enrolled alone."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.dev import LocalApi
from local.polling import poll_until
from tests.integration.conftest import Lms, User

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 20


def _roster(lms: Lms, caller: User, course_id: str, user_ids: list[str], key: str | None = None) -> requests.Response:
    body = {"learners": [{"userId": user_id} for user_id in user_ids]}
    headers = {"Idempotency-Key": key} if key else None
    return lms.api.post(f"/courses/{course_id}/enrollments", caller.token, json=body, headers=headers)


def _items(lms: Lms, response: requests.Response) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = lms.expect(200, response)["items"]
    return found


def _course_enrollments(lms: Lms, staff: User, course_id: str) -> list[dict[str, Any]]:
    """Every enrollment of the course, following nextCursor to the end."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        page = lms.expect(200, lms.api.get(f"/enrollments/course/{course_id}", staff.token, params=params))
        found += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return found


def _seats_taken(ddb: Any, table_name: str, course_id: str) -> int:
    key = {"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}}
    item = ddb.get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"]
    return int(item["seatsTaken"]["N"])


def _bus_events(local_api: LocalApi, user_id: str) -> list[dict[str, Any]]:
    path = local_api.bus.events_path
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [event for event in map(json.loads, lines) if event["detail"].get("userId") == user_id]


def test_a_roster_of_100_is_one_call_and_the_aggregate_follows(lms: Lms) -> None:
    """GIVEN a course, WHEN its instructor enrolls 100 learners in one call, THEN 100 `created` in
    request order, each readable, the course lists them all, and its aggregate counts 100 active."""
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 2)["id"]
    learners = [f"class-{uuid.uuid4().hex[:8]}-{n:03}" for n in range(100)]

    items = _items(lms, _roster(lms, teacher, course_id, learners))

    assert [(item["userId"], item["outcome"]) for item in items] == [(user_id, "created") for user_id in learners]
    assert {item["enrollment"]["enrolledBy"] for item in items} == {teacher.id}
    listed = _course_enrollments(lms, teacher, course_id)
    assert sorted(e["id"] for e in listed) == sorted(item["enrollment"]["id"] for item in items)
    one = items[37]["enrollment"]
    assert lms.expect(200, lms.api.get(f"/enrollments/{one['id']}", teacher.token)) == one
    aggregate = lms.wait_for_summary(teacher, course_id, lambda s: s.get("enrolled") == 100)
    assert (aggregate["active"], aggregate["completed"]) == (100, 0)

    again = _items(lms, _roster(lms, teacher, course_id, [*learners[:3], f"late-{uuid.uuid4().hex[:8]}"]))
    assert [item["outcome"] for item in again] == ["unchanged"] * 3 + ["created"]


def test_rosters_racing_single_enrollments_never_pass_the_capacity(lms: Lms, ddb: Any, table_name: str) -> None:
    """GIVEN a 12-seat course, WHEN two rosters of 10 (overlapping by 3) and 6 learners enrolling
    themselves (3 of them also on a roster) all run at once, THEN no learner is enrolled twice, at
    most 12 are, the seat counter equals the enrollments exactly, and a refusal is a full course."""
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 1, capacity=12)["id"]
    people = [lms.user(f"racer{n}") for n in range(20)]
    ids = [person.id for person in people]
    first, second = ids[0:10], ids[7:17]
    singles = [people[5], people[8], people[15], people[17], people[18], people[19]]

    def single(learner: User) -> requests.Response:
        return lms.api.post("/enrollments", learner.token, json={"courseId": course_id})

    # 8 requests at once: the local runtime starts a worker per concurrent request on a 2-core machine.
    with ThreadPoolExecutor(max_workers=len(singles) + 2) as pool:
        rosters = [pool.submit(_roster, lms, teacher, course_id, roster) for roster in (first, second)]
        alone = list(pool.map(single, singles))
        outcomes = [item for roster in rosters for item in _items(lms, roster.result())]

    enrollments = _course_enrollments(lms, teacher, course_id)
    by_user = {e["userId"]: e for e in enrollments}
    assert len(by_user) == len(enrollments) <= 12
    assert _seats_taken(ddb, table_name, course_id) == len(enrollments)
    assert {r.status_code for r in alone} <= {201, 409}
    for response in alone:
        if response.status_code == 409:
            lms.problem(response, 409)
    for item in outcomes:
        assert item["outcome"] in ("created", "unchanged", "refused")
        if item["outcome"] == "refused":
            assert item["problem"]["status"] == 409
            assert item["enrollment"] is None
            assert item["userId"] not in by_user or by_user[item["userId"]]["enrolledBy"] == item["userId"]
        else:
            assert by_user[item["userId"]]["id"] == item["enrollment"]["id"]
    # Every refusal was a full course: the course is full, no seat was lost to one.
    if any(item["outcome"] == "refused" for item in outcomes) or any(r.status_code == 409 for r in alone):
        assert len(enrollments) == 12
    newcomer = lms.user("newcomer")
    assert single(newcomer).status_code == (409 if len(enrollments) == 12 else 201)


def test_a_rostered_learner_has_the_events_summary_and_aggregate_of_one_enrolled_alone(
    lms: Lms, local_api: LocalApi
) -> None:
    """GIVEN a course, WHEN staff enroll one learner by POST /enrollments and another by a roster,
    and a third who dropped comes back by a roster, THEN the bus carries the same events for both
    (EnrollmentCreated by the staff member; EnrollmentStatusChanged for the return), their summaries
    are alike, and the aggregate counts all three."""
    teacher = lms.user("teacher", "instructor")
    alone, rostered, returning = lms.user("alone"), lms.user("rostered"), lms.user("returning")
    course = lms.create_course(teacher, 2)
    course_id = course["id"]
    single = lms.expect(
        201, lms.api.post("/enrollments", teacher.token, json={"courseId": course_id, "userId": alone.id})
    )
    dropped = lms.enroll(returning, course_id)
    path = f"/enrollments/{dropped['id']}"
    lms.expect(200, lms.api.patch(path, returning.token, json={"status": "DROPPED"}))

    items = _items(lms, _roster(lms, teacher, course_id, [rostered.id, returning.id], key=f"k-{uuid.uuid4().hex}"))

    assert [item["outcome"] for item in items] == ["created", "reactivated"]
    for learner in (alone, rostered):
        lms.complete(learner, lms.lesson_ids(course)[0])

    def events(user: User, count: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = poll_until(
            lambda: _bus_events(local_api, user.id),
            lambda found: len(found) >= count,
            timeout=DEADLINE_SECONDS,
            what=f"{count} events of {user.id}",
        )
        return found

    varying = {"eventId", "enrollmentId", "progressId", "userId", "occurredAt"}

    def shape(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return event["detail-type"], {k: v for k, v in event["detail"].items() if k not in varying}

    # EnrollmentCreated, then LessonCompleted.
    assert [shape(e) for e in events(rostered, 2)] == [shape(e) for e in events(alone, 2)]
    created = [e for e in events(rostered, 2) if e["detail-type"] == "EnrollmentCreated"]
    assert [e["detail"]["enrolledBy"] for e in created] == [teacher.id]
    back = poll_until(
        lambda: [e for e in _bus_events(local_api, returning.id) if e["detail-type"] == "EnrollmentStatusChanged"],
        lambda found: len(found) >= 2,
        timeout=DEADLINE_SECONDS,
        what="the drop and the return",
    )
    assert [(e["detail"]["previousStatus"], e["detail"]["status"]) for e in back] == [
        ("ACTIVE", "DROPPED"),
        ("DROPPED", "ACTIVE"),
    ]

    summaries = [
        lms.wait_for_summary(teacher, course_id, lambda s: s["completedLessons"] == 1 and s["updatedAt"], user_id=u.id)
        for u in (alone, rostered)
    ]
    mine, theirs = ({k: v for k, v in s.items() if k not in ("userId", "updatedAt", "lastAccessed")} for s in summaries)
    assert mine == theirs
    aggregate = lms.wait_for_summary(
        teacher, course_id, lambda s: s.get("enrolled") == 3 and round(s["averagePercent"]) == 33
    )
    assert (aggregate["active"], aggregate["completed"]) == (3, 0)
    assert single["enrolledBy"] == items[0]["enrollment"]["enrolledBy"] == teacher.id
