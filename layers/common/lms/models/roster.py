"""Roster enrollment: many learners enrolled in one course by its staff in one request
(`POST /courses/{courseId}/enrollments`), each exactly as `POST /enrollments` would enroll them."""

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lms.errors import DomainError
from lms.models.catalog import Timestamp
from lms.models.common import RequestModel, ResponseModel, UserId
from lms.models.enrollments import Enrollment

MAX_ROSTER_LEARNERS = 100


class RosterLearner(RequestModel):
    user_id: UserId
    access_ends_at: Timestamp | None = Field(
        default=None, description="When the learner's access ends (kept on a created or reactivated enrollment)."
    )


class RosterRequest(RequestModel):
    learners: list[RosterLearner] = Field(
        min_length=1, max_length=MAX_ROSTER_LEARNERS, description="1-100 learners, each user id once."
    )

    @field_validator("learners")
    @classmethod
    def _each_learner_once(cls, learners: list[RosterLearner]) -> list[RosterLearner]:
        seen: set[str] = set()
        for learner in learners:
            if learner.user_id in seen:
                raise ValueError(f"userId {learner.user_id!r} is listed more than once.")
            seen.add(learner.user_id)
        return learners


class RosterCall(BaseModel):
    """What makes a roster request the same request again (with its Idempotency-Key): the course too."""

    course_id: str
    learners: list[RosterLearner]


class RosterOutcome(StrEnum):
    CREATED = "created"  # a new enrollment
    REACTIVATED = "reactivated"  # a DROPPED enrollment, ACTIVE (or COMPLETED by the completion rule) again
    UNCHANGED = "unchanged"  # already ACTIVE, COMPLETED or EXPIRED: returned as it is
    REFUSED = "refused"  # see `problem`


class Problem(ResponseModel):
    """An RFC 9457 problem, as an error response's body would be (extension members included). In
    openapi.json it is the schema every problem response has (tools/openapi.py names it Problem)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


class RosterItem(ResponseModel):
    user_id: str
    outcome: RosterOutcome
    enrollment: Enrollment | None = Field(description="The learner's enrollment; null when refused.")
    problem: Problem | None = Field(description="Why the learner was refused; null otherwise.")


class RosterResult(ResponseModel):
    items: list[RosterItem] = Field(description="One per learner, in the order of the request.")


# ------------------------------------------------------------- what the service and repository exchange
@dataclass(frozen=True, slots=True)
class EnrollmentWrite:
    """One learner's write in a roster: `enrollment` as it will be stored, new (`current` None) or
    replacing `current` (a return from DROPPED, conditioned on its version)."""

    enrollment: Enrollment
    current: Enrollment | None = None


@dataclass(frozen=True, slots=True)
class LearnerResult:
    """A learner's outcome in a roster; `error` when refused."""

    user_id: str
    outcome: RosterOutcome
    enrollment: Enrollment | None = None
    error: DomainError | None = None
