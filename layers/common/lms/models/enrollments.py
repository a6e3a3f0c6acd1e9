from enum import StrEnum

from pydantic import Field

from lms.models.common import Identifier, RequestModel, ResponseModel, UserId


class EnrollmentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    DROPPED = "DROPPED"
    SUSPENDED = "SUSPENDED"


class EnrollmentCreate(RequestModel):
    course_id: Identifier
    user_id: UserId | None = Field(default=None, description="Defaults to the caller.")


class EnrollmentUpdate(RequestModel):
    status: EnrollmentStatus = Field(strict=False)


class EnrollmentProgress(ResponseModel):
    percent: int = 0
    completed_lessons: int = 0
    required_lessons: int = 0


class Enrollment(ResponseModel):
    id: str
    user_id: str
    course_id: str
    status: EnrollmentStatus
    enrolled_at: str
    updated_at: str
    completed_at: str | None = None
    enrolled_by: str
    version: int
    progress: EnrollmentProgress = Field(default_factory=EnrollmentProgress)


class EnrollOutcome(ResponseModel):
    """An enrollment and whether this request created it (201) or reactivated it (200)."""

    enrollment: Enrollment
    created: bool


# The statuses in which a learner may record progress.
LEARNING_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
