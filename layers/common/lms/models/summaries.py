"""What the summarizer computes and stores beside a learner's summary: the learner's contribution to
the course aggregate, the outline lessons the summary counts, and the write to the enrollment."""

from dataclasses import asdict, dataclass, field

from lms.models.enrollments import Enrollment, EnrollmentProgress, EnrollmentStatus
from lms.models.progress import LearnerSummary, Progress


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one learner adds to the course aggregate."""

    enrolled: int = 0
    active: int = 0
    completed: int = 0
    percent: int = 0
    expired: int = 0

    def plus(self, other: "Contribution") -> "Contribution":
        return Contribution(
            self.enrolled + other.enrolled,
            self.active + other.active,
            self.completed + other.completed,
            self.percent + other.percent,
            self.expired + other.expired,
        )

    def minus(self, other: "Contribution") -> "Contribution":
        return self.plus(Contribution(-other.enrolled, -other.active, -other.completed, -other.percent, -other.expired))

    @property
    def is_zero(self) -> bool:
        return not any(asdict(self).values())


@dataclass(frozen=True, slots=True)
class LessonMarks:
    """Which outline lessons a summary counts as completed and viewed: bitmaps (base64) over the
    lessons of the outline at version `outline`, in outline order; and the latest completion time
    of a required lesson (the course's completion date when the last one falls). `applied_through`:
    the newest `updatedAt` among the records applied; a stream image newer than that is newer than
    anything the summary reflects, and may be applied without reading the record again."""

    outline: int
    completed: str
    viewed: str
    latest_completion: str | None = None
    applied_through: str | None = None


@dataclass(frozen=True, slots=True)
class SeenEnrollment:
    """A learner's enrollment as the summarizer's transaction that wrote a summary left it (every
    field but `progress`, which that transaction set to the summary's), and the outline version it
    was made against. Stored with the summary, so that a recompute need not read the enrollment: its
    transaction is conditioned on this `id` and `version` (lms.services.summaries.recompute)."""

    id: str
    version: int
    status: EnrollmentStatus
    enrolled_at: str
    enrolled_by: str
    updated_at: str
    completed_at: str | None = None
    completed_by: str | None = None
    reopened_at: str | None = None
    outline: int = 0

    @classmethod
    def of(cls, enrollment: Enrollment, outline: int) -> "SeenEnrollment":
        return cls(
            enrollment.id,
            enrollment.version,
            enrollment.status,
            enrollment.enrolled_at,
            enrollment.enrolled_by,
            enrollment.updated_at,
            enrollment.completed_at,
            enrollment.completed_by,
            enrollment.reopened_at,
            outline,
        )

    def enrollment(self, user_id: str, course_id: str, progress: EnrollmentProgress) -> Enrollment:
        return Enrollment(
            id=self.id,
            user_id=user_id,
            course_id=course_id,
            status=self.status,
            enrolled_at=self.enrolled_at,
            updated_at=self.updated_at,
            completed_at=self.completed_at,
            completed_by=self.completed_by,
            reopened_at=self.reopened_at,
            enrolled_by=self.enrolled_by,
            version=self.version,
            progress=progress,
        )


@dataclass(frozen=True, slots=True)
class StoredSummary:
    summary: LearnerSummary
    version: int
    counted: Contribution
    marks: LessonMarks | None = None
    # Whether the item says what the enrollment was when it was written (`enrollment`; None: not
    # enrolled). Items written before summaries carried it do not.
    knows_enrollment: bool = False
    enrollment: SeenEnrollment | None = None

    @property
    def enrollment_progress(self) -> EnrollmentProgress:
        """What the transaction that wrote this summary left as its enrollment's progress."""
        return EnrollmentProgress(
            percent=self.summary.percent,
            completed_lessons=self.summary.completed_lessons,
            required_lessons=self.summary.required_lessons,
        )


@dataclass(frozen=True, slots=True)
class EnrollmentChange:
    """The summarizer's write to an enrollment: its progress, and the learner's completion when the
    completion rule (`lms.models.enrollments.settle`) says their lessons complete it now."""

    current: Enrollment
    progress: EnrollmentProgress
    completed: Enrollment | None  # the enrollment completed by this recompute, or None


@dataclass(frozen=True, slots=True)
class SummaryWrite:
    """One learner's recompute result, ready to store."""

    summary: LearnerSummary
    previous: StoredSummary | None
    counted: Contribution
    marks: LessonMarks
    enrollment: EnrollmentChange | None
    seen: SeenEnrollment | None = None  # the enrollment as this write leaves it (None: not enrolled)


@dataclass(slots=True)
class LearnerState:
    """What a batch read found for one learner of a course."""

    stored: StoredSummary | None = None
    enrollment: Enrollment | None = None
    enrolled_on_outline: int = 0  # the outline version the enrollment saw when it was made
    # Whether `enrollment` was read from the table in this recompute (else: taken from the summary).
    enrollment_read: bool = False
    records: dict[str, Progress] = field(default_factory=dict)

    @property
    def newest_outline(self) -> int:
        """The newest outline version this learner's items were computed or made against."""
        stored = self.stored.marks.outline if self.stored and self.stored.marks else 0
        return max(stored, self.enrolled_on_outline)
