"""The domain events, one detail model per detail type. schemas/events/*.json are generated from
these models (`make event-schemas`) and checked against them by the tests."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_SOURCE = "lms"
Timestamp = str  # ISO 8601 UTC, e.g. 2026-11-26T10:15:00.123Z


class DetailType(StrEnum):
    ENROLLMENT_CREATED = "EnrollmentCreated"
    ENROLLMENT_STATUS_CHANGED = "EnrollmentStatusChanged"
    ENROLLMENT_DELETED = "EnrollmentDeleted"
    LESSON_COMPLETED = "LessonCompleted"
    COURSE_COMPLETED = "CourseCompleted"
    LEARNER_ERASED = "LearnerErased"
    STATEMENT_VOIDED = "StatementVoided"


EnrollmentStatusName = Literal["ACTIVE", "COMPLETED", "DROPPED", "SUSPENDED", "EXPIRED"]


class Detail(BaseModel):
    """What every detail carries: a deterministic id (the same transition always gets the same one,
    so consumers and the LRS de-duplicate on it) and when the transition happened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eventId: str = Field(  # noqa: N815 - the published field name
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        description="UUID (version 5) derived from the transition; also the xAPI statement id.",
    )
    occurredAt: Timestamp = Field(  # noqa: N815
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
        description="When the transition happened (ISO 8601, UTC).",
    )


class EventDetail(Detail):
    """An event about a learner in a course."""

    userId: str = Field(min_length=1)  # noqa: N815
    courseId: str = Field(min_length=1)  # noqa: N815


class EnrollmentCreated(EventDetail):
    enrollmentId: str  # noqa: N815
    status: EnrollmentStatusName
    enrolledBy: str  # noqa: N815


class EnrollmentStatusChanged(EventDetail):
    enrollmentId: str  # noqa: N815
    status: EnrollmentStatusName
    previousStatus: EnrollmentStatusName  # noqa: N815


class EnrollmentDeleted(EventDetail):
    enrollmentId: str  # noqa: N815
    status: EnrollmentStatusName = Field(description="The status the enrollment had when deleted.")


class LessonCompleted(EventDetail):
    progressId: str  # noqa: N815
    moduleId: str  # noqa: N815
    lessonId: str  # noqa: N815


class CourseCompleted(EventDetail):
    enrollmentId: str  # noqa: N815
    markedBy: str | None = Field(  # noqa: N815
        default=None,
        min_length=1,
        description="The staff member who set the enrollment COMPLETED; absent when the learner's own "
        "lessons completed it.",
    )


class ErasedCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enrollments: int = Field(ge=0)
    progress: int = Field(ge=0)
    summaries: int = Field(ge=0)
    idempotencyRecords: int = Field(ge=0)  # noqa: N815
    statementsVoided: int = Field(ge=0)  # noqa: N815


class LearnerErased(Detail):
    """Everything the service kept about a learner is erased. It names the learner only by the keyed
    hash their erasure record is stored under (never the id): a subscriber that keeps the learner's
    data finds it by the same hash (docs/privacy.md, "Other systems")."""

    userHash: str = Field(min_length=1, description="HMAC-SHA256 of the user id, base64url")  # noqa: N815
    keyId: str = Field(min_length=1, description="The id of the key that made userHash")  # noqa: N815
    requestedAt: Timestamp  # noqa: N815
    erased: ErasedCounts


class StatementVoided(Detail):
    """An xAPI statement the service sent about an erased learner, to be voided in the LRS; it names
    the statement, not the learner. `eventId` is the voiding statement's id."""

    statementId: str = Field(  # noqa: N815
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        description="The id of the statement voided (an earlier event's eventId).",
    )


DETAIL_MODELS: dict[DetailType, type[Detail]] = {
    DetailType.ENROLLMENT_CREATED: EnrollmentCreated,
    DetailType.ENROLLMENT_STATUS_CHANGED: EnrollmentStatusChanged,
    DetailType.ENROLLMENT_DELETED: EnrollmentDeleted,
    DetailType.LESSON_COMPLETED: LessonCompleted,
    DetailType.COURSE_COMPLETED: CourseCompleted,
    DetailType.LEARNER_ERASED: LearnerErased,
    DetailType.STATEMENT_VOIDED: StatementVoided,
}
