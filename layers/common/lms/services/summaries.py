"""Learner course summaries and course aggregates, recomputed from state by the stream function.

A summary is always rebuilt from the outline and the learner's lesson records, never patched from
the change that triggered it, so it heals itself and a record delivered twice changes nothing.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lms.clock import utc_now
from lms.errors import ConcurrencyError
from lms.models.catalog import Course
from lms.models.enrollments import Enrollment, EnrollmentProgress, EnrollmentStatus
from lms.models.progress import LastAccessed, LearnerSummary, ModuleSummary, Progress, ProgressStatus
from lms.observability import logger
from lms.pagination import PageRequest
from lms.repositories.courses import CourseRepository
from lms.repositories.enrollments import EnrollmentRepository
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import (
    Contribution,
    EnrollmentChange,
    StoredSummary,
    SummaryChangedError,
    SummaryRepository,
)

_ATTEMPTS = 5
LEARNERS_PER_PAGE = 100


def percent_of(done: int, total: int) -> int:
    """floor(100 x done / total), 0 when there is nothing to do."""
    return math.floor(100 * done / total) if total else 0


def summarize(
    user_id: str, course: Course, records: dict[str, Progress], previous: LearnerSummary | None
) -> LearnerSummary:
    """The learner's summary for the course as it is now (`updatedAt` left for the caller)."""
    completed = {lesson_id for lesson_id, p in records.items() if p.status == ProgressStatus.COMPLETED}
    modules: list[ModuleSummary] = []
    next_lesson_id: str | None = None
    required_total = done_total = 0
    required_completion_times: list[str] = []
    for module in course.modules:
        required = [lesson for lesson in module.lessons if lesson.required]
        done = [lesson for lesson in required if lesson.id in completed]
        modules.append(
            ModuleSummary(
                module_id=module.id,
                completed_lessons=len(done),
                required_lessons=len(required),
                percent=percent_of(len(done), len(required)),
            )
        )
        required_total += len(required)
        done_total += len(done)
        required_completion_times += [records[lesson.id].completed_at or "" for lesson in done]
        if next_lesson_id is None:
            next_lesson_id = next((lesson.id for lesson in required if lesson.id not in completed), None)
    in_outline = [records[lesson.id] for module in course.modules for lesson in module.lessons if lesson.id in records]
    last = max(in_outline, key=lambda p: p.last_viewed_at or "", default=None)
    percent = percent_of(done_total, required_total)
    # Completion is sticky, and dated by the lesson that completed the course, so a recompute repeats it.
    completed_at = previous.completed_at if previous and previous.completed_at else None
    if completed_at is None and percent == 100:
        completed_at = max(required_completion_times)
    return LearnerSummary(
        user_id=user_id,
        course_id=course.id,
        percent=percent,
        completed_lessons=done_total,
        required_lessons=required_total,
        viewed_lessons=sum(1 for p in in_outline if p.view_count > 0),
        modules=modules,
        last_accessed=LastAccessed(lesson_id=last.lesson_id, at=last.last_viewed_at)
        if last and last.last_viewed_at
        else None,
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


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    changed: bool
    completed_course: bool


class SummaryService:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        progress: ProgressRepository,
        summaries: SummaryRepository,
    ) -> None:
        self._courses = courses
        self._enrollments = enrollments
        self._progress = progress
        self._summaries = summaries

    def recompute_learner(self, user_id: str, course_id: str, cause: str) -> RecomputeResult:
        """Rebuild one learner's summary; retried from scratch when a concurrent write interferes."""
        for _ in range(_ATTEMPTS):
            try:
                return self._recompute_once(user_id, course_id, cause)
            except SummaryChangedError:
                continue
        raise ConcurrencyError(f"summary of {user_id} in {course_id} kept changing")

    def _recompute_once(self, user_id: str, course_id: str, cause: str) -> RecomputeResult:
        course = self._courses.get_outline(course_id)
        if course is None:
            return RecomputeResult(changed=False, completed_course=False)
        enrollment = self._enrollments.get(user_id, course_id)
        lesson_ids = [lesson.id for module in course.modules for lesson in module.lessons]
        records = self._progress.for_lessons(user_id, lesson_ids)
        stored = self._summaries.get(user_id, course_id)
        summary = summarize(user_id, course, records, stored.summary if stored else None)
        change = enrollment_change(enrollment, summary)
        counted = contribution(change)
        if stored and not self._differs(stored, summary, counted, enrollment, change):
            return RecomputeResult(changed=False, completed_course=False)
        summary = summary.model_copy(update={"updated_at": utc_now()})
        self._summaries.save(summary, stored, counted, change, (user_id, course_id))
        completed_course = bool(change and change.completed_at)
        logger.info(
            "learner summary recomputed",
            extra={"userId": user_id, "courseId": course_id, "cause": cause, "percent": summary.percent},
        )
        return RecomputeResult(changed=True, completed_course=completed_course)

    @staticmethod
    def _differs(
        stored: StoredSummary,
        summary: LearnerSummary,
        counted: Contribution,
        enrollment: Enrollment | None,
        change: EnrollmentChange | None,
    ) -> bool:
        if summary.model_dump(exclude={"updated_at"}) != stored.summary.model_dump(exclude={"updated_at"}):
            return True
        if counted != stored.counted:
            return True
        return bool(enrollment and change and (change.completed_at or enrollment.progress != change.progress))

    def recompute_course(
        self,
        course_id: str,
        cause: str,
        start_key: dict[str, Any] | None,
        has_time: Callable[[], bool],
        on_learner: Callable[[RecomputeResult], None],
    ) -> None:
        """Recompute every enrolled learner, a page at a time. When time runs short, the rest is
        scheduled as a continuation that the next invocation picks up from the same cursor."""
        page_start = start_key
        while True:
            page = self._enrollments.list_for_course(course_id, None, PageRequest(LEARNERS_PER_PAGE, page_start))
            for enrollment in page.items:
                on_learner(self.recompute_learner(enrollment.user_id, course_id, cause))
            page_start = page.last_key
            if page_start is None:
                if start_key is not None:
                    self._summaries.finish_course_recompute(course_id)
                return
            if not has_time():
                self._summaries.schedule_course_recompute(course_id, page_start, cause, utc_now())
                logger.info("course recompute continues in the next invocation", extra={"courseId": course_id})
                return
