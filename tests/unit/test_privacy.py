"""Learner data rights: the export of everything kept about a user, the erasure's request and status,
the 409 on every write while it runs, and the erasure itself (run by the summarizer from the stream):
every kind removed, every aggregate and seat adjusted, a step failing once and resuming."""

import json
from typing import Any

import pytest

from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    TEST_ENV,
    ApiHarness,
    Reply,
    StreamHarness,
    assert_problem,
    ok,
)

LEARNER = {"user": "erase-me-7", "roles": "student"}
CLASSMATE = {"user": "stays-here-3", "roles": "student"}
STRANGER = {"user": "someone-else", "roles": "student"}


# ------------------------------------------------------------------------------------------ helpers
def make_course(api: ApiHarness, capacity: int | None = None, lessons: int = 2) -> tuple[str, list[str]]:
    body: dict[str, Any] = {
        "title": "Course",
        "modules": [{"title": "M", "lessons": [{"title": f"L{i}"} for i in range(lessons)]}],
    }
    if capacity is not None:
        body["capacity"] = capacity
    created = ok(api.call("create_course", **INSTRUCTOR, body=body), 201)
    return created["id"], [lesson["id"] for lesson in created["modules"][0]["lessons"]]


def enroll(api: ApiHarness, course_id: str, learner: dict[str, str] = LEARNER, **headers: str) -> dict[str, Any]:
    reply = api.call("create_enrollment", **learner, body={"courseId": course_id}, headers=headers or None)
    return dict(ok(reply, 201))


def complete(api: ApiHarness, lesson_id: str, learner: dict[str, str] = LEARNER) -> dict[str, Any]:
    reply = api.call("record_progress", **learner, body={"lessonId": lesson_id, "action": "complete"})
    assert reply.status in (200, 201), reply.body
    return dict(reply.body)


def set_status(api: ApiHarness, enrollment_id: str, status: str, caller: dict[str, str] = INSTRUCTOR) -> Reply:
    return api.call("update_enrollment", **caller, path={"id": enrollment_id}, body={"status": status})


def erase(api: ApiHarness, user_id: str = LEARNER["user"], caller: dict[str, str] = LEARNER) -> Reply:
    return api.call("erase_user", **caller, path={"userId": user_id})


def erasure(api: ApiHarness, user_id: str = LEARNER["user"], caller: dict[str, str] = LEARNER) -> Reply:
    return api.call("get_user_erasure", **caller, path={"userId": user_id})


def export_all(api: ApiHarness, user_id: str = LEARNER["user"], caller: dict[str, str] = LEARNER) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        body = ok(api.call("export_user_data", **caller, path={"userId": user_id}, query=query))
        items += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items


def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def holding(dynamodb: Any, text: str) -> list[dict[str, Any]]:
    """Every item of every table of the stack whose stored form contains `text` (tests may Scan)."""
    tables = (TEST_ENV["TABLE_NAME"], TEST_ENV["IDEMPOTENCY_TABLE_NAME"])
    return [item for table in tables for item in scan(dynamodb, table) if text in json.dumps(item)]


def recount(dynamodb: Any, course_id: str) -> dict[str, int]:
    """The course aggregate recounted from the learners' summaries and enrollments as stored."""
    from lms.repositories.dynamo import deserialize

    items = [deserialize(i) for i in scan(dynamodb, TEST_ENV["TABLE_NAME"])]
    enrollments = [i for i in items if i.get("entity") == "ENROLLMENT" and i["courseId"] == course_id]
    summaries = {i["userId"]: i for i in items if i.get("entity") == "SUMMARY" and i["courseId"] == course_id}
    return {
        "enrolled": len(enrollments),
        "active": sum(e["status"] == "ACTIVE" for e in enrollments),
        "completed": sum(e["status"] == "COMPLETED" for e in enrollments),
        "percentSum": sum(summaries[e["userId"]]["percent"] for e in enrollments if e["userId"] in summaries),
    }


def aggregate(dynamodb: Any, course_id: str) -> dict[str, int]:
    from lms.repositories.dynamo import deserialize

    items = [deserialize(i) for i in scan(dynamodb, TEST_ENV["TABLE_NAME"])]
    shards = [i for i in items if i.get("entity") == "COURSE_AGGREGATE" and i["pk"].startswith(f"COURSE#{course_id}#")]
    return {
        name: sum(int(s.get(name, 0)) for s in shards) for name in ("enrolled", "active", "completed", "percentSum")
    }


def seats_taken(dynamodb: Any, course_id: str) -> int:
    item = dynamodb.get_item(
        TableName=TEST_ENV["TABLE_NAME"], Key={"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}}
    )["Item"]
    return int(item.get("seatsTaken", {"N": "0"})["N"])


def published(dynamodb: Any) -> list[Any]:
    """Every event the publisher derives from the table's stream so far (its filters aside)."""
    import boto3

    from lms.events.derive import events_for
    from tools.stream_records import lambda_record

    streams = boto3.client(
        "dynamodbstreams", region_name="us-east-1", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com/"
    )
    arn = dynamodb.describe_table(TableName=TEST_ENV["TABLE_NAME"])["Table"]["LatestStreamArn"]
    events = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        for raw in streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]:
            events += events_for(lambda_record(raw, arn))
    return events


# ------------------------------------------------------------------------------------------ export
def test_export_lists_every_kind_in_its_public_shape(api: ApiHarness, stream: StreamHarness) -> None:
    course_id, lessons = make_course(api)
    enrollment = enroll(api, course_id)
    record = complete(api, lessons[0])
    stream.drain()
    items = export_all(api)
    kinds = sorted(item["kind"] for item in items)
    assert kinds == ["enrollment", "progress", "summary"]
    by_kind = {item["kind"]: item["data"] for item in items}
    assert by_kind["enrollment"]["id"] == enrollment["id"]
    assert by_kind["progress"] == ok(api.call("get_progress", **LEARNER, path={"id": record["id"]}))
    assert by_kind["summary"]["percent"] == 50
    # Storage-only attributes stay inside (no keys, no versions of summaries, no marks).
    assert '"pk"' not in json.dumps(items)
    assert "marks" not in by_kind["summary"]


def test_export_is_the_users_or_an_admins_to_ask_for(api: ApiHarness) -> None:
    course_id, _ = make_course(api)
    enroll(api, course_id)
    assert len(export_all(api, caller=ADMIN)) == 1
    for caller in (STRANGER, INSTRUCTOR):
        reply = api.call("export_user_data", **caller, path={"userId": LEARNER["user"]})
        assert_problem(reply, 404)


def test_a_learner_with_50_courses_and_5000_records_exports_completely_through_the_cursor(
    api: ApiHarness, dynamodb: Any
) -> None:
    from lms import container
    from lms.models.enrollments import Enrollment, EnrollmentStatus
    from lms.models.progress import Progress, ProgressStatus
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.repositories.progress import ProgressRepository

    table = container.table()
    enrollments, records = EnrollmentRepository(table), ProgressRepository(table)
    at = "2026-11-26T10:00:00.000Z"
    items = []
    for c in range(50):
        course = f"course{c:02d}"
        items.append(
            enrollments._item(
                Enrollment(
                    id=f"enr{c:02d}",
                    user_id=LEARNER["user"],
                    course_id=course,
                    status=EnrollmentStatus.ACTIVE,
                    enrolled_at=at,
                    updated_at=at,
                    enrolled_by=LEARNER["user"],
                    version=1,
                ),
                1,
            )
        )
        for n in range(100):
            progress = Progress(
                id=f"p{c:02d}x{n:03d}",
                user_id=LEARNER["user"],
                course_id=course,
                module_id="m",
                lesson_id=f"l{n:03d}",
                status=ProgressStatus.COMPLETED,
                view_count=1,
                time_spent_seconds=0,
                updated_at=at,
            )
            items.append(records._item(progress, 1, (1,)))
    table.put_all(items)
    exported = export_all(api)
    assert len(exported) == 5050
    assert len({(item["kind"], item["data"]["id"]) for item in exported}) == 5050


# ------------------------------------------------------------------------------------------ request and status
def test_delete_records_a_pending_erasure_that_a_second_call_and_get_return(api: ApiHarness) -> None:
    assert_problem(erasure(api), 404)
    first = ok(erase(api), 202)
    assert first["userId"] == LEARNER["user"]
    assert first["status"] == "PENDING"
    assert first["completedAt"] is None
    assert first["erased"] == {
        "enrollments": 0,
        "progress": 0,
        "summaries": 0,
        "idempotencyRecords": 0,
        "statementsVoided": 0,
    }
    assert ok(erase(api), 202) == first
    assert ok(erase(api, caller=ADMIN), 202) == first
    assert ok(erasure(api)) == first
    assert ok(erasure(api, caller=ADMIN)) == first


def test_only_the_user_or_an_admin_may_erase_or_read_the_erasure(api: ApiHarness) -> None:
    for caller in (STRANGER, INSTRUCTOR):
        assert_problem(erase(api, caller=caller), 404)
        assert_problem(erasure(api, caller=caller), 404)
    assert_problem(erasure(api), 404)  # nothing was recorded by the refused calls


def test_every_write_by_or_for_the_user_is_409_while_the_erasure_runs(api: ApiHarness) -> None:
    course_id, lessons = make_course(api)
    other_course, _ = make_course(api)
    enrollment = enroll(api, course_id)
    record = complete(api, lessons[0])
    ok(erase(api), 202)
    refused = [
        api.call("record_progress", **LEARNER, body={"lessonId": lessons[1], "action": "view"}),
        api.call("update_progress", **LEARNER, path={"id": record["id"]}, body={"position": 3}),
        api.call("update_progress", **INSTRUCTOR, path={"id": record["id"]}, body={"status": "IN_PROGRESS"}),
        api.call("create_enrollment", **LEARNER, body={"courseId": other_course}),
        api.call("create_enrollment", **INSTRUCTOR, body={"courseId": other_course, "userId": LEARNER["user"]}),
        set_status(api, enrollment["id"], "DROPPED", LEARNER),
        set_status(api, enrollment["id"], "SUSPENDED"),
        api.call("delete_enrollment", **LEARNER, path={"id": enrollment["id"]}),
    ]
    for reply in refused:
        body = assert_problem(reply, 409)
        assert body["type"].endswith("/erasure-in-progress"), body
    # Reads still answer, and others write as before.
    ok(api.call("get_enrollment", **LEARNER, path={"id": enrollment["id"]}))
    enroll(api, course_id, CLASSMATE)


# ------------------------------------------------------------------------------------------ the erasure
@pytest.fixture
def several_courses(api: ApiHarness, stream: StreamHarness) -> dict[str, Any]:
    """The learner in four courses (completed, active, dropped, suspended; two of them capped), a
    classmate in each, an idempotent enrollment, and the summarizer caught up."""
    courses = {
        status: make_course(api, capacity=3 if status in ("COMPLETED", "SUSPENDED") else None)
        for status in (
            "COMPLETED",
            "ACTIVE",
            "DROPPED",
            "SUSPENDED",
        )
    }
    enrollments = {}
    for status, (course_id, lessons) in courses.items():
        headers = {"Idempotency-Key": "k-1"} if status == "ACTIVE" else {}
        enrollments[status] = enroll(api, course_id, **headers)
        enroll(api, course_id, CLASSMATE)
        complete(api, lessons[0], CLASSMATE)
        complete(api, lessons[0])
        if status == "COMPLETED":
            complete(api, lessons[1])
    stream.drain()
    ok(set_status(api, enrollments["DROPPED"]["id"], "DROPPED", LEARNER))
    ok(set_status(api, enrollments["SUSPENDED"]["id"], "SUSPENDED"))
    stream.drain()
    assert ok(api.call("get_enrollment", **LEARNER, path={"id": enrollments["COMPLETED"]["id"]}))["status"] == (
        "COMPLETED"
    )
    return {"courses": courses, "enrollments": enrollments}


def test_the_erasure_removes_every_kind_and_leaves_aggregates_and_seats_exact(
    api: ApiHarness, stream: StreamHarness, dynamodb: Any, several_courses: dict[str, Any]
) -> None:
    courses = several_courses["courses"]
    assert holding(dynamodb, LEARNER["user"])
    ok(erase(api), 202)
    stream.drain(rounds=30)
    done = ok(erasure(api))
    assert done["status"] == "DONE"
    assert done["completedAt"]
    assert done["erased"] == {
        "enrollments": 4,
        "progress": 5,
        "summaries": 4,
        "idempotencyRecords": 1,
        # 4 registered, 5 lessons completed, one course completed at a version from 2 to its own.
        "statementsVoided": done["erased"]["statementsVoided"],
    }
    assert done["erased"]["statementsVoided"] >= 10
    # Nothing holds the id: only the erasure record is left, holding the hash.
    assert holding(dynamodb, LEARNER["user"]) == []
    records = [i for i in scan(dynamodb, TEST_ENV["TABLE_NAME"]) if i["entity"]["S"] == "ERASURE"]
    assert len(records) == 1
    assert "userId" not in records[0]
    assert set(records[0]) >= {"userHash", "keyId", "requestedAt", "completedAt", "erased"}
    # Every aggregate is what a recount of who is left gives; seats are free.
    for course_id, _ in courses.values():
        assert aggregate(dynamodb, course_id) == recount(dynamodb, course_id)
        assert recount(dynamodb, course_id)["enrolled"] == 1
    assert seats_taken(dynamodb, courses["COMPLETED"][0]) == 1
    assert seats_taken(dynamodb, courses["SUSPENDED"][0]) == 1
    assert export_all(api) == []
    # Writes are accepted again; the learner starts from nothing.
    again = enroll(api, courses["COMPLETED"][0])
    assert again["id"] != several_courses["enrollments"]["COMPLETED"]["id"]
    assert again["progress"]["percent"] == 0
    stream.drain()
    summary = ok(api.call("get_progress_summary", **LEARNER, path={"courseId": courses["COMPLETED"][0]}))
    assert summary["percent"] == 0
    assert summary["completedAt"] is None


def test_a_rosters_idempotency_record_holds_no_learner_id_and_replays_after_the_erasure(
    api: ApiHarness, stream: StreamHarness, dynamodb: Any
) -> None:
    """Staff rosters naming the learner (unchanged: enrolled and completed by themselves; created;
    refused in a full course they are not in) keep their records in the staff member's partition,
    without the learners' ids: the erasure leaves none behind, and retries still replay."""
    (done, lessons), (full, _), (new, _), (other, _) = (
        make_course(api),
        make_course(api, 1),
        make_course(api),
        make_course(api),
    )
    enroll(api, done)
    for lesson in lessons:
        complete(api, lesson)
    stream.drain()
    learner, classmate = {"userId": LEARNER["user"]}, {"userId": CLASSMATE["user"]}
    rosters = {
        "r-done": (done, [learner, classmate]),
        "r-full": (full, [classmate, learner]),
        "r-new": (new, [learner]),
        "r-other": (other, [classmate]),
    }

    def send(key: str) -> Reply:
        course_id, learners = rosters[key]
        body = {"learners": learners}
        return api.call(
            "enroll_roster", **INSTRUCTOR, path={"courseId": course_id}, body=body, headers={"Idempotency-Key": key}
        )

    first = {key: ok(send(key)) for key in rosters}
    assert [i["outcome"] for i in first["r-done"]["items"]] == ["unchanged", "created"]
    assert first["r-done"]["items"][0]["enrollment"]["completedBy"] == LEARNER["user"]
    assert [i["outcome"] for i in first["r-full"]["items"]] == ["created", "refused"]
    assert {key: ok(send(key)) for key in rosters} == first  # replayed, naming the learner
    records = scan(dynamodb, TEST_ENV["IDEMPOTENCY_TABLE_NAME"])
    assert len(records) == 4
    assert all(record["id"]["S"] == f"USER#{INSTRUCTOR['user']}" for record in records)
    assert [r for r in records if LEARNER["user"] in json.dumps(r) or CLASSMATE["user"] in json.dumps(r)] == []
    stream.drain()

    ok(erase(api), 202)
    stream.drain(rounds=20)

    assert ok(erasure(api))["status"] == "DONE"
    assert holding(dynamodb, LEARNER["user"]) == []
    assert scan(dynamodb, TEST_ENV["IDEMPOTENCY_TABLE_NAME"]) == records  # no record needed removing
    assert {key: ok(send(key)) for key in rosters} == first  # a retry still gets its first response


def test_a_freed_seat_is_taken_again(api: ApiHarness, stream: StreamHarness, dynamodb: Any) -> None:
    course_id, _ = make_course(api, capacity=1)
    enroll(api, course_id)
    assert_problem(api.call("create_enrollment", **CLASSMATE, body={"courseId": course_id}), 409)
    ok(erase(api), 202)
    stream.drain(rounds=10)
    enroll(api, course_id, CLASSMATE)
    assert seats_taken(dynamodb, course_id) == 1


def test_a_step_that_fails_midway_is_retried_and_the_erasure_finishes(
    api: ApiHarness, stream: StreamHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from lms.repositories.erasures import ErasureRepository

    course_id, lessons = make_course(api, lessons=3)
    enroll(api, course_id)
    for lesson in lessons:
        complete(api, lesson)
    stream.drain()
    monkeypatch.setattr("lms.services.erasure.ITEMS_PER_TRANSACTION", 1)
    monkeypatch.setattr("lms.services.erasure.TRANSACTIONS_PER_STEP", 1)
    commit = ErasureRepository.commit
    calls = {"n": 0}

    def crash_on_the_third(self: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise TimeoutError("the step ran out of time")
        commit(self, *args, **kwargs)

    monkeypatch.setattr(ErasureRepository, "commit", crash_on_the_third)
    ok(erase(api), 202)
    failures = 0
    for _ in range(30):
        records = stream.pending()
        if not records:
            break
        try:
            failed = stream.deliver(records)["batchItemFailures"]
        except BatchProcessingError:  # every record of the batch failed: Lambda retries it whole
            failed = records
        failures += len(failed)
        if failed:  # Lambda sends the failed records again
            assert stream.deliver(records)["batchItemFailures"] == []
    assert failures == 1
    done = ok(erasure(api))
    assert done["status"] == "DONE"
    assert done["erased"]["progress"] == 3
    assert done["erased"]["enrollments"] == 1
    assert holding(dynamodb, LEARNER["user"]) == []


def test_a_step_delivered_again_after_the_end_changes_nothing(
    api: ApiHarness, stream: StreamHarness, dynamodb: Any
) -> None:
    course_id, lessons = make_course(api)
    enroll(api, course_id)
    complete(api, lessons[0])
    stream.drain()
    ok(erase(api), 202)
    delivered = []
    for _ in range(10):
        records = stream.pending()
        if not records:
            break
        delivered += records
        assert stream.deliver(records) == {"batchItemFailures": []}
    before = scan(dynamodb, TEST_ENV["TABLE_NAME"])
    assert stream.deliver(delivered) == {"batchItemFailures": []}
    assert scan(dynamodb, TEST_ENV["TABLE_NAME"]) == before
    assert ok(erasure(api))["erased"]["progress"] == 1


def test_asking_again_after_coming_back_erases_again(api: ApiHarness, stream: StreamHarness) -> None:
    course_id, _ = make_course(api)
    enroll(api, course_id)
    ok(erase(api), 202)
    stream.drain(rounds=10)
    first = ok(erasure(api))
    assert ok(erase(api), 202) == first  # nothing kept since: the same erasure
    enroll(api, course_id)
    second = ok(erase(api), 202)
    assert second["status"] == "PENDING"
    stream.drain(rounds=10)
    assert ok(erasure(api))["erased"]["enrollments"] == 1
    assert export_all(api) == []


# ------------------------------------------------------------------------------------------ the statements
def test_the_statements_to_void_are_the_ids_the_publisher_gave_them(
    api: ApiHarness, stream: StreamHarness, several_courses: dict[str, Any], dynamodb: Any
) -> None:
    """Every event the publisher derived about the learner with an xAPI rule (registered, lesson and
    course completed) is among the statements the erasure voids."""

    def every_event() -> list[Any]:
        return published(dynamodb)

    sent = {
        event.event_id
        for event in every_event()
        if event.detail_type in ("EnrollmentCreated", "LessonCompleted", "CourseCompleted")
        and getattr(event.detail, "userId", None) == LEARNER["user"]
    }
    ok(erase(api), 202)
    stream.drain(rounds=30)
    events = every_event()
    voided = {event.detail.statementId for event in events if event.detail_type == "StatementVoided"}  # type: ignore[attr-defined]
    assert len(sent) >= 10
    assert sent <= voided
    erased = [event for event in events if event.detail_type == "LearnerErased"]
    assert len(erased) == 1
    assert LEARNER["user"] not in erased[0].detail.model_dump_json()
    assert not [e for e in events if e.detail_type == "EnrollmentDeleted"]


def test_the_statements_of_an_enrollment_deleted_before_are_kept_exported_and_voided(
    api: ApiHarness, stream: StreamHarness, dynamodb: Any
) -> None:
    """A deleted enrollment's id is gone with it: the ids of its statements stay in the learner's
    partition (exported), and the erasure voids them."""
    course_id, lessons = make_course(api)
    enrollment = enroll(api, course_id)
    complete(api, lessons[0])
    complete(api, lessons[1])
    stream.drain()
    ok(api.call("delete_enrollment", **LEARNER, path={"id": enrollment["id"]}), 204)
    stream.drain()
    sent = {
        event.event_id
        for event in published(dynamodb)
        if event.detail_type in ("EnrollmentCreated", "CourseCompleted")
        and event.detail.enrollmentId == enrollment["id"]
    }
    assert len(sent) == 2  # registered, and the course completed
    kept = [item["data"] for item in export_all(api) if item["kind"] == "sentStatements"]
    assert len(kept) == 1
    assert kept[0]["enrollmentId"] == enrollment["id"]
    assert sent <= set(kept[0]["statementIds"])
    ok(erase(api), 202)
    stream.drain(rounds=10)
    voided = {e.detail.statementId for e in published(dynamodb) if e.detail_type == "StatementVoided"}
    assert sent <= voided
    assert holding(dynamodb, LEARNER["user"]) == []
