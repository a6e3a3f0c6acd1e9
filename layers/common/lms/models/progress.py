import math
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field

from lms.models.common import Identifier, RequestModel, ResponseModel

MAX_TIME_SPENT_SECONDS = 86_400
MAX_TOTAL_TIME_SECONDS = 100 * 365 * MAX_TIME_SPENT_SECONDS
# A place in a lesson (a second of video, a page, a scroll offset): a 32-bit count, which every
# client and DynamoDB's 38-digit numbers can hold.
MAX_POSITION = 2**31 - 1


class ProgressStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class ProgressAction(StrEnum):
    VIEW = "view"
    COMPLETE = "complete"


class ProgressRecord(RequestModel):
    lesson_id: Identifier
    action: ProgressAction = Field(strict=False, description="`view`, or `complete` (which is also a view)")
    time_spent_seconds: int | None = Field(default=None, ge=0, le=MAX_TIME_SPENT_SECONDS)
    position: int | None = Field(default=None, ge=0, le=MAX_POSITION, description="Where the learner is in the lesson")


class ProgressUpdate(RequestModel):
    time_spent_seconds: int | None = Field(
        default=None, ge=0, le=MAX_TOTAL_TIME_SECONDS, description="Replaces the total"
    )
    position: int | None = Field(default=None, ge=0, le=MAX_POSITION)
    status: ProgressStatus | None = Field(default=None, strict=False)


class Progress(ResponseModel):
    id: str
    user_id: str
    course_id: str
    module_id: str
    lesson_id: str
    status: ProgressStatus
    view_count: int
    time_spent_seconds: int
    position: int | None = None
    first_viewed_at: str | None = None
    last_viewed_at: str | None = None
    completed_at: str | None = None
    updated_at: str


def percent_of(done: int, total: int) -> int:
    """floor(100 x done / total), 0 when there is nothing to do."""
    return math.floor(100 * done / total) if total else 0


class ModuleSummary(ResponseModel):
    module_id: str
    completed_lessons: int
    required_lessons: int
    percent: int

    @classmethod
    def of(cls, module_id: str, done: int, required: int) -> "ModuleSummary":
        return cls(
            module_id=module_id, completed_lessons=done, required_lessons=required, percent=percent_of(done, required)
        )


class LastAccessed(ResponseModel):
    lesson_id: str
    at: str


class LearnerSummary(ResponseModel):
    user_id: str
    course_id: str
    percent: int = 0
    completed_lessons: int = 0
    required_lessons: int = 0
    viewed_lessons: int = 0
    modules: list[ModuleSummary] = Field(default_factory=list)
    last_accessed: LastAccessed | None = None
    next_lesson_id: str | None = None
    completed_at: str | None = None
    updated_at: str | None = None


class CourseAggregate(ResponseModel):
    course_id: str
    enrolled: int = 0
    active: int = 0
    completed: int = 0
    expired: int = Field(default=0, description="EXPIRED enrollments (their access ended); never counted in active.")
    average_percent: float = 0
    updated_at: str | None = None


class ProgressOutcome(ResponseModel):
    progress: Progress
    created: bool


@dataclass(frozen=True, slots=True)
class VersionedProgress:
    """A progress record and the version it was stored at (0: not stored yet)."""

    progress: Progress
    version: int
    completions: tuple[int, ...] = ()  # the versions it completed at (its `completed` statements)
