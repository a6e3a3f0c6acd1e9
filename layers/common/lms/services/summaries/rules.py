"""The summary rules, pure: an outline's lesson bitmaps, what a learner's records come to, the
summary, and what it means for the enrollment and the course aggregate. The read path and the
recompute apply them alike, so a summary computed on read equals the one the stream stores."""

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from lms.models.catalog import Course, Lesson
from lms.models.enrollments import Enrollment, EnrollmentProgress, EnrollmentStatus, LearnerCompletion, settle
from lms.models.progress import LastAccessed, LearnerSummary, ModuleSummary, Progress, ProgressStatus, percent_of
from lms.models.summaries import Contribution, EnrollmentChange, LessonMarks, StoredSummary, SummaryWrite


class Outline:
    """A course outline, at the version the course head counts (`outlineVersion`: it moves with
    every module or lesson added and lesson removed), with each lesson's place in outline order."""

    def __init__(self, course: Course, version: int) -> None:
        self.course = course
        self.version = version
        self.lessons: list[Lesson] = [lesson for module in course.modules for lesson in module.lessons]
        self.index = {lesson.id: i for i, lesson in enumerate(self.lessons)}
        self.required = {lesson.id for lesson in self.lessons if lesson.required}

    def bitmap(self, lesson_ids: Iterable[str]) -> str:
        bits = bytearray((len(self.lessons) + 7) // 8)
        for lesson_id in lesson_ids:
            i = self.index[lesson_id]
            bits[i // 8] |= 1 << (i % 8)
        return base64.b64encode(bytes(bits)).decode("ascii")

    def lessons_in(self, bitmap: str) -> set[str]:
        bits = base64.b64decode(bitmap)
        return {
            lesson.id for i, lesson in enumerate(self.lessons) if i // 8 < len(bits) and bits[i // 8] >> (i % 8) & 1
        }


@dataclass(slots=True)
class LearnerProgress:
    """What a summary is computed from: the outline lessons a learner completed and viewed."""

    completed: set[str] = field(default_factory=set)
    viewed: set[str] = field(default_factory=set)
    last_accessed: LastAccessed | None = None
    latest_completion: str | None = None  # of a required lesson
    applied_through: str | None = None  # the newest updatedAt among the records applied

    def apply(self, outline: Outline, records: Iterable[Progress]) -> "LearnerProgress":
        """Take each record's current state as the truth for its lesson (records of lessons no
        longer in the outline count for nothing)."""
        for record in records:
            self.applied_through = max(self.applied_through or "", record.updated_at)
            if record.lesson_id not in outline.index:
                continue
            if record.status == ProgressStatus.COMPLETED:
                self.completed.add(record.lesson_id)
                if record.lesson_id in outline.required and record.completed_at:
                    self.latest_completion = max(self.latest_completion or "", record.completed_at)
            else:
                self.completed.discard(record.lesson_id)
            if record.view_count > 0:
                self.viewed.add(record.lesson_id)
            if record.last_viewed_at and (self.last_accessed is None or record.last_viewed_at > self.last_accessed.at):
                self.last_accessed = LastAccessed(lesson_id=record.lesson_id, at=record.last_viewed_at)
        return self

    @classmethod
    def from_marks(cls, outline: Outline, marks: LessonMarks, summary: LearnerSummary) -> "LearnerProgress":
        return cls(
            outline.lessons_in(marks.completed),
            outline.lessons_in(marks.viewed),
            summary.last_accessed,
            marks.latest_completion,
            marks.applied_through,
        )

    def marks(self, outline: Outline) -> LessonMarks:
        return LessonMarks(
            outline.version,
            outline.bitmap(self.completed),
            outline.bitmap(self.viewed),
            self.latest_completion,
            self.applied_through,
        )


def summarize(
    user_id: str, outline: Outline, progress: LearnerProgress, previous: LearnerSummary | None
) -> LearnerSummary:
    """The learner's summary for the course as it is now (`updatedAt` left for the caller)."""
    modules: list[ModuleSummary] = []
    next_lesson_id: str | None = None
    required_total = done_total = 0
    for module in outline.course.modules:
        required = [lesson for lesson in module.lessons if lesson.required]
        done = sum(1 for lesson in required if lesson.id in progress.completed)
        modules.append(ModuleSummary.of(module.id, done, len(required)))
        required_total += len(required)
        done_total += done
        if next_lesson_id is None:
            next_lesson_id = next((lesson.id for lesson in required if lesson.id not in progress.completed), None)
    percent = percent_of(done_total, required_total)
    # Completion is sticky, and dated by the lesson that completed the course, so a recompute repeats it.
    completed_at = previous.completed_at if previous and previous.completed_at else None
    if completed_at is None and percent == 100:
        completed_at = progress.latest_completion
    return LearnerSummary(
        user_id=user_id,
        course_id=outline.course.id,
        percent=percent,
        completed_lessons=done_total,
        required_lessons=required_total,
        viewed_lessons=len(progress.viewed),
        modules=modules,
        last_accessed=progress.last_accessed,
        next_lesson_id=next_lesson_id,
        completed_at=completed_at,
        updated_at=previous.updated_at if previous else None,
    )


def enrollment_change(
    enrollment: Enrollment | None, summary: LearnerSummary, progress: LearnerProgress
) -> EnrollmentChange | None:
    """What the summary means for the enrollment: its progress, and the learner's completion when
    the completion rule says their lessons complete it now."""
    if enrollment is None:
        return None
    data = LearnerCompletion(summary.percent, progress.latest_completion, summary.completed_at)
    settled = settle(enrollment, data)
    return EnrollmentChange(
        current=enrollment,
        progress=EnrollmentProgress(
            percent=summary.percent,
            completed_lessons=summary.completed_lessons,
            required_lessons=summary.required_lessons,
        ),
        completed=settled if settled is not enrollment else None,
    )


def contribution(change: EnrollmentChange | None) -> Contribution:
    if change is None:
        return Contribution()
    status = (change.completed or change.current).status
    return Contribution(
        enrolled=1,
        active=int(status == EnrollmentStatus.ACTIVE),
        completed=int(status == EnrollmentStatus.COMPLETED),
        percent=change.progress.percent,
        expired=int(status == EnrollmentStatus.EXPIRED),
    )


def differs(stored: StoredSummary, write: SummaryWrite, enrollment: Enrollment | None) -> bool:
    if write.summary.model_dump(exclude={"updated_at"}) != stored.summary.model_dump(exclude={"updated_at"}):
        return True
    # The enrollment the summary records must stay the one stored: a change to it is written even
    # when nothing else moved (lms.services.summaries.recompute says why).
    if not stored.knows_enrollment or stored.enrollment != write.seen:
        return True
    # A newer `applied_through` alone is not worth a write: the summary still reflects every record
    # up to the stored one, and a record past it is read again if it is ever delivered again.
    if write.counted != stored.counted or replace(write.marks, applied_through=None) != (
        replace(stored.marks, applied_through=None) if stored.marks else None
    ):
        return True
    change = write.enrollment
    return bool(enrollment and change and (change.completed or enrollment.progress != change.progress))
