"""Access periods (issue 18): `accessEndsAt`, the write path's refusal after it, the EXPIRED status
the scheduled function sets from the index of pending access ends, staff's extensions, seats, the
aggregate and the events.

Every service here reads one clock the test moves (`Clock`), so "before" and "after" an access end are
certain without sleeping; the scheduled function is called as EventBridge Scheduler would call it."""

from typing import Any

import pytest

from local.context import LambdaContext
from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    OTHER_STUDENT,
    OUTLINE,
    STUDENT,
    ApiHarness,
    Course,
    StreamHarness,
    assert_problem,
    create_course,
    load_event,
    ok,
)

T0 = "2026-11-26T10:00:00.000Z"
LATER = "2999-01-01T00:00:00.000Z"
HANDLERS = {
    "enrollments": (
        "create_enrollment",
        "update_enrollment",
        "delete_enrollment",
        "get_enrollment",
        "list_enrollments",
        "list_course_enrollments",
    ),
    "progress": ("record_progress", "update_progress"),
}


class Clock:
    """One time for every service of the test, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> str:
        return self.now


@pytest.fixture
def clock(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> Clock:
    from lms import container

    clock = Clock()
    api.wire(monkeypatch, "enrollments", container.enrollment_service(clock=clock), *HANDLERS["enrollments"])
    api.wire(monkeypatch, "progress", container.progress_service(clock=clock), *HANDLERS["progress"])
    api.wire(monkeypatch, "expiry", container.access_expiry_service(clock=clock), "expire_access")
    return clock


def run_scheduler(api: ApiHarness) -> dict[str, Any]:
    """One scheduled run, as EventBridge Scheduler invokes the function."""
    context = LambdaContext(function_name="expire_access", timeout_seconds=60)
    run: dict[str, Any] = api.module("expire_access").lambda_handler(load_event("expire_access.json"), context)
    return run


def course_with(api: ApiHarness, **fields: Any) -> Course:
    return create_course(api, {**OUTLINE, **fields})


def enroll(api: ApiHarness, course_id: str, caller: dict[str, str] = STUDENT, **body: Any) -> dict[str, Any]:
    reply = api.call("create_enrollment", **caller, body={"courseId": course_id, **body})
    return dict(ok(reply, 201))


def patch(api: ApiHarness, enrollment_id: str, body: dict[str, Any], caller: dict[str, str] = INSTRUCTOR) -> Any:
    return api.call("update_enrollment", **caller, path={"id": enrollment_id}, body=body)


def get(api: ApiHarness, enrollment_id: str) -> dict[str, Any]:
    return dict(ok(api.call("get_enrollment", **INSTRUCTOR, path={"id": enrollment_id})))


def record(api: ApiHarness, lesson_id: str, caller: dict[str, str] = STUDENT) -> Any:
    return api.call("record_progress", **caller, body={"lessonId": lesson_id, "action": "complete"})


def seats_taken(dynamodb: Any, course_id: str) -> int:
    item = dynamodb.get_item(TableName="lms-dev", Key={"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}})
    return int(item["Item"]["seatsTaken"]["N"])


def ended_by_staff(api: ApiHarness, clock: Clock, course_id: str, learner: dict[str, str] = STUDENT) -> dict[str, Any]:
    """An enrollment whose access staff end one second from now; the clock then moves past it."""
    enrollment = enroll(api, course_id, learner)
    ended = ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:01Z"}))
    clock.now = "2026-11-26T10:00:02.000Z"
    return dict(ended)


# ------------------------------------------------------------------------------ pure rules
def an_enrollment(status: str, version: int, access_ends_at: str) -> Any:
    """A learner's own enrollment, for the pure rules."""
    from lms.models.enrollments import Enrollment, EnrollmentStatus

    return Enrollment(
        id="e1",
        user_id="u1",
        course_id="c1",
        status=EnrollmentStatus(status),
        enrolled_at=T0,
        updated_at=T0,
        enrolled_by="u1",
        version=version,
        access_ends_at=access_ends_at,
    )


def test_the_expire_rule_moves_only_an_active_enrollment_whose_access_has_ended() -> None:
    from lms.models.enrollments import EnrollmentStatus
    from lms.services.enrollments import expire

    active = an_enrollment("ACTIVE", 3, "2026-11-26T10:05:00.000Z")

    assert expire(active, "2026-11-26T10:04:59.999Z") is active
    expired = expire(active, "2026-11-26T10:05:00.000Z")
    assert (expired.status, expired.version, expired.updated_at) == ("EXPIRED", 4, "2026-11-26T10:05:00.000Z")
    completed = active.model_copy(update={"status": EnrollmentStatus.COMPLETED})
    assert expire(completed, LATER) is completed
    never = active.model_copy(update={"access_ends_at": None})
    assert expire(never, LATER) is never


def test_setting_a_later_end_on_an_expired_enrollment_gives_back_what_a_return_would() -> None:
    from lms.models.enrollments import EnrollmentProgress
    from lms.services.enrollments import set_access_end

    expired = an_enrollment("EXPIRED", 2, T0)
    now = "2026-11-27T00:00:00.000Z"

    assert set_access_end(expired, LATER, now).status == "ACTIVE"
    assert set_access_end(expired, None, now).status == "ACTIVE"
    still = set_access_end(expired, "2026-11-26T12:00:00.000Z", now)
    assert (still.status, still.access_ends_at, still.version) == ("EXPIRED", "2026-11-26T12:00:00.000Z", 3)
    complete = expired.model_copy(update={"progress": EnrollmentProgress(percent=100)})
    assert set_access_end(complete, LATER, now).status == "COMPLETED"
    assert set_access_end(expired, T0, now) is expired


def test_a_run_reads_from_its_checkpoint_or_the_grace_period_through_the_current_minute() -> None:
    from lms.services.access_periods import minutes_to_read

    assert minutes_to_read("2026-11-26T09:58", "2026-11-26T10:00:30.000Z") == [
        "2026-11-26T09:58",
        "2026-11-26T09:59",
        "2026-11-26T10:00",
    ]
    # A checkpoint ahead of the grace period: the grace period is read all the same.
    assert minutes_to_read("2026-11-26T10:00", "2026-11-26T10:00:30.000Z")[0] == "2026-11-26T09:58"
    # Far behind (an outage): a bounded number of minutes, the rest next time.
    assert len(minutes_to_read("2026-11-20T00:00", "2026-11-26T10:00:30.000Z")) == 180
    assert minutes_to_read(None, "2026-11-26T10:00:30.000Z")[0] == "2026-11-26T09:50"


# ------------------------------------------------------------------------------ accessEndsAt
def test_a_new_enrollment_ends_access_days_after_it_began(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api, accessDays=30)
    assert enroll(api, course.id)["accessEndsAt"] == "2026-12-26T10:00:00.000Z"
    assert enroll(api, course_with(api).id)["accessEndsAt"] is None


def test_changing_access_days_applies_to_new_enrollments_only(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api, accessDays=30)
    first = enroll(api, course.id)
    ok(api.call("update_course", **INSTRUCTOR, path={"courseId": course.id}, body={"accessDays": 1}))

    second = enroll(api, course.id, OTHER_STUDENT)

    assert get(api, first["id"])["accessEndsAt"] == "2026-12-26T10:00:00.000Z"
    assert second["accessEndsAt"] == "2026-11-27T10:00:00.000Z"


@pytest.mark.parametrize("caller", [INSTRUCTOR, ADMIN], ids=["instructor", "admin"])
def test_staff_set_the_access_end_when_enrolling_or_later(api: ApiHarness, clock: Clock, caller: dict) -> None:
    course = course_with(api, accessDays=30)
    enrollment = enroll(api, course.id, caller, userId="student-1", accessEndsAt="2026-12-01T12:00:00+02:00")
    assert enrollment["accessEndsAt"] == "2026-12-01T10:00:00.000Z"
    assert enroll(api, course.id, caller, userId="student-2", accessEndsAt=None)["accessEndsAt"] is None

    changed = ok(patch(api, enrollment["id"], {"accessEndsAt": None}, caller))

    assert (changed["accessEndsAt"], changed["status"], changed["version"]) == (None, "ACTIVE", 2)


def test_a_student_may_not_set_an_access_end(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api, accessDays=30)
    reply = api.call("create_enrollment", **STUDENT, body={"courseId": course.id, "accessEndsAt": LATER})
    assert_problem(reply, 403)
    enrollment = enroll(api, course.id)
    assert_problem(patch(api, enrollment["id"], {"accessEndsAt": LATER}, STUDENT), 403)
    assert get(api, enrollment["id"]) == enrollment


@pytest.mark.parametrize(
    "body", [{"status": "EXPIRED"}, {"status": None}, {"accessEndsAt": "tomorrow"}, {"accessEndsAt": 3}]
)
def test_expired_cannot_be_set_and_an_end_must_be_a_timestamp(api: ApiHarness, clock: Clock, body: dict) -> None:
    enrollment = enroll(api, course_with(api).id)
    assert_problem(patch(api, enrollment["id"], body), 422)


# ------------------------------------------------------------------------------ the write path
def test_after_the_access_end_the_learners_writes_are_403_access_ended_at_once(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api)
    enrollment = enroll(api, course.id)
    progress = ok(record(api, course.lesson(0)), 201)
    ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:01Z"}))
    clock.now = "2026-11-26T10:00:01.000Z"  # the end itself: access has ended

    problem = assert_problem(record(api, course.lesson(2)), 403)
    assert problem["type"].endswith("/access-ended")
    assert problem["accessEndsAt"] == "2026-11-26T10:00:01.000Z"
    edit = api.call("update_progress", **STUDENT, path={"id": progress["id"]}, body={"position": 5})
    assert assert_problem(edit, 403)["type"].endswith("/access-ended")
    # Still ACTIVE (nothing has run yet): the write path alone refused. Staff may still edit the record.
    assert get(api, enrollment["id"])["status"] == "ACTIVE"
    ok(api.call("update_progress", **INSTRUCTOR, path={"id": progress["id"]}, body={"position": 6}))


def test_the_refusal_costs_no_extra_call(api: ApiHarness, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.client

    course = course_with(api)
    ended_by_staff(api, clock, course.id)
    record(api, course.lesson(0))  # the lesson's course is now known to the handler
    calls: list[str] = []
    send = botocore.client.BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return send(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    assert_problem(record(api, course.lesson(0)), 403)

    assert calls == ["BatchGetItem", "TransactWriteItems"]


def test_a_dropped_learner_is_still_refused_as_not_enrolled(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api)
    enrollment = enroll(api, course.id)
    ok(patch(api, enrollment["id"], {"status": "DROPPED"}, STUDENT))
    problem = assert_problem(record(api, course.lesson(0)), 403)
    assert problem["type"].endswith("/forbidden")


# ------------------------------------------------------------------------------ the scheduled run
def test_the_run_expires_an_ended_enrollment_once(api: ApiHarness, clock: Clock, stream: StreamHarness) -> None:
    course = course_with(api)
    before = ended_by_staff(api, clock, course.id)
    waiting = enroll(api, course.id, OTHER_STUDENT)
    ok(patch(api, waiting["id"], {"accessEndsAt": "2026-11-26T10:00:03Z"}))  # same minute, still to come

    # The stack's first run looks back FIRST_LOOK_BACK_MINUTES; later ones from their checkpoint.
    assert run_scheduler(api) == {"expired": 1, "skipped": 0, "minutes": 11, "caughtUp": True, "seatCountsFinished": 0}
    expired = get(api, before["id"])
    assert (expired["status"], expired["version"], expired["updatedAt"]) == ("EXPIRED", 3, clock.now)
    assert get(api, waiting["id"])["status"] == "ACTIVE"
    # It left the index.
    assert run_scheduler(api) == {"expired": 0, "skipped": 0, "minutes": 3, "caughtUp": True, "seatCountsFinished": 0}

    clock.now = "2026-11-26T10:00:03.000Z"
    assert run_scheduler(api)["expired"] == 1
    stream.drain()


def test_the_expiry_is_the_pure_rule_written(api: ApiHarness, clock: Clock) -> None:
    from lms.models.enrollments import Enrollment
    from lms.services.enrollments import expire

    before = ended_by_staff(api, clock, course_with(api).id)
    run_scheduler(api)

    assert get(api, before["id"]) == expire(Enrollment.model_validate(before), clock.now).model_dump(by_alias=True)


def test_a_run_racing_a_staff_extension_changes_nothing(api: ApiHarness, clock: Clock) -> None:
    from lms import container, keys
    from lms.pagination import PageRequest
    from lms.repositories.enrollments import EnrollmentRepository

    course = course_with(api)
    enrollment = ended_by_staff(api, clock, course.id)
    repository = EnrollmentRepository(container.table())
    partitions = keys.access_end_partitions("2026-11-26T10:00")
    (entry,) = [
        e for p in partitions for e in repository.pending_access_ends(p, clock.now, PageRequest(10, None)).items
    ]
    ok(patch(api, enrollment["id"], {"accessEndsAt": LATER}))  # lands between the run's read and its write

    assert repository.expire(entry, clock.now, epoch=None) is False
    assert get(api, enrollment["id"])["status"] == "ACTIVE"


def test_a_completed_enrollment_stays_completed_and_its_writes_are_refused(
    api: ApiHarness, clock: Clock, stream: StreamHarness
) -> None:
    course = course_with(api)
    enrollment = enroll(api, course.id)
    ok(patch(api, enrollment["id"], {"status": "COMPLETED"}))
    ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:01Z"}))
    clock.now = "2026-11-26T10:00:02.000Z"

    assert run_scheduler(api)["expired"] == 0
    assert get(api, enrollment["id"])["status"] == "COMPLETED"
    assert assert_problem(record(api, course.lesson(0)), 403)["type"].endswith("/access-ended")


def test_an_enrollment_its_lessons_completed_leaves_the_index_behind_harmlessly(
    api: ApiHarness, clock: Clock, stream: StreamHarness
) -> None:
    course = course_with(api)
    enrollment = enroll(api, course.id)
    ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:30Z"}))
    for lesson in (0, 2, 3):
        ok(record(api, course.lesson(lesson)), 201)
    stream.drain()  # the summarizer completes it (and leaves its index entry)
    assert get(api, enrollment["id"])["status"] == "COMPLETED"
    clock.now = "2026-11-26T10:00:31.000Z"

    assert run_scheduler(api) == {"expired": 0, "skipped": 0, "minutes": 11, "caughtUp": True, "seatCountsFinished": 0}
    assert get(api, enrollment["id"])["status"] == "COMPLETED"


def test_expiring_frees_the_seat_and_staff_reactivating_needs_one(api: ApiHarness, clock: Clock, dynamodb: Any) -> None:
    course = course_with(api, capacity=1)
    first = ended_by_staff(api, clock, course.id)
    assert_problem(api.call("create_enrollment", **OTHER_STUDENT, body={"courseId": course.id}), 409)

    run_scheduler(api)
    assert seats_taken(dynamodb, course.id) == 0
    enroll(api, course.id, OTHER_STUDENT)  # the freed seat

    full = assert_problem(patch(api, first["id"], {"accessEndsAt": LATER}), 409)
    assert full["capacity"] == 1
    assert get(api, first["id"])["status"] == "EXPIRED"
    assert seats_taken(dynamodb, course.id) == 1


@pytest.mark.parametrize("end", [LATER, None])
def test_staff_moving_the_end_later_makes_an_expired_enrollment_active(
    api: ApiHarness, clock: Clock, dynamodb: Any, end: str | None
) -> None:
    course = course_with(api, capacity=5)
    enrollment = ended_by_staff(api, clock, course.id)
    run_scheduler(api)

    back = ok(patch(api, enrollment["id"], {"accessEndsAt": end}))

    assert (back["status"], back["accessEndsAt"], back["version"]) == ("ACTIVE", end, 4)
    assert seats_taken(dynamodb, course.id) == 1
    ok(record(api, course.lesson(0)), 201)


def test_an_expired_enrollment_its_lessons_complete_comes_back_completed(
    api: ApiHarness, clock: Clock, stream: StreamHarness
) -> None:
    course = course_with(api)
    enrollment = enroll(api, course.id)
    ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:01Z"}))
    for lesson in (0, 2, 3):
        ok(record(api, course.lesson(lesson)), 201)
    clock.now = "2026-11-26T10:00:02.000Z"
    run_scheduler(api)  # the expiry lands before the summarizer saw the last lesson
    stream.drain()
    expired = get(api, enrollment["id"])
    assert (expired["status"], expired["progress"]["percent"]) == ("EXPIRED", 100)

    back = ok(patch(api, enrollment["id"], {"accessEndsAt": LATER}))

    assert (back["status"], back["completedBy"]) == ("COMPLETED", "student-1")


def test_a_student_may_not_change_or_delete_an_expired_enrollment(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api)
    enrollment = ended_by_staff(api, clock, course.id)
    # Before the run, the access end already counts for the learner ...
    assert assert_problem(patch(api, enrollment["id"], {"status": "DROPPED"}, STUDENT), 403)["type"].endswith(
        "/access-ended"
    )
    run_scheduler(api)
    # ... and after it.
    for body in ({"status": "DROPPED"}, {"status": "ACTIVE"}):
        assert_problem(patch(api, enrollment["id"], body, STUDENT), 403)
    assert_problem(api.call("delete_enrollment", **STUDENT, path={"id": enrollment["id"]}), 403)
    again = assert_problem(api.call("create_enrollment", **STUDENT, body={"courseId": course.id}), 409)
    assert again["enrollmentId"] == enrollment["id"]
    assert get(api, enrollment["id"])["status"] == "EXPIRED"
    # Staff may.
    assert ok(patch(api, enrollment["id"], {"status": "DROPPED"}))["status"] == "DROPPED"


def test_the_status_filter_lists_expired_enrollments(api: ApiHarness, clock: Clock) -> None:
    course = course_with(api)
    enrollment = ended_by_staff(api, clock, course.id)
    enroll(api, course.id, OTHER_STUDENT)
    run_scheduler(api)

    mine = ok(api.call("list_enrollments", **STUDENT, query={"status": "EXPIRED"}))["items"]
    theirs = ok(
        api.call("list_course_enrollments", **INSTRUCTOR, path={"courseId": course.id}, query={"status": "EXPIRED"})
    )

    assert [e["id"] for e in mine] == [e["id"] for e in theirs["items"]] == [enrollment["id"]]


# ------------------------------------------------------------------------------ aggregate and events
def test_the_aggregate_counts_expired_apart_from_active(api: ApiHarness, clock: Clock, stream: StreamHarness) -> None:
    course = course_with(api)
    enrollment = enroll(api, course.id)
    ok(record(api, course.lesson(0)), 201)  # a third of the required lessons
    ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:01Z"}))
    enroll(api, course.id, OTHER_STUDENT)
    stream.drain()
    clock.now = "2026-11-26T10:00:02.000Z"

    run_scheduler(api)
    stream.drain()

    aggregate = ok(api.call("get_progress_summary", **INSTRUCTOR, path={"courseId": course.id}))
    assert {k: aggregate[k] for k in ("enrolled", "active", "completed", "expired", "averagePercent")} == {
        "enrolled": 2,
        "active": 1,
        "completed": 0,
        "expired": 1,
        "averagePercent": 16.5,
    }
    ok(patch(api, enrollment["id"], {"accessEndsAt": LATER}))
    stream.drain()
    aggregate = ok(api.call("get_progress_summary", **INSTRUCTOR, path={"courseId": course.id}))
    assert (aggregate["active"], aggregate["expired"]) == (2, 0)


def test_the_expiry_is_an_enrollment_status_changed_event() -> None:
    from lms.events.derive import events_for
    from lms.repositories.dynamo import serialize

    old = {
        "entity": "ENROLLMENT",
        "id": "e1",
        "userId": "u1",
        "courseId": "c1",
        "status": "ACTIVE",
        "version": 2,
        "updatedAt": T0,
        "enrolledAt": T0,
        "enrolledBy": "u1",
    }
    new = {**old, "status": "EXPIRED", "version": 3, "updatedAt": "2026-11-26T10:01:00.000Z"}
    record = {"eventName": "MODIFY", "dynamodb": {"OldImage": serialize(old), "NewImage": serialize(new)}}

    (event,) = events_for(record)

    assert event.detail_type == "EnrollmentStatusChanged"
    detail = event.detail.model_dump()
    assert (detail["status"], detail["previousStatus"], detail["occurredAt"]) == ("EXPIRED", "ACTIVE", new["updatedAt"])


def test_a_run_does_bounded_work_and_the_next_continues(
    api: ApiHarness, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lms import keys
    from lms.services import access_periods

    monkeypatch.setattr(access_periods, "EXPIRIES_PER_SHARD", 1)
    monkeypatch.setattr(access_periods, "PAGE", 1)
    # Three learners of one index shard, so their ends share a partition.
    learners = [f"learner-{n}" for n in range(200) if keys.index_shard(f"learner-{n}") == 0][:3]
    course = course_with(api)
    for learner in learners:
        enrollment = enroll(api, course.id, INSTRUCTOR, userId=learner)
        ok(patch(api, enrollment["id"], {"accessEndsAt": "2026-11-26T10:00:01Z"}))
    clock.now = "2026-11-26T10:00:02.000Z"

    runs = [run_scheduler(api) for _ in range(4)]

    # A run stops at its bound (without knowing whether more remain, when its last page had a next
    # key); the next one starts where it stopped.
    assert [r["expired"] for r in runs] == [1, 1, 1, 0]
    assert [r["caughtUp"] for r in runs][:2] == [False, False]
    assert runs[-1]["caughtUp"]
    statuses = ok(api.call("list_course_enrollments", **INSTRUCTOR, path={"courseId": course.id}))["items"]
    assert {e["status"] for e in statuses} == {"EXPIRED"}


def test_an_expiry_whose_seat_is_busy_is_retried_then_left_for_the_next_run(
    api: ApiHarness, clock: Clock, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lms.repositories.enrollments import EnrollmentRepository, SeatBusyError
    from lms.retry import Retry
    from lms.services import access_periods

    monkeypatch.setattr(access_periods, "SEAT_RETRY", Retry(attempts=3, base=0, cap=0, budget=1.0))
    course = course_with(api, capacity=3)
    enrollment = ended_by_staff(api, clock, course.id)
    expire = EnrollmentRepository.expire
    busy = iter([True, True, False, True, True, True])

    def sometimes_busy(self: EnrollmentRepository, *args: Any, **kwargs: Any) -> bool:
        if next(busy):
            raise SeatBusyError
        return expire(self, *args, **kwargs)

    monkeypatch.setattr(EnrollmentRepository, "expire", sometimes_busy)
    assert run_scheduler(api)["expired"] == 1  # busy twice, then through
    assert (get(api, enrollment["id"])["status"], seats_taken(dynamodb, course.id)) == ("EXPIRED", 0)

    other = ended_by_staff(api, clock, course.id, OTHER_STUDENT)
    busy_3_times = {"expired": 0, "skipped": 0, "minutes": 3, "caughtUp": False, "seatCountsFinished": 0}
    assert run_scheduler(api) == busy_3_times
    assert get(api, other["id"])["status"] == "ACTIVE"
