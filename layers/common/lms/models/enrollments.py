from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from lms.models.catalog import Timestamp
from lms.models.common import Identifier, RequestModel, ResponseModel, UserId


class EnrollmentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    DROPPED = "DROPPED"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"  # set by the access-period scheduler only, when `accessEndsAt` has passed


# The statuses that hold no seat in a course with a capacity.
SEATLESS_STATUSES = frozenset({EnrollmentStatus.DROPPED, EnrollmentStatus.EXPIRED})


def counted_by(mark: str | None, epoch: str | None) -> str | None:
    """The epoch of a course's seat counter (`epoch`, None: the course counts no seats) when it counts
    the seat of an enrollment marked `mark`, else None: a counter counts exactly the seats marked with
    its epoch (docs/architecture.md, "Seats")."""
    return epoch if mark is not None and mark == epoch else None


_ACCESS_ENDS_AT = (
    "Staff only (a student sending it: 403). When the learner's access ends: their writes to the course are "
    "refused from then on, and an ACTIVE enrollment becomes EXPIRED within 60 s. null: access never ends."
)


class EnrollmentCreate(RequestModel):
    course_id: Identifier
    user_id: UserId | None = Field(default=None, description="Defaults to the caller.")
    access_ends_at: Timestamp | None = Field(
        default=None, description=f"Absent: enrolledAt plus the course's accessDays. {_ACCESS_ENDS_AT}"
    )


class EnrollmentUpdate(RequestModel):
    """PATCH /enrollments/{id}: a status, an access end, or both (the access end applies first)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # Absent leaves it; null is 422 (the schema says which statuses may be set: not EXPIRED).
    status: Annotated[
        EnrollmentStatus | None,
        WithJsonSchema({"type": "string", "enum": [s.value for s in EnrollmentStatus if s != "EXPIRED"]}),
    ] = Field(default=None, strict=False, description="EXPIRED cannot be set: it follows from accessEndsAt.")
    access_ends_at: Timestamp | None = Field(
        default=None,
        description=f"{_ACCESS_ENDS_AT} On an EXPIRED enrollment, a future one (or null) makes it ACTIVE again "
        "(COMPLETED if its completion stands); 409 when the course is full.",
    )

    @field_validator("status", mode="before")
    @classmethod
    def _settable(cls, status: Any) -> Any:
        if status is None:
            raise ValueError("status cannot be null; leave it out to keep the status.")
        if status == EnrollmentStatus.EXPIRED.value:
            raise ValueError("EXPIRED follows from accessEndsAt; set accessEndsAt instead.")
        return status

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.status is None and "access_ends_at" not in self.model_fields_set:
            raise ValueError("Send status, accessEndsAt or both.")
        return self


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
    completed_at: str | None = Field(default=None, description="The first completion, whoever made it.")
    completed_by: str | None = Field(
        default=None,
        description="Who made the latest completion: the learner (their lessons) or the staff member who set "
        "COMPLETED.",
    )
    reopened_at: str | None = Field(
        default=None,
        description="When staff set ACTIVE on an enrollment that was or would be completed; null again once "
        "it completes.",
    )
    enrolled_by: str
    version: int
    progress: EnrollmentProgress = Field(default_factory=EnrollmentProgress)
    access_ends_at: str | None = Field(
        default=None,
        description="When the learner's access ends (null: never): their writes are refused from then on, and "
        "an ACTIVE enrollment becomes EXPIRED within 60 s.",
    )
    # Stored, never sent: the epoch of the course's seat counter that counts this enrollment's seat.
    seat_epoch: str | None = Field(default=None, exclude=True)


@dataclass(frozen=True, slots=True)
class AccessEnd:
    """Staff's `accessEndsAt` in a request (`at` None: access never ends); a request without the field
    passes no AccessEnd at all."""

    at: str | None


class EnrollOutcome(ResponseModel):
    """An enrollment and whether this request created it (201) or reactivated it (200)."""

    enrollment: Enrollment
    created: bool


# The statuses in which a learner may record progress.
LEARNING_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


# ------------------------------------------------------------------------------ the completion rule
@dataclass(frozen=True, slots=True)
class LearnerCompletion:
    """What the learner's records say: `percent` of the required lessons complete; `latest`, the
    newest completion of a required lesson, and `first`, when they were first all complete (the
    summary's `completedAt`). The API knows only the enrollment's copy of `percent`: no times."""

    percent: int
    latest: str | None = None
    first: str | None = None


@dataclass(frozen=True, slots=True)
class StatusRequest:
    status: EnrollmentStatus
    at: str
    staff: str | None = None  # the staff member asking; None: the learner (or a POST enrolling again)


def settle(current: Enrollment, data: LearnerCompletion, request: StatusRequest | None = None) -> Enrollment:
    """The enrollment after a status request, or (no request) after the learner's records changed:
    the one completion rule, for the API and the stream summarizer alike; `current` when unchanged.

    - The learner's lessons complete it when every required lesson is complete and, if staff reopened
      or marked it, one was completed after that; it is then the learner's (`completedBy`).
    - Staff may set any status: COMPLETED is their marking; ACTIVE on an enrollment that completed
      or would complete reopens it until the learner's next completion.
    - A learner's return from DROPPED gives back what the data supports: a completion nobody reopened
      stands (completion is sticky), and lessons all complete complete it.
    `completedAt` keeps the first completion, whoever made it."""
    if request is None:
        at = data.latest or data.first or current.updated_at
        fields = _learner_completes(current, data, at)
    elif request.status == current.status:
        return current
    else:
        at = request.at
        fields = {"status": request.status}
        if request.staff is not None and request.status == EnrollmentStatus.COMPLETED:
            fields |= {"completed_at": current.completed_at or at, "completed_by": request.staff, "reopened_at": None}
        elif request.staff is not None and request.status == EnrollmentStatus.ACTIVE:
            reopens = current.completed_at is not None or data.percent == 100
            fields["reopened_at"] = at if reopens else None
        elif request.staff is None and request.status == EnrollmentStatus.ACTIVE:
            stands = current.completed_at is not None and current.reopened_at is None
            fields |= _learner_completes(current.model_copy(update=fields), data, at) or (
                {"status": EnrollmentStatus.COMPLETED} if stands else {}
            )
    if not fields:
        return current
    return current.model_copy(update={**fields, "updated_at": at, "version": current.version + 1})


def _learner_completes(enrollment: Enrollment, data: LearnerCompletion, at: str) -> dict[str, Any]:
    """The fields that make the enrollment the learner's completion, if their lessons complete it now."""
    if enrollment.status not in LEARNING_STATUSES or data.percent < 100:
        return {}
    if enrollment.status == EnrollmentStatus.COMPLETED and enrollment.completed_by == enrollment.user_id:
        return {}  # theirs already
    # Only a completion after staff's latest say counts: their reopening, or their marking (what the
    # enrollment last changed at while it is theirs), so a marking never re-credits an old completion.
    marked = enrollment.completed_by not in (None, enrollment.user_id)
    since = enrollment.reopened_at or (enrollment.updated_at if marked else None)
    if since is not None and (data.latest or "") <= since:
        return {}
    return {
        "status": EnrollmentStatus.COMPLETED,
        "completed_at": enrollment.completed_at or data.first or at,
        "completed_by": enrollment.user_id,
        "reopened_at": None,
    }
