"""Course settings over real HTTP (local gateway, authorizer, handlers, DynamoDB Local):
PATCH /courses/{courseId}, enrollment windows, capacity changes racing enrollments, and a capacity
given to a course that had none: its seats held counted by the scheduled function (invoked as the
schedule would, through the local runtime) before any seat is taken."""

import json
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from local.dev import LocalApi
from local.polling import poll_until
from tests.integration.conftest import Lms, User

pytestmark = pytest.mark.integration

PAST = "2020-01-01T00:00:00.000Z"
FUTURE = "2099-01-01T00:00:00.000Z"
ROOT = Path(__file__).resolve().parents[2]
SCHEDULED_EVENT = json.loads((ROOT / "events" / "expire_access.json").read_text(encoding="utf-8"))
# A count starts 30 s after the capacity is set (lms.services.seat_counts.START_DELAY), at the next
# run; the rest is margin for a loaded machine.
SEAT_COUNT_DEADLINE_SECONDS = 120


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


# ------------------------------------------------------------ a capacity given to a course that had none
# The three courses below are given their capacity one after the other by the module fixture `given`,
# so their counts are due together and the tests share one wait for them.


@dataclass
class Learner:
    user: User
    enrollment: dict[str, Any]


@dataclass
class GivenACapacity:
    """A course given `capacity` after it took enrollments: its learners (by role), and the answers
    to the steps that set it up (by name), kept for the test to check: those after the capacity's
    PATCH came while its seats were being counted."""

    teacher: User
    course_id: str
    capacity: int
    learners: dict[str, Learner]
    answers: dict[str, requests.Response]
    refused: list[User] = field(default_factory=list)  # asked for a seat while the seats were counted
    racers: list[tuple[User, requests.Response]] = field(default_factory=list)


@dataclass(frozen=True)
class Given:
    uncapped: GivenACapacity
    cleared: GivenACapacity
    raced: GivenACapacity


def _counting(response: requests.Response) -> bool:
    return response.status_code == 409 and str(response.json().get("type", "")).endswith("/seats-being-counted")


def _being_counted(lms: Lms, response: requests.Response, capacity: int) -> None:
    problem = lms.problem(response, 409)
    assert problem["type"].endswith("/seats-being-counted"), problem
    assert problem["capacity"] == capacity, problem


def _full(lms: Lms, response: requests.Response, capacity: int) -> None:
    problem = lms.problem(response, 409)
    assert not problem["type"].endswith("/seats-being-counted"), problem
    assert problem["capacity"] == capacity, problem


def _change(lms: Lms, caller: User, learner: Learner, body: dict[str, Any]) -> requests.Response:
    return lms.api.patch(f"/enrollments/{learner.enrollment['id']}", caller.token, json=body)


def _changed(lms: Lms, caller: User, learner: Learner, body: dict[str, Any]) -> None:
    learner.enrollment = lms.expect(200, _change(lms, caller, learner, body))


def _enrolled(lms: Lms, label: str, course_id: str) -> Learner:
    user = lms.user(label)
    return Learner(user, lms.enroll(user, course_id))


def _statuses(lms: Lms, user: User, course_id: str) -> list[str]:
    """The statuses of the user's enrollments in the course, as they list them."""
    page = lms.expect(200, lms.api.get("/enrollments", user.token, params={"courseId": course_id}))
    return [enrollment["status"] for enrollment in page["items"]]


def _once_counted(lms: Lms, local_api: LocalApi, case: GivenACapacity) -> requests.Response:
    """A newcomer enrolling once the course's seats are counted: before each try, the scheduled
    function is invoked (as its schedule would), until the answer is not 409 seats-being-counted."""
    newcomer = lms.user("probe")

    def attempt() -> requests.Response:
        local_api.lambdas.invoke("ExpireAccessFunction", SCHEDULED_EVENT)
        return _enroll(lms, newcomer, case.course_id)

    response: requests.Response = poll_until(
        attempt,
        lambda answer: not _counting(answer),
        timeout=SEAT_COUNT_DEADLINE_SECONDS,
        interval=1.0,
        what=f"the seats of {case.course_id} counted",
    )
    return response


def _admits_exactly(lms: Lms, case: GivenACapacity, room: int) -> None:
    """Exactly `room` newcomers are admitted, one after the other, and the next is 409 full."""
    replies = [_enroll(lms, lms.user("newcomer"), case.course_id) for _ in range(room + 1)]
    assert [reply.status_code for reply in replies] == [201] * room + [409], [reply.text for reply in replies]
    _full(lms, replies[-1], case.capacity)


def _uncapped_with_learners(lms: Lms, local_api: LocalApi) -> GivenACapacity:
    """An uncapped course with 3 ACTIVE learners, one DROPPED, one SUSPENDED and one COMPLETED by
    staff, one EXPIRED, given a capacity of 7; while its seats are counted, seats are asked for in
    every way, and one ACTIVE learner drops."""
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 1)["id"]
    roles = ("active0", "active1", "active2", "dropped", "suspended", "completed", "expired")
    learners = {role: _enrolled(lms, role, course_id) for role in roles}
    dropped = learners["dropped"]
    _changed(lms, dropped.user, dropped, {"status": "DROPPED"})
    _changed(lms, teacher, learners["suspended"], {"status": "SUSPENDED"})
    _changed(lms, teacher, learners["completed"], {"status": "COMPLETED"})
    _changed(lms, teacher, learners["expired"], {"accessEndsAt": PAST})
    local_api.lambdas.invoke("ExpireAccessFunction", SCHEDULED_EVENT)
    poll_until(
        lambda: _statuses(lms, learners["expired"].user, course_id),
        lambda statuses: statuses == ["EXPIRED"],
        timeout=10,
        what="the learner whose access ended EXPIRED",
    )
    newcomer, staffed, rostered = lms.user("newcomer"), lms.user("staffed"), lms.user("rostered")
    roster = {"learners": [{"userId": rostered.id}, {"userId": learners["active0"].user.id}]}
    answers = {"patch": _patch(lms, teacher, course_id, {"capacity": 7})}
    answers["get"] = lms.api.get(f"/courses/{course_id}", newcomer.token)
    answers["newcomer"] = _enroll(lms, newcomer, course_id)
    answers["staffed"] = _enroll(lms, teacher, course_id, staffed.id)
    answers["roster"] = lms.api.post(f"/courses/{course_id}/enrollments", teacher.token, json=roster)
    answers["return"] = _enroll(lms, dropped.user, course_id)
    answers["return by PATCH"] = _change(lms, dropped.user, dropped, {"status": "ACTIVE"})
    answers["drop"] = _change(lms, learners["active2"].user, learners["active2"], {"status": "DROPPED"})
    return GivenACapacity(teacher, course_id, 7, learners, answers, refused=[newcomer, staffed, rostered])


def _capacity_cleared_and_given_again(lms: Lms) -> GivenACapacity:
    """A full course of one seat whose capacity is cleared, takes two more learners, and is given a
    capacity of 5."""
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 1, capacity=1)["id"]
    learners = {"first": _enrolled(lms, "first", course_id)}
    answers = {"full": _enroll(lms, lms.user("turned-away"), course_id)}
    answers["cleared"] = _patch(lms, teacher, course_id, {"capacity": None})
    learners |= {role: _enrolled(lms, role, course_id) for role in ("second", "third")}
    newcomer = lms.user("newcomer")
    answers["patch"] = _patch(lms, teacher, course_id, {"capacity": 5})
    answers["newcomer"] = _enroll(lms, newcomer, course_id)
    return GivenACapacity(teacher, course_id, 5, learners, answers, refused=[newcomer])


def _capacity_racing_enrollments(lms: Lms) -> GivenACapacity:
    """An uncapped course with 4 learners (enrolled at once, so that the local runtime has as many
    enrollment workers warm: the race below is between requests, not cold starts) given a capacity
    of 14 while 8 learners enroll at once: the capacity is sent as the first of them is answered."""
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 1)["id"]
    seated = [lms.user(f"seated{n}") for n in range(4)]
    racers = [lms.user(f"racer{n}") for n in range(8)]
    with ThreadPoolExecutor(max_workers=len(racers) + 1) as pool:
        enrolled = list(pool.map(lambda learner: lms.enroll(learner, course_id), seated))
        replies = [pool.submit(_enroll, lms, racer, course_id) for racer in racers]
        wait(replies, return_when=FIRST_COMPLETED)
        answers = {"patch": _patch(lms, teacher, course_id, {"capacity": 14})}
        raced = [(racer, reply.result()) for racer, reply in zip(racers, replies, strict=True)]
    learners = {learner.id: Learner(learner, enrollment) for learner, enrollment in zip(seated, enrolled, strict=True)}
    return GivenACapacity(teacher, course_id, 14, learners, answers, racers=raced)


@pytest.fixture(scope="module")
def given(lms: Lms, local_api: LocalApi) -> Given:
    """The three courses, given their capacity one after the other: their counts are due together."""
    return Given(
        _uncapped_with_learners(lms, local_api),
        _capacity_cleared_and_given_again(lms),
        _capacity_racing_enrollments(lms),
    )


def test_a_capacity_given_to_an_uncapped_course_takes_seats_once_those_held_are_counted(
    lms: Lms, local_api: LocalApi, given: Given
) -> None:
    """GIVEN an uncapped course with 3 ACTIVE learners, one DROPPED, one SUSPENDED and one COMPLETED
    by staff, one EXPIRED, WHEN its instructor gives it a capacity of 7, THEN 200 and GET shows it;
    until the seats held are counted, every seat asked for (a newcomer, one enrolled by staff, one on
    a roster, the DROPPED learner's return by POST or PATCH) is 409 /seats-being-counted and changes
    nothing, while a drop is not held back. Once counted (4 seats: 2 ACTIVE, SUSPENDED, COMPLETED),
    exactly 3 newcomers are admitted, the next and the DROPPED learner's return are 409 full; a drop
    frees a seat a newcomer takes, a deletion one the DROPPED learner's return takes."""
    case = given.uncapped
    teacher, course_id, learners, answers = case.teacher, case.course_id, case.learners, case.answers
    dropped = learners["dropped"]
    assert lms.expect(200, answers["patch"])["capacity"] == 7
    assert lms.expect(200, answers["get"])["capacity"] == 7
    for name in ("newcomer", "staffed", "return", "return by PATCH"):
        _being_counted(lms, answers[name], 7)
    roster = lms.expect(200, answers["roster"])["items"]
    assert [(item["outcome"], item["enrollment"] is None) for item in roster] == [
        ("refused", True),
        ("unchanged", False),
    ]
    assert roster[0]["problem"]["type"].endswith("/seats-being-counted"), roster
    assert lms.expect(200, answers["drop"])["status"] == "DROPPED"
    assert [_statuses(lms, user, course_id) for user in case.refused] == [[], [], []]
    now = lms.expect(200, lms.api.get(f"/enrollments/{dropped.enrollment['id']}", teacher.token))
    assert (now["status"], now["version"]) == ("DROPPED", dropped.enrollment["version"])

    assert _once_counted(lms, local_api, case).status_code == 201

    _admits_exactly(lms, case, 2)
    _full(lms, _enroll(lms, dropped.user, course_id), 7)
    _full(lms, _change(lms, dropped.user, dropped, {"status": "ACTIVE"}), 7)
    _changed(lms, learners["active0"].user, learners["active0"], {"status": "DROPPED"})
    _admits_exactly(lms, case, 1)
    completed = learners["completed"].enrollment["id"]
    assert lms.api.delete(f"/enrollments/{completed}", teacher.token).status_code == 204
    assert lms.expect(200, _enroll(lms, dropped.user, course_id))["status"] == "ACTIVE"
    _full(lms, _enroll(lms, lms.user("late"), course_id), 7)


def test_a_capacity_cleared_admits_anyone_and_given_again_counts_the_seats(
    lms: Lms, local_api: LocalApi, given: Given
) -> None:
    """GIVEN a full course of one seat, WHEN its capacity is cleared, THEN it admits anyone (2 more);
    WHEN it is given a capacity of 5, THEN 200, an enrollment is 409 /seats-being-counted and creates
    nothing until the 3 seats held are counted; then exactly 2 newcomers are admitted, and the first
    learner's drop (counted before the capacity was cleared) frees a seat a newcomer takes."""
    case = given.cleared
    _full(lms, case.answers["full"], 1)
    assert lms.expect(200, case.answers["cleared"])["capacity"] is None
    assert lms.expect(200, case.answers["patch"])["capacity"] == 5
    _being_counted(lms, case.answers["newcomer"], 5)
    assert [_statuses(lms, user, case.course_id) for user in case.refused] == [[]]

    assert _once_counted(lms, local_api, case).status_code == 201

    _admits_exactly(lms, case, 1)
    first = case.learners["first"]
    _changed(lms, first.user, first, {"status": "DROPPED"})
    _admits_exactly(lms, case, 1)


def test_enrollments_racing_the_capacity_are_all_counted(
    lms: Lms, local_api: LocalApi, given: Given, ddb: Any, table_name: str
) -> None:
    """GIVEN an uncapped course with 4 learners, WHEN its instructor gives it a capacity of 14 while 8
    learners enroll at once, THEN each is admitted (201, ACTIVE) or 409 /seats-being-counted with no
    enrollment; once counted, exactly 14 - 4 - those admitted newcomers are admitted, and the seat
    counter equals the enrollments that hold a seat."""
    case = given.raced
    assert lms.expect(200, case.answers["patch"])["capacity"] == 14
    admitted = 0
    for racer, reply in case.racers:
        if reply.status_code == 201:
            admitted += 1
        else:
            _being_counted(lms, reply, 14)
        assert _statuses(lms, racer, case.course_id) == (["ACTIVE"] if reply.status_code == 201 else [])

    assert _once_counted(lms, local_api, case).status_code == 201

    _admits_exactly(lms, case, 14 - 4 - admitted - 1)
    listed = lms.expect(200, lms.api.get(f"/enrollments/course/{case.course_id}", case.teacher.token))
    assert [e["status"] for e in listed["items"]] == ["ACTIVE"] * 14
    key = {"pk": {"S": f"COURSE#{case.course_id}"}, "sk": {"S": "COURSE"}}
    head = ddb.get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"]
    assert (head["seatsTaken"]["N"], "seatCount" in head) == ("14", False)
