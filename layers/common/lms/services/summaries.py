"""Learner course summaries and course aggregates, kept current by the stream function, and the
summary a reader gets.

What a recompute costs does not grow with the course:
- the outline is cached in the container and revalidated with one GetItem of the course head per
  batch (its `updatedAt` and lesson counts change with every lesson added or removed);
- a summary remembers which outline lessons it counts as completed and viewed (bitmaps over the
  outline it was computed against), so a change is applied by reading only the records that changed;
  their *current* state is read, never the stream image, so a duplicate or replayed record changes
  nothing;
- a summary computed against another outline (or none yet) is rebuilt from the learner's records
  (one Query), with the same rules.
A lesson added or removed reaches every enrolled learner through fan-out segments: items in their
own partitions whose stream records the summarizer processes in parallel.
"""

import base64
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from lms.clock import Clock, utc_now
from lms.errors import ConcurrencyError, ForbiddenError, NotFoundError
from lms.identity import Identity
from lms.models.catalog import Course, Lesson
from lms.models.enrollments import Enrollment, EnrollmentProgress, EnrollmentStatus
from lms.models.progress import (
    CourseAggregate,
    LastAccessed,
    LearnerSummary,
    ModuleSummary,
    Progress,
    ProgressStatus,
)
from lms.models.summaries import (
    Contribution,
    EnrollmentChange,
    LearnerState,
    LessonMarks,
    StoredSummary,
    SummaryWrite,
)
from lms.observability import logger
from lms.pagination import PageRequest
from lms.repositories.courses import CourseRepository
from lms.repositories.enrollments import EnrollmentRepository
from lms.repositories.fanout import FanoutRepository
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import LEARNERS_PER_TRANSACTION, SummaryRepository, WritesRejectedError
from lms.services.access import manages_course

_ATTEMPTS = 5
# Learners per fan-out segment: one page of enrollments, recomputed by one invocation.
LEARNERS_PER_SEGMENT = 100


def percent_of(done: int, total: int) -> int:
    """floor(100 x done / total), 0 when there is nothing to do."""
    return math.floor(100 * done / total) if total else 0


def outline_stamp(course: Course) -> str:
    """Identifies an outline version: every lesson added or removed moves the head's `updatedAt`
    and its counts in the same transaction."""
    return f"{course.updated_at}|{course.lesson_count}|{course.required_lesson_count}"


class Outline:
    """A course outline with each lesson's place in outline order (modules, then lessons)."""

    def __init__(self, course: Course) -> None:
        self.course = course
        self.stamp = outline_stamp(course)
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
            outline.stamp,
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
        modules.append(
            ModuleSummary(
                module_id=module.id,
                completed_lessons=done,
                required_lessons=len(required),
                percent=percent_of(done, len(required)),
            )
        )
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


def enrollment_change(enrollment: Enrollment | None, summary: LearnerSummary) -> EnrollmentChange | None:
    """What the summary means for the enrollment: its progress, and completion the first time."""
    if enrollment is None:
        return None
    completes = (
        enrollment.status == EnrollmentStatus.ACTIVE
        and enrollment.completed_at is None
        and summary.percent == 100
        and summary.completed_at is not None
    )
    return EnrollmentChange(
        current=enrollment,
        progress=EnrollmentProgress(
            percent=summary.percent,
            completed_lessons=summary.completed_lessons,
            required_lessons=summary.required_lessons,
        ),
        completed_at=summary.completed_at if completes else None,
    )


def contribution(change: EnrollmentChange | None) -> Contribution:
    if change is None:
        return Contribution()
    status = EnrollmentStatus.COMPLETED if change.completed_at else change.current.status
    return Contribution(
        enrolled=1,
        active=int(status == EnrollmentStatus.ACTIVE),
        completed=int(status == EnrollmentStatus.COMPLETED),
        percent=change.progress.percent,
    )


def _differs(stored: StoredSummary, write: SummaryWrite, enrollment: Enrollment | None) -> bool:
    if write.summary.model_dump(exclude={"updated_at"}) != stored.summary.model_dump(exclude={"updated_at"}):
        return True
    # A newer `applied_through` alone is not worth a write: the summary still reflects every record
    # up to the stored one, and a record past it is read again if it is ever delivered again.
    if write.counted != stored.counted or replace(write.marks, applied_through=None) != (
        replace(stored.marks, applied_through=None) if stored.marks else None
    ):
        return True
    change = write.enrollment
    return bool(enrollment and change and (change.completed_at or enrollment.progress != change.progress))


def _backoff(attempt: int) -> None:
    # Full jitter: writers that collided on an item spread out instead of colliding again.
    time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - not cryptographic


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    changed: bool
    completed_course: bool


# What recomputing one learner came to: its result, or why it failed.
Outcome = RecomputeResult | Exception
# Per learner, the lessons whose records changed, each with its newest stream image (None: read it).
Changes = dict[str, dict[str, Progress | None]]


class SummaryService:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        progress: ProgressRepository,
        summaries: SummaryRepository,
        fanout: FanoutRepository,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._courses = courses
        self._enrollments = enrollments
        self._progress = progress
        self._summaries = summaries
        self._fanout = fanout
        self._now = clock
        self._outlines: dict[str, Outline] = {}  # lives as long as the execution environment

    # ------------------------------------------------------------------------------------ reading
    def read(self, identity: Identity, course_id: str, user_id: str | None) -> LearnerSummary | CourseAggregate:
        """A learner's summary, or for staff without `userId`, the course aggregate. A summary the
        stream has not computed yet is computed here, with the same rules, and not stored."""
        course = self._courses.get_head(course_id)
        if course is None:
            raise NotFoundError("Course not found.")
        is_staff = manages_course(identity, course)
        if user_id is None and is_staff:
            return self._summaries.get_aggregate(course_id)
        learner = user_id or identity.user_id
        if learner != identity.user_id and not is_staff:
            raise ForbiddenError("Only this course's instructors or an admin may read another learner's summary.")
        stored = self._summaries.get(learner, course_id)
        if stored is not None:
            return stored.summary
        outline = self._outline(course_id, course)
        if outline is None:
            raise NotFoundError("Course not found.")
        progress = LearnerProgress().apply(outline, self._progress.for_course(learner, course_id).values())
        return summarize(learner, outline, progress, None)

    def _outline(self, course_id: str, head: Course | None = None) -> Outline | None:
        """The course's outline, from the container's cache while the course head (read now, unless
        just read by the caller) says it is current."""
        head = head or self._courses.get_head(course_id)
        if head is None:
            return None
        cached = self._outlines.get(course_id)
        if cached is not None and cached.stamp == outline_stamp(head):
            return cached
        course = self._courses.get_outline(course_id)
        if course is None:
            return None
        logger.info("course outline read", extra={"courseId": course_id, "lessons": course.lesson_count})
        self._outlines[course_id] = outline = Outline(course)
        return outline

    # -------------------------------------------------------------------------------- recomputing
    def recompute_learners(self, course_id: str, changed: Changes, cause: str) -> dict[str, Outcome]:
        """Bring these learners' summaries up to date with the lessons named for each (with the
        newest stream image of its record, or None), or with everything for a learner whose summary
        must be rebuilt. Reads are batched, writes grouped into transactions; a learner whose write
        went stale is recomputed alone."""
        outline = self._outline(course_id)
        if outline is None:
            return dict.fromkeys(changed, RecomputeResult(changed=False, completed_course=False))
        outcomes: dict[str, Outcome] = {}
        pending = dict(changed)
        for attempt in range(_ATTEMPTS):
            if attempt:
                _backoff(attempt)
            states = self._read(course_id, outline, pending)
            writes: list[SummaryWrite] = []
            for user_id, state in states.items():
                write = self._recompute(user_id, outline, state)
                if write is None:
                    outcomes[user_id] = RecomputeResult(changed=False, completed_course=False)
                else:
                    writes.append(write)
            stale: set[str] = set()
            for start in range(0, len(writes), LEARNERS_PER_TRANSACTION):
                stale |= self._save(course_id, writes[start : start + LEARNERS_PER_TRANSACTION], cause, outcomes)
            pending = {user_id: pending[user_id] for user_id in stale}
            if not pending:
                return outcomes
        for user_id in pending:
            outcomes[user_id] = ConcurrencyError(f"summary of {user_id} in {course_id} kept changing")
        return outcomes

    def _read(self, course_id: str, outline: Outline, changed: Changes) -> dict[str, LearnerState]:
        """Summaries and enrollments, then the changed records a summary cannot take from the stream:
        an image is used as is only when it is newer than every record the summary reflects, which
        holds for records delivered in order; a duplicate or a replay is read again from the table."""
        states = self._summaries.read_learners(course_id, list(changed), {})
        to_read: dict[str, set[str]] = {}
        for user_id, state in states.items():
            marks = state.stored.marks if state.stored else None
            if marks is None or marks.stamp != outline.stamp:
                continue  # rebuilt from every record
            for lesson_id, image in changed[user_id].items():
                if image is not None and marks.applied_through is not None and image.updated_at > marks.applied_through:
                    state.records[lesson_id] = image
                else:
                    to_read.setdefault(user_id, set()).add(lesson_id)
        if to_read:
            for user_id, read in self._summaries.read_learners(course_id, [], to_read).items():
                states[user_id].records.update(read.records)
        return states

    def _recompute(self, user_id: str, outline: Outline, state: LearnerState) -> SummaryWrite | None:
        """The learner's new summary, or None when it would not change."""
        stored = state.stored
        if stored is not None and stored.marks is not None and stored.marks.stamp == outline.stamp:
            progress = LearnerProgress.from_marks(outline, stored.marks, stored.summary).apply(
                outline, state.records.values()
            )
        else:  # first summary, or computed against another outline: rebuild from every record
            records = self._progress.for_course(user_id, outline.course.id)
            progress = LearnerProgress().apply(outline, records.values())
        summary = summarize(user_id, outline, progress, stored.summary if stored else None)
        change = enrollment_change(state.enrollment, summary)
        write = SummaryWrite(summary, stored, contribution(change), progress.marks(outline), change)
        if stored is not None and not _differs(stored, write, state.enrollment):
            return None
        return SummaryWrite(
            summary.model_copy(update={"updated_at": self._now()}), stored, write.counted, write.marks, change
        )

    def _save(self, course_id: str, writes: list[SummaryWrite], cause: str, outcomes: dict[str, Outcome]) -> set[str]:
        """Store one transaction's worth of writes; returns the learners to recompute. Only what
        conflicted is retried: stale writes leave the group, the rest is sent again after a backoff."""
        stale: set[str] = set()
        for attempt in range(_ATTEMPTS):
            if not writes:
                return stale
            try:
                self._summaries.save(course_id, writes, self._now())
            except WritesRejectedError as rejected:
                stale |= {writes[i].summary.user_id for i in rejected.stale}
                writes = [write for i, write in enumerate(writes) if i not in rejected.stale]
                if rejected.conflicted:
                    _backoff(attempt)
                continue
            for write in writes:
                completed = bool(write.enrollment and write.enrollment.completed_at)
                outcomes[write.summary.user_id] = RecomputeResult(changed=True, completed_course=completed)
                logger.info(
                    "learner summary recomputed",
                    extra={"userId": write.summary.user_id, "courseId": course_id, "cause": cause},
                )
            return stale
        return stale | {write.summary.user_id for write in writes}

    # ----------------------------------------------------------------------------------- fan-out
    def start_fanout(self, course_id: str, cause: str, has_time: Callable[[], bool]) -> list[RecomputeResult]:
        """The outline changed: split the enrolled learners into segments (a page of enrollments
        each), schedule an item for every segment but the first, and recompute the first one here.
        A segment runs until the next one's start, not for a count: a learner who enrolls meanwhile
        must not push another past the segment's end, where no segment would reach them."""
        starts: list[dict[str, Any] | None] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._enrollments.list_for_course(
                course_id, None, PageRequest(LEARNERS_PER_SEGMENT, start), full_pages=True
            )
            if page.items:
                starts.append(start)
            start = page.last_key
            if start is None:
                break
        if not starts:
            return []
        later = [start for start in starts[1:] if start is not None]
        if later:
            self._fanout.schedule_segments(course_id, later, cause, self._now())
            logger.info("course fan-out scheduled", extra={"courseId": course_id, "segments": len(starts)})
        first_end = later[0] if later else None
        return self.run_segment(course_id, 0, None, None, cause, has_time, until=first_end, stored=False)

    def run_segment(
        self,
        course_id: str,
        segment: int,
        start_key: dict[str, Any] | None,
        limit: int | None,
        cause: str,
        has_time: Callable[[], bool],
        *,
        until: dict[str, Any] | None = None,
        stored: bool = True,
    ) -> list[RecomputeResult]:
        """Recompute one segment's learners: from `start_key` until the position `until`, or to the
        end of the course's learners when neither `until` nor `limit` is given (`limit`: a count, for
        segments scheduled before segments had ends). `stored`: it has an item to remove at the end.
        When time runs short, the rest is left to the next invocation through the segment item's
        stream record."""
        results: list[RecomputeResult] = []
        remaining, start = (limit if until is None else None), start_key
        while True:
            size = LEARNERS_PER_SEGMENT if remaining is None else min(remaining, LEARNERS_PER_SEGMENT)
            page = self._enrollments.list_for_course(course_id, None, PageRequest(size, start), full_pages=True)
            changed: Changes = {enrollment.user_id: {} for enrollment in page.items}
            outcomes = list(self.recompute_learners(course_id, changed, cause).values())
            failure = next((outcome for outcome in outcomes if isinstance(outcome, Exception)), None)
            if failure is not None:
                raise failure  # the segment's record is retried; learners already done are no-ops
            results += [outcome for outcome in outcomes if isinstance(outcome, RecomputeResult)]
            if remaining is not None:
                remaining -= len(page.items)
            start = page.last_key
            if start is None or not page.items or (remaining is not None and remaining <= 0):
                break
            if until is not None and not self._enrollments.comes_before(start, until):
                break
            if not has_time():
                self._fanout.continue_segment(course_id, segment, start, remaining, until, cause, self._now())
                logger.info("fan-out segment continues in the next invocation", extra={"courseId": course_id})
                return results
        if stored:
            self._fanout.finish_segment(course_id, segment)
        return results
