"""What the summarizer computes and stores beside a learner's summary: the learner's contribution to
the course aggregate, the outline lessons the summary counts, and the write to the enrollment."""

from dataclasses import asdict, dataclass, field

from lms.models.enrollments import Enrollment, EnrollmentProgress
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
class StoredSummary:
    summary: LearnerSummary
    version: int
    counted: Contribution
    marks: LessonMarks | None = None


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


@dataclass(slots=True)
class LearnerState:
    """What a batch read found for one learner of a course."""

    stored: StoredSummary | None = None
    enrollment: Enrollment | None = None
    enrolled_on_outline: int = 0  # the outline version the enrollment saw when it was made
    records: dict[str, Progress] = field(default_factory=dict)

    @property
    def newest_outline(self) -> int:
        """The newest outline version this learner's items were computed or made against."""
        stored = self.stored.marks.outline if self.stored and self.stored.marks else 0
        return max(stored, self.enrolled_on_outline)
