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

    def without_learners(self) -> "RosterResult":
        """The result as a roster's idempotency record keeps it: no learner's id, wherever its item
        named it (its `userId`, its enrollment's `userId`, `enrolledBy`, `completedBy`). The item at
        index i is the learner at index i of the request, and a replay's body is the first request's
        (Powertools validates it), so `with_learners` puts them back (docs/privacy.md)."""
        return RosterResult(items=[_swap(item, item.user_id, _KEPT_LEARNER) for item in self.items])

    def with_learners(self, learners: list[RosterLearner]) -> "RosterResult":
        """The result `without_learners` kept, naming the learners of the request again."""
        return RosterResult(
            items=[
                _swap(item, _KEPT_LEARNER, learner.user_id) for item, learner in zip(self.items, learners, strict=True)
            ]
        )


# What a roster's idempotency record keeps for its item's learner id (never a user id: they are not empty).
_KEPT_LEARNER = ""
_LEARNER_FIELDS = ("user_id", "enrolled_by", "completed_by")


def _swap(item: RosterItem, old: str, new: str) -> RosterItem:
    """The item naming its learner `new`: every id field of its enrollment that is `old` becomes `new`."""
    enrollment = item.enrollment
    if enrollment is not None:
        enrollment = enrollment.model_copy(
            update={name: new for name in _LEARNER_FIELDS if getattr(enrollment, name) == old}
        )
    return item.model_copy(update={"user_id": new, "enrollment": enrollment})


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
