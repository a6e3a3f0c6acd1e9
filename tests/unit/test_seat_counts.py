"""A capacity given to a course that had none (docs/architecture.md, "Seats"): 200, enrollments held
409 seats-being-counted until the scheduled run has counted the seats held, then exact seats; and the
seat mark that makes every free count only what was counted (drops, deletes, expiries, erasures)."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from lms.models.catalog import Course
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.services.enrollments import seat_marked, seat_move
from local.context import LambdaContext
from tests.conftest import INSTRUCTOR, ApiHarness, Reply, StreamHarness, assert_problem, load_event, ok

T0 = "2026-11-26T10:00:00.000Z"
OUTLINE = {"title": "Course", "modules": [{"title": "M", "lessons": [{"title": "One"}]}]}
ENROLLMENT_HANDLERS = ("create_enrollment", "update_enrollment", "delete_enrollment")


class Clock:
    """One time for every service of the test, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> str:
        return self.now

    def after(self, seconds: int) -> None:
        moved = datetime.fromisoformat(self.now) + timedelta(seconds=seconds)
        self.now = moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def clock(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> Clock:
    from lms import container

    clock = Clock()
    api.wire(monkeypatch, "enrollments", container.enrollment_service(clock=clock), *ENROLLMENT_HANDLERS)
    api.wire(monkeypatch, "catalog", container.catalog_service(clock=clock), "update_course", "create_course")
    api.wire(monkeypatch, "roster", container.roster_service(clock=clock), "enroll_roster")
    api.wire(monkeypatch, "expiry", container.access_expiry_service(clock=clock), "expire_access")
    api.wire(monkeypatch, "seat_counts", container.seat_count_service(clock=clock), "expire_access")
    return clock


# ------------------------------------------------------------------------------------------ helpers
def learner(n: int) -> dict[str, str]:
    return {"user": f"s{n}", "roles": "student"}


def new_course(api: ApiHarness, **settings: Any) -> str:
    course_id: str = ok(api.call("create_course", **INSTRUCTOR, body=OUTLINE | settings), 201)["id"]
    return course_id


def set_capacity(api: ApiHarness, course_id: str, capacity: int | None) -> dict[str, Any]:
    course: dict[str, Any] = ok(
        api.call("update_course", **INSTRUCTOR, path={"courseId": course_id}, body={"capacity": capacity})
    )
    return course


def enroll(api: ApiHarness, course_id: str, n: int) -> Reply:
    return api.call("create_enrollment", **learner(n), body={"courseId": course_id})


def set_status(api: ApiHarness, enrollment_id: str, status: str, caller: dict[str, str] = INSTRUCTOR) -> Reply:
    return api.call("update_enrollment", **caller, path={"id": enrollment_id}, body={"status": status})


def run_scheduler(api: ApiHarness) -> dict[str, Any]:
    context = LambdaContext(function_name="expire_access", timeout_seconds=60)
    run: dict[str, Any] = api.module("expire_access").lambda_handler(load_event("expire_access.json"), context)
    return run


def head(dynamodb: Any, course_id: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(
        TableName="lms-dev", Key={"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}}, ConsistentRead=True
    )["Item"]
    return item


def seats_taken(dynamodb: Any, course_id: str) -> int | None:
    counter = head(dynamodb, course_id).get("seatsTaken")
    return int(counter["N"]) if counter else None


def seats_held(dynamodb: Any, course_id: str) -> list[dict[str, Any]]:
    """The course's enrollments that hold a seat, as stored (a test may scan; the service never does)."""
    items = dynamodb.scan(TableName="lms-dev")["Items"]
    return [
        item
        for item in items
        if item.get("entity", {}).get("S") == "ENROLLMENT"
        and item["courseId"]["S"] == course_id
        and item["status"]["S"] not in ("DROPPED", "EXPIRED")
    ]


def assert_counted_exactly(dynamodb: Any, course_id: str) -> None:
    """The counter counts every seat held, and each carries the counter's epoch."""
    epoch = head(dynamodb, course_id)["seatEpoch"]["S"]
    held = seats_held(dynamodb, course_id)
    assert seats_taken(dynamodb, course_id) == len(held)
    assert all(item.get("seatEpoch", {}).get("S") == epoch for item in held)


def being_counted(reply: Reply) -> None:
    assert assert_problem(reply, 409)["type"].endswith("/seats-being-counted")


def counted_after_the_delay(api: ApiHarness, clock: Clock) -> None:
    """Nothing is counted before START_DELAY; the first run after it counts everything."""
    assert run_scheduler(api)["seatCountsFinished"] == 0
    clock.after(31)
    assert run_scheduler(api)["seatCountsFinished"] == 1


# ------------------------------------------------------------------------------------------ pure rules
def a_course(capacity: int | None, epoch: str | None, counting: bool = False) -> Course:
    return Course(
        id="c",
        title="C",
        capacity=capacity,
        instructor_ids=[],
        lesson_count=1,
        required_lesson_count=1,
        created_at=T0,
        updated_at=T0,
        seat_epoch=epoch,
        seat_count="{}" if counting else None,
    )


def an_enrollment(status: EnrollmentStatus, mark: str | None) -> Enrollment:
    return Enrollment(
        id="e",
        user_id="u",
        course_id="c",
        status=status,
        enrolled_at=T0,
        updated_at=T0,
        enrolled_by="u",
        version=1,
        seat_epoch=mark,
    )


def test_a_seat_is_taken_only_from_a_counter_that_has_counted_and_freed_only_if_it_was_counted() -> None:
    active, dropped = EnrollmentStatus.ACTIVE, EnrollmentStatus.DROPPED
    capped, counting, uncapped = a_course(5, "E2"), a_course(5, "E2", counting=True), a_course(None, None)

    assert seat_move(None, active, uncapped) == 0
    assert seat_move(None, active, capped) == 1
    assert seat_marked(an_enrollment(active, None), 1, capped).seat_epoch == "E2"
    # Counting, the seat is still one to take: the counter's condition refuses it (409) until counted.
    assert seat_move(an_enrollment(dropped, None), active, counting) == 1
    # Freed: counted when it carries the counter's epoch, whatever the course is doing.
    assert seat_move(an_enrollment(active, "E2"), dropped, counting) == -1
    assert seat_move(an_enrollment(active, "E1"), dropped, capped) == 0  # an older counter's mark
    assert seat_move(an_enrollment(active, None), None, capped) == 0  # not counted yet: deleted
    assert seat_marked(an_enrollment(dropped, "E1"), 0, capped).seat_epoch is None
    # A change that neither takes nor frees a seat needs no course.
    assert seat_move(an_enrollment(active, "E1"), EnrollmentStatus.SUSPENDED, None) == 0


# ------------------------------------------------------------------------------------------ over the API
def test_a_capacity_given_to_an_uncapped_course_counts_the_seats_held_then_admits_up_to_it(
    api: ApiHarness, clock: Clock, dynamodb: Any
) -> None:
    """GIVEN an uncapped course with two ACTIVE learners, a SUSPENDED one and a DROPPED one, WHEN staff
    give it a capacity of 4, THEN 200; until the scheduled run has counted the 3 seats held, every
    enrollment that takes a seat is 409 seats-being-counted and writes nothing; then one more learner
    is admitted, the next is full, and a drop frees the seat for the dropped learner's return."""
    course_id = new_course(api)
    ids = [ok(enroll(api, course_id, n), 201)["id"] for n in range(4)]
    ok(set_status(api, ids[2], "SUSPENDED"))
    ok(set_status(api, ids[3], "DROPPED", caller=learner(3)))

    assert set_capacity(api, course_id, 4)["capacity"] == 4
    being_counted(enroll(api, course_id, 4))
    being_counted(set_status(api, ids[3], "ACTIVE", caller=learner(3)))
    # Enrolled already is said first, as at any time: the counter only refuses seats to take.
    assert assert_problem(enroll(api, course_id, 0), 409)["enrollmentId"] == ids[0]
    roster = api.call(
        "enroll_roster",
        **INSTRUCTOR,
        path={"courseId": course_id},
        body={"learners": [{"userId": "s5"}, {"userId": "s0"}]},
    )
    assert [i["outcome"] for i in ok(roster)["items"]] == ["refused", "unchanged"]
    assert ok(roster)["items"][0]["problem"]["type"].endswith("/seats-being-counted")
    assert seats_taken(dynamodb, course_id) == 0
    assert len(seats_held(dynamodb, course_id)) == 3

    counted_after_the_delay(api, clock)

    assert_counted_exactly(dynamodb, course_id)
    assert seats_taken(dynamodb, course_id) == 3
    ok(enroll(api, course_id, 4), 201)
    full = assert_problem(enroll(api, course_id, 5), 409)
    assert full["capacity"] == 4
    assert not full["type"].endswith("/seats-being-counted")
    assert_problem(set_status(api, ids[3], "ACTIVE", caller=learner(3)), 409)
    ok(set_status(api, ids[0], "DROPPED", caller=learner(0)))
    ok(set_status(api, ids[3], "ACTIVE", caller=learner(3)))
    assert_counted_exactly(dynamodb, course_id)
    assert seats_taken(dynamodb, course_id) == 4


def test_seats_freed_or_committed_late_during_the_count_are_counted_once(
    api: ApiHarness, clock: Clock, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a count under way one page of one learner at a time, WHEN between its steps a counted
    learner drops, an uncounted one is deleted, and an enrollment that read the head before the
    capacity commits uncounted (as a function still running then would), THEN the counter ends equal
    to the seats held, each marked, and no seat freed that it had not counted."""
    from lms.repositories import enrollments as repository_module
    from lms.repositories.enrollments import EnrollmentRepository

    monkeypatch.setattr(repository_module, "SEAT_COUNT_PAGE", 1)
    course_id = new_course(api)
    ids = {n: ok(enroll(api, course_id, n), 201)["id"] for n in range(8)}
    set_capacity(api, course_id, 20)
    clock.after(31)
    repository: EnrollmentRepository = api.module("expire_access").seat_counts._enrollments
    late = Enrollment(
        id="late",
        user_id="late",
        course_id=course_id,
        status=EnrollmentStatus.ACTIVE,
        enrolled_at=clock.now,
        updated_at=clock.now,
        enrolled_by="late",
        version=1,
    )

    def marked() -> set[str]:
        return {i["userId"]["S"] for i in seats_held(dynamodb, course_id) if "seatEpoch" in i}

    interleaved: list[str] = []
    steps = 0
    while not repository.count_seats(course_id):
        steps += 1
        counted, uncounted = marked(), {f"s{n}" for n in ids} - marked() - set(interleaved)
        if counted and "drop" not in interleaved:
            first = sorted(counted)[0]
            ok(set_status(api, ids[int(first[1:])], "DROPPED", caller=learner(int(first[1:]))))
            interleaved += ["drop", first]
        elif uncounted and "delete" not in interleaved:
            victim = sorted(uncounted)[0]
            ok(api.call("delete_enrollment", **INSTRUCTOR, path={"id": ids[int(victim[1:])]}), 204)
            interleaved += ["delete", victim]
        elif "late" not in interleaved:
            repository.create(late, outline_version=1)
            interleaved.append("late")

    assert {"drop", "delete", "late"} <= set(interleaved)
    assert steps >= 16  # one page at least per index shard
    assert_counted_exactly(dynamodb, course_id)
    assert seats_taken(dynamodb, course_id) == 7  # 8, one dropped, one deleted, one late
    assert "seatCount" not in head(dynamodb, course_id)


def test_a_step_delivered_again_counts_nothing(
    api: ApiHarness, clock: Clock, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step whose head read is stale (another run moved the count on meanwhile) writes nothing:
    each step is conditioned on the cursor it started from."""
    from lms.repositories.dynamo import Table

    course_id = new_course(api)
    for n in range(3):
        ok(enroll(api, course_id, n), 201)
    set_capacity(api, course_id, 5)
    clock.after(31)
    repository = api.module("expire_access").seat_counts._enrollments
    stale = None
    real_get = Table.get

    def stale_head(self: Table, key: dict[str, str], **kwargs: Any) -> Any:
        return stale if stale is not None and key["sk"] == "COURSE" else real_get(self, key, **kwargs)

    while not repository.count_seats(course_id):
        pass
    assert seats_taken(dynamodb, course_id) == 3
    # The same course counted again from its first cursor, as a stale read of the head would have it.
    from lms import keys
    from lms.repositories.courses import SeatCountCursor

    stored = real_get(repository._table, {"pk": f"COURSE#{course_id}", "sk": "COURSE"})
    stale = {**stored, "seatCount": SeatCountCursor(keys.index_shard("s0")).encode()}  # a shard with a learner
    monkeypatch.setattr(Table, "get", stale_head)
    assert repository.count_seats(course_id) is False

    assert seats_taken(dynamodb, course_id) == 3


def test_a_capacity_cleared_and_given_again_counts_afresh(api: ApiHarness, clock: Clock, dynamodb: Any) -> None:
    """GIVEN a capped course whose learners carry its counter's epoch, WHEN the capacity is cleared, a
    learner drops and another enrolls uncounted, and a capacity is given again, THEN the new counter
    counts every seat held, an older counter's marks included."""
    course_id = new_course(api, capacity=2)
    first = ok(enroll(api, course_id, 0), 201)["id"]
    second = ok(enroll(api, course_id, 1), 201)["id"]
    set_capacity(api, course_id, None)
    assert {"seatsTaken", "seatEpoch", "seatCount"}.isdisjoint(head(dynamodb, course_id))
    ok(set_status(api, second, "DROPPED", caller=learner(1)))
    ok(enroll(api, course_id, 2), 201)

    set_capacity(api, course_id, 2)
    counted_after_the_delay(api, clock)

    assert seats_taken(dynamodb, course_id) == 2  # s0 (marked by the first counter) and s2
    assert_counted_exactly(dynamodb, course_id)
    assert_problem(set_status(api, second, "ACTIVE", caller=learner(1)), 409)
    ok(api.call("delete_enrollment", **INSTRUCTOR, path={"id": first}), 204)
    assert seats_taken(dynamodb, course_id) == 1


def test_clearing_the_capacity_mid_count_ends_the_count(api: ApiHarness, clock: Clock, dynamodb: Any) -> None:
    course_id = new_course(api)
    ok(enroll(api, course_id, 0), 201)
    set_capacity(api, course_id, 3)
    set_capacity(api, course_id, None)

    ok(enroll(api, course_id, 1), 201)
    clock.after(31)
    assert run_scheduler(api)["seatCountsFinished"] == 0  # nothing left in the index
    assert {"seatsTaken", "seatEpoch", "seatCount", "gsi2pk"}.isdisjoint(head(dynamodb, course_id))


def test_an_expiry_frees_a_counted_seat_and_an_older_counters_mark_does_not_stop_it(
    api: ApiHarness, clock: Clock, dynamodb: Any
) -> None:
    """The expiry supposes the enrollment carries the course's counter; when it carries an older
    one's (a capacity cleared since), it is read and expired all the same, freeing nothing."""
    capped = new_course(api, capacity=3)
    uncapped = new_course(api, capacity=3)
    ends = "2026-11-26T10:00:01Z"
    counted = ok(enroll(api, capped, 0), 201)["id"]
    stale = ok(enroll(api, uncapped, 0), 201)["id"]
    set_capacity(api, uncapped, None)
    for enrollment_id in (counted, stale):
        ok(api.call("update_enrollment", **INSTRUCTOR, path={"id": enrollment_id}, body={"accessEndsAt": ends}))
    clock.after(2)

    assert run_scheduler(api)["expired"] == 2

    assert seats_taken(dynamodb, capped) == 0
    assert seats_taken(dynamodb, uncapped) is None
    ok(enroll(api, capped, 1), 201)
    assert seats_taken(dynamodb, capped) == 1


def test_erasing_a_learner_frees_only_a_seat_the_counter_counted(
    api: ApiHarness, clock: Clock, stream: StreamHarness, dynamodb: Any
) -> None:
    """GIVEN a capped course where the learner's enrollment EXPIRED (its seat freed then) and another
    learner holds a seat, WHEN the learner is erased, THEN the counter still counts that other seat."""
    course_id = new_course(api, capacity=2)
    gone = ok(enroll(api, course_id, 0), 201)["id"]
    ok(api.call("update_enrollment", **INSTRUCTOR, path={"id": gone}, body={"accessEndsAt": "2026-11-26T10:00:01Z"}))
    clock.after(2)
    assert run_scheduler(api)["expired"] == 1
    ok(enroll(api, course_id, 1), 201)
    assert seats_taken(dynamodb, course_id) == 1

    ok(api.call("erase_user", **learner(0), path={"userId": "s0"}), 202)
    stream.drain(rounds=10)

    assert ok(api.call("get_user_erasure", **learner(0), path={"userId": "s0"}))["status"] == "DONE"
    assert seats_taken(dynamodb, course_id) == 1
    assert_counted_exactly(dynamodb, course_id)
