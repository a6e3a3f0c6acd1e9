"""Domain events: what each stream record stands for, their deterministic ids, their schemas, and
PutEvents batching with retries and partial batch failures."""

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lms.events.derive import DomainEvent, event_id, events_for
from lms.events.models import DetailType
from lms.events.publisher import (
    MAX_ENTRIES_PER_REQUEST,
    PUBLISH_RETRY,
    EventPublisher,
    PendingEvent,
    publish_records,
)
from tests.conftest import ApiHarness, load_event
from tools.event_schemas import rendered

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def record(name: str) -> dict[str, Any]:
    first: dict[str, Any] = load_event(name)["Records"][0]
    return first


def assert_matches_schema(event: DomainEvent) -> None:
    schema = json.loads((SCHEMAS / f"{event.detail_type.value}.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(event.detail.model_dump_json()), schema)


def s(value: str) -> dict[str, str]:
    return {"S": value}


# ---------------------------------------------------------------------- derivation


def test_a_new_enrollment_is_enrollment_created_with_an_id_of_the_enrollment() -> None:
    [event] = events_for(record("publish_events_enrollment_created.json"))
    assert event.detail_type == DetailType.ENROLLMENT_CREATED
    assert event.detail.model_dump() == {
        "eventId": event_id(DetailType.ENROLLMENT_CREATED, "01jd0000000000000000000010"),
        "occurredAt": "2026-11-26T10:00:00.000Z",
        "userId": "student-1",
        "courseId": "01jd0000000000000000000000",
        "enrollmentId": "01jd0000000000000000000010",
        "status": "ACTIVE",
        "enrolledBy": "student-1",
    }
    assert_matches_schema(event)


def test_the_summarizers_completion_is_a_status_change_and_one_course_completed() -> None:
    status_changed, completed = events_for(record("publish_events_course_completed.json"))
    assert status_changed.detail_type == DetailType.ENROLLMENT_STATUS_CHANGED
    assert status_changed.detail.model_dump()["previousStatus"] == "ACTIVE"
    assert status_changed.detail.model_dump()["status"] == "COMPLETED"
    assert completed.detail_type == DetailType.COURSE_COMPLETED
    assert completed.detail.occurredAt == "2026-11-26T10:20:00.000Z"
    assert completed.event_id == event_id(DetailType.COURSE_COMPLETED, "01jd0000000000000000000010", "2")
    assert "markedBy" not in json.loads(completed.detail.model_dump_json(exclude_none=True))
    for event in (status_changed, completed):
        assert_matches_schema(event)


def test_the_same_record_delivered_twice_gives_identical_events() -> None:
    first = events_for(record("publish_events_course_completed.json"))
    again = events_for(copy.deepcopy(record("publish_events_course_completed.json")))
    assert [e.detail.model_dump_json() for e in first] == [e.detail.model_dump_json() for e in again]


def completion(
    old: dict[str, Any], new: dict[str, Any], *, version: int = 2, name: str = "publish_events_course_completed.json"
) -> dict[str, Any]:
    """The fixture's completing record with these attributes of its old and new images (None: absent)."""
    changed = record(name)
    images = changed["dynamodb"]
    for image, fields in (("OldImage", old), ("NewImage", new)):
        for field, value in fields.items():
            if value is None:
                images[image].pop(field, None)
            else:
                images[image][field] = s(value)
    images["OldImage"]["version"] = {"N": str(version - 1)}
    images["NewImage"]["version"] = {"N": str(version)}
    return changed


def course_completed(changed: dict[str, Any]) -> list[DomainEvent]:
    return [e for e in events_for(changed) if e.detail_type == DetailType.COURSE_COMPLETED]


def test_a_later_enrollments_completion_has_its_own_id() -> None:
    """GIVEN a learner's completion, WHEN a later enrollment of theirs (after a delete) completes,
    THEN its CourseCompleted names that enrollment under another id: same id, same detail."""
    later = record("publish_events_course_completed.json")
    for image in ("NewImage", "OldImage"):
        later["dynamodb"][image]["id"] = s("01jd0000000000000000000099")
    [original] = course_completed(record("publish_events_course_completed.json"))
    [repeated] = course_completed(later)

    assert repeated.detail.model_dump()["enrollmentId"] == "01jd0000000000000000000099"
    assert repeated.event_id != original.event_id


def test_a_staff_marking_names_who_marked_it_under_its_own_id() -> None:
    """GIVEN staff (inst-1) set an ACTIVE enrollment COMPLETED at 0 %, WHEN its record is read,
    THEN CourseCompleted carries markedBy inst-1, at the marking's time, and validates."""
    marked = completion({}, {"completedBy": "inst-1", "writer": "api"})

    [event] = course_completed(marked)

    assert event.detail.model_dump()["markedBy"] == "inst-1"
    assert event.event_id == event_id(DetailType.COURSE_COMPLETED, "01jd0000000000000000000010", "2")
    assert_matches_schema(event)


def test_the_learners_completion_after_a_staff_marking_is_another_course_completed() -> None:
    """GIVEN an enrollment staff marked COMPLETED (version 2), WHEN the learner's lessons complete it
    (version 3: still COMPLETED, completedBy the learner), THEN a CourseCompleted without markedBy,
    under an id other than the marking's, and no status change."""
    marking = course_completed(completion({}, {"completedBy": "inst-1"}))[0]
    theirs = completion(
        {"status": "COMPLETED", "completedBy": "inst-1", "completedAt": "2026-11-26T10:10:00.000Z"},
        {"completedBy": "student-1", "updatedAt": "2026-11-26T10:30:00.000Z"},
        version=3,
    )

    [event] = events_for(theirs)

    assert event.detail_type == DetailType.COURSE_COMPLETED
    assert event.detail.model_dump()["markedBy"] is None
    assert event.detail.occurredAt == "2026-11-26T10:30:00.000Z"
    assert event.event_id != marking.event_id


def test_a_completion_after_staff_reopened_is_another_course_completed() -> None:
    """GIVEN an enrollment the learner completed, then staff reopened (ACTIVE, reopenedAt), WHEN the
    learner completes it again, THEN another CourseCompleted, with its own id."""
    again = completion(
        {"completedBy": "student-1", "completedAt": "2026-11-26T10:10:00.000Z", "reopenedAt": "2026-11-26T10:15:00Z"},
        {"updatedAt": "2026-11-26T10:30:00.000Z"},
        version=5,
    )

    [_, event] = events_for(again)

    assert event.event_id == event_id(DetailType.COURSE_COMPLETED, "01jd0000000000000000000010", "5")


def test_a_learners_return_to_a_completion_that_stands_completes_nothing_anew() -> None:
    """GIVEN a completed enrollment the learner dropped, WHEN their return gives back COMPLETED
    (same completedAt and completedBy, no reopening), THEN only EnrollmentStatusChanged."""
    back = completion(
        {"status": "DROPPED", "completedBy": "student-1", "completedAt": "2026-11-26T10:20:00.000Z"}, {}, version=4
    )

    [event] = events_for(back)

    assert event.detail_type == DetailType.ENROLLMENT_STATUS_CHANGED
    assert event.detail.model_dump()["previousStatus"] == "DROPPED"


def test_a_recompute_of_a_completed_enrollment_publishes_nothing() -> None:
    recompute = record("publish_events_course_completed.json")
    change = recompute["dynamodb"]
    change["OldImage"] = copy.deepcopy(change["NewImage"])
    change["NewImage"]["progress"]["M"]["percent"] = {"N": "67"}  # a lesson added: progress moves only
    assert events_for(recompute) == []


def test_a_learner_coming_back_is_a_status_change_only() -> None:
    back = record("publish_events_course_completed.json")
    change = back["dynamodb"]
    change["OldImage"]["status"] = s("DROPPED")
    change["NewImage"]["status"] = s("ACTIVE")
    del change["NewImage"]["completedAt"]
    [event] = events_for(back)
    assert event.detail_type == DetailType.ENROLLMENT_STATUS_CHANGED
    assert (event.detail.model_dump()["previousStatus"], event.detail.model_dump()["status"]) == ("DROPPED", "ACTIVE")
    assert event.event_id == event_id(DetailType.ENROLLMENT_STATUS_CHANGED, "01jd0000000000000000000010", "2")


def test_a_removed_enrollment_is_enrollment_deleted_at_the_streams_time() -> None:
    removed = record("publish_events_enrollment_created.json")
    change = removed["dynamodb"]
    removed["eventName"] = "REMOVE"
    change["OldImage"] = change.pop("NewImage")
    [event] = events_for(removed)
    assert event.detail_type == DetailType.ENROLLMENT_DELETED
    assert event.detail.occurredAt == "2026-11-26T09:00:00.000Z"  # ApproximateCreationDateTime 1795683600
    assert_matches_schema(event)


def test_a_lesson_completed_once_is_one_lesson_completed() -> None:
    [event] = events_for(record("summarize_progress_modify.json"))
    assert event.detail_type == DetailType.LESSON_COMPLETED
    assert event.detail.model_dump()["lessonId"] == "01jd0000000000000000000006"
    assert event.detail.occurredAt == "2026-11-26T10:20:00.000Z"
    assert_matches_schema(event)

    still_completed = record("summarize_progress_modify.json")
    still_completed["dynamodb"]["OldImage"]["status"] = s("COMPLETED")
    assert events_for(still_completed) == []


def test_items_that_are_not_enrollments_or_progress_publish_nothing() -> None:
    assert events_for(record("summarize_progress_lesson_added.json")) == []


def test_checked_in_schemas_match_the_models() -> None:
    for path, text in rendered().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run make event-schemas"


# ---------------------------------------------------------------------- PutEvents


class FakeEventBridge:
    """Answers put_events from a script: per call, the indexes of entries to fail (or an exception)."""

    def __init__(self, failures: list[set[int] | Exception] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._failures = list(failures or [])

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(Entries)
        failing = self._failures.pop(0) if self._failures else set()
        if isinstance(failing, Exception):
            raise failing
        entries = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if i in failing else {"EventId": f"e{i}"}
            for i in range(len(Entries))
        ]
        return {"FailedEntryCount": len(failing), "Entries": entries}


NO_WAIT = replace(PUBLISH_RETRY, sleep=lambda _: None)


def pending(count: int, size: int = 0) -> list[PendingEvent]:
    base = events_for(record("publish_events_enrollment_created.json"))[0]
    events = []
    for n in range(count):
        detail = base.detail.model_copy(update={"enrolledBy": "x" * size or f"user-{n}"})
        events.append(PendingEvent(str(n), DomainEvent(base.detail_type, detail)))
    return events


def test_events_go_out_ten_to_a_request_on_the_bus() -> None:
    client = FakeEventBridge()
    assert EventPublisher(client, "lms-dev", retry=NO_WAIT).publish(pending(23)) == []  # type: ignore[arg-type]
    assert [len(call) for call in client.calls] == [MAX_ENTRIES_PER_REQUEST, MAX_ENTRIES_PER_REQUEST, 3]
    entry = client.calls[0][0]
    assert entry["Source"] == "lms"
    assert entry["DetailType"] == "EnrollmentCreated"
    assert entry["EventBusName"] == "lms-dev"
    assert json.loads(entry["Detail"])["eventId"]


def test_a_request_stays_under_256_kb() -> None:
    client = FakeEventBridge()
    EventPublisher(client, "lms-dev", retry=NO_WAIT).publish(pending(5, size=100 * 1024))  # type: ignore[arg-type]
    assert [len(call) for call in client.calls] == [2, 2, 1]


def test_only_the_failed_entries_are_retried() -> None:
    client = FakeEventBridge([{1, 3}])
    events = pending(4)
    assert EventPublisher(client, "lms-dev", retry=NO_WAIT).publish(events) == []  # type: ignore[arg-type]
    retried = [json.loads(e["Detail"])["enrolledBy"] for e in client.calls[1]]
    assert retried == ["user-1", "user-3"]


def test_records_whose_events_still_fail_are_reported_failed() -> None:
    created = record("publish_events_enrollment_created.json")
    completed = record("publish_events_course_completed.json")
    always = [{0}] * 10  # the first entry of every request fails: the enrollment's event
    client = FakeEventBridge(always)  # type: ignore[arg-type]
    publisher = EventPublisher(client, "lms-dev", retry=NO_WAIT)  # type: ignore[arg-type]
    assert publish_records([created, completed], publisher) == {"000000000000000000100"}


def test_a_throttled_request_is_retried_whole() -> None:
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
    client = FakeEventBridge([throttled])
    assert EventPublisher(client, "lms-dev", retry=NO_WAIT).publish(pending(3)) == []  # type: ignore[arg-type]
    assert [len(call) for call in client.calls] == [3, 3]


def test_an_unreadable_record_fails_alone() -> None:
    broken = record("publish_events_enrollment_created.json")
    del broken["dynamodb"]["NewImage"]["enrolledAt"]
    fine = record("publish_events_course_completed.json")
    client = FakeEventBridge()
    failed = publish_records([broken, fine], EventPublisher(client, "lms-dev", retry=NO_WAIT))  # type: ignore[arg-type]
    assert failed == {"000000000000000000100"}
    assert [e["DetailType"] for e in client.calls[0]] == ["EnrollmentStatusChanged", "CourseCompleted"]


@pytest.mark.parametrize("name", ["publish_events_enrollment_created.json", "publish_events_course_completed.json"])
def test_the_handler_publishes_the_events_files(
    name: str, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lms import container

    client = FakeEventBridge()
    publisher = EventPublisher(client, "lms-dev")  # type: ignore[arg-type]
    monkeypatch.setattr(container, "event_publisher", lambda: publisher)  # the module-level one, on first load
    module = ApiHarness.module("publish_events")
    monkeypatch.setattr(module, "publisher", publisher)
    assert module.lambda_handler(load_event(name), lambda_context) == {"batchItemFailures": []}
    assert len(client.calls) == 1


def test_the_handler_names_the_records_whose_events_failed_in_its_partial_response(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch whose enrollment record's event is never accepted, when the handler runs, then
    its partial batch response names that record only."""
    from lms import container

    client = FakeEventBridge([{0}] * 10)
    publisher = EventPublisher(client, "lms-dev", retry=NO_WAIT)  # type: ignore[arg-type]
    monkeypatch.setattr(container, "event_publisher", lambda: publisher)
    module = ApiHarness.module("publish_events")
    monkeypatch.setattr(module, "publisher", publisher)
    batch = {
        "Records": [record("publish_events_enrollment_created.json"), record("publish_events_course_completed.json")]
    }

    assert module.lambda_handler(batch, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "000000000000000000100"}]
    }
