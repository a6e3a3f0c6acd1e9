"""From a table stream record to the domain events it stands for: one per state transition.

Every event id is a UUID derived from the transition itself (never from the time of processing), so a
record delivered twice, replayed or recomputed yields the same id, and the same detail.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lms.events.models import (
    CourseCompleted,
    Detail,
    DetailType,
    EnrollmentCreated,
    EnrollmentDeleted,
    EnrollmentStatusChanged,
    ErasedCounts,
    LearnerErased,
    LessonCompleted,
    StatementVoided,
)
from lms.keys import Entity
from lms.repositories.dynamo import Item, deserialize

# Fixed forever: changing it would give every past transition a new id.
EVENT_ID_NAMESPACE = uuid.UUID("6f0d1c52-8a2e-4b7f-9c1d-3e5a7b9d2f40")


@dataclass(frozen=True, slots=True)
class DomainEvent:
    detail_type: DetailType
    detail: Detail

    @property
    def event_id(self) -> str:
        return self.detail.eventId


def event_id(detail_type: DetailType, *identity: str) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "/".join((detail_type.value, *identity))))


def enrollment_statement_ids(enrollment: Item) -> list[str]:
    """The ids of the xAPI statements sent about an enrollment (its `registered`, and for one that was
    ever completed a `completed` at each version it may have completed at: its version moves with
    status changes only; voiding an id the LRS never stored is allowed, xAPI 1.0.3 part 2, 2.3.2)."""
    ids = [event_id(DetailType.ENROLLMENT_CREATED, enrollment["id"])]
    if enrollment.get("completedAt"):
        versions = range(2, int(enrollment["version"]) + 1)
        ids += [event_id(DetailType.COURSE_COMPLETED, enrollment["id"], str(v)) for v in versions]
    return ids


def progress_statement_ids(record: Item) -> list[str]:
    """The ids of the `completed` statements sent about a lesson record: one per version it completed
    at (`completions`, kept by the record)."""
    versions = [int(v) for v in record.get("completions", [])]
    return [event_id(DetailType.LESSON_COMPLETED, record["id"], str(v)) for v in versions]


def events_for(record: dict[str, Any]) -> list[DomainEvent]:
    """The events of one stream record (Lambda's shape); most records stand for none."""
    change = record["dynamodb"]
    new = deserialize(change["NewImage"]) if change.get("NewImage") else None
    old = deserialize(change["OldImage"]) if change.get("OldImage") else None
    item = new or old
    if item is None:
        raise ValueError("stream record carries no image; the stream must be NEW_AND_OLD_IMAGES")
    if item.get("entity") == Entity.ENROLLMENT:
        removed_at = _iso(change["ApproximateCreationDateTime"]) if new is None else ""
        return _enrollment_events(old, new, removed_at)
    if item.get("entity") == Entity.PROGRESS and new is not None:
        return _lesson_events(old, new)
    if item.get("entity") == Entity.ERASURE and new is not None:
        return _erasure_events(old or {}, new)
    return []


def _enrollment_events(old: Item | None, new: Item | None, removed_at: str) -> list[DomainEvent]:
    if new is None:
        assert old is not None
        if old.get("erasing"):
            return []  # removed by an erasure: LearnerErased says so, without the learner's id
        deleted = EnrollmentDeleted(
            eventId=event_id(DetailType.ENROLLMENT_DELETED, old["id"]),
            occurredAt=removed_at,
            **_enrollment_fields(old),
        )
        return [DomainEvent(DetailType.ENROLLMENT_DELETED, deleted)]
    if old is None:
        created = EnrollmentCreated(
            eventId=event_id(DetailType.ENROLLMENT_CREATED, new["id"]),
            occurredAt=new["enrolledAt"],
            enrolledBy=new["enrolledBy"],
            **_enrollment_fields(new),
        )
        return [DomainEvent(DetailType.ENROLLMENT_CREATED, created)]
    events: list[DomainEvent] = []
    if old["status"] != new["status"]:
        changed = EnrollmentStatusChanged(
            eventId=event_id(DetailType.ENROLLMENT_STATUS_CHANGED, new["id"], str(new["version"])),
            occurredAt=new["updatedAt"],
            previousStatus=old["status"],
            **_enrollment_fields(new),
        )
        events.append(DomainEvent(DetailType.ENROLLMENT_STATUS_CHANGED, changed))
    if _completes(old, new):
        # One per completion (the enrollment at that version): the learner's own, or a staff
        # marking, which names its author; a re-enrollment after a delete is another enrollment.
        completed = CourseCompleted(
            eventId=event_id(DetailType.COURSE_COMPLETED, new["id"], str(new["version"])),
            occurredAt=new["updatedAt"],
            enrollmentId=new["id"],
            userId=new["userId"],
            courseId=new["courseId"],
            markedBy=new["completedBy"] if new["completedBy"] != new["userId"] else None,
        )
        events.append(DomainEvent(DetailType.COURSE_COMPLETED, completed))
    return events


def _completes(old: Item, new: Item) -> bool:
    """Whether a write completes the enrollment (lms.models.enrollments.settle): it becomes COMPLETED
    for the first time or after a reopening, or someone else's completion (a staff marking becoming
    the learner's). A learner's return to a completion that stands completes nothing anew."""
    if new.get("status") != "COMPLETED" or not new.get("completedBy"):
        return False
    if old.get("completedBy") != new["completedBy"]:
        return True
    return old.get("status") != "COMPLETED" and (not old.get("completedAt") or bool(old.get("reopenedAt")))


def _enrollment_fields(item: Item) -> dict[str, Any]:
    return {
        "enrollmentId": item["id"],
        "userId": item["userId"],
        "courseId": item["courseId"],
        "status": item["status"],
    }


def _lesson_events(old: Item | None, new: Item) -> list[DomainEvent]:
    completed = "COMPLETED"
    if new.get("status") != completed or (old is not None and old.get("status") == completed):
        return []
    detail = LessonCompleted(
        eventId=event_id(DetailType.LESSON_COMPLETED, new["id"], str(new["version"])),
        occurredAt=new.get("completedAt") or new["updatedAt"],
        progressId=new["id"],
        userId=new["userId"],
        courseId=new["courseId"],
        moduleId=new["moduleId"],
        lessonId=new["lessonId"],
    )
    return [DomainEvent(DetailType.LESSON_COMPLETED, detail)]


def _erasure_events(old: Item, new: Item) -> list[DomainEvent]:
    """An erasure step's statements to void (each commit of a step stores its own), and the end."""
    events: list[DomainEvent] = []
    if new.get("step") != old.get("step"):
        for statement in new.get("voids") or []:
            voided = StatementVoided(
                eventId=event_id(DetailType.STATEMENT_VOIDED, statement),
                occurredAt=new["updatedAt"],
                statementId=statement,
            )
            events.append(DomainEvent(DetailType.STATEMENT_VOIDED, voided))
    if new.get("status") == "DONE" and old.get("status") != "DONE":
        erased = LearnerErased(
            eventId=event_id(DetailType.LEARNER_ERASED, new["userHash"], new["requestedAt"]),
            occurredAt=new["completedAt"],
            userHash=new["userHash"],
            keyId=new["keyId"],
            requestedAt=new["requestedAt"],
            erased=ErasedCounts.model_validate(new["erased"]),
        )
        events.append(DomainEvent(DetailType.LEARNER_ERASED, erased))
    return events


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
