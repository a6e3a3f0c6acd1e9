"""The read path: a learner's summary or the course aggregate; and the course outline cache the
recompute shares, which asks the course head at most once per OUTLINE_REVALIDATE_S per course, never
per completion (docs/architecture.md, "Outline versions")."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from lms.errors import ForbiddenError, NotFoundError
from lms.identity import Identity
from lms.models.progress import CourseAggregate, LearnerSummary
from lms.observability import logger
from lms.repositories.courses import CourseRepository
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import SummaryRepository
from lms.services.access import manages_course
from lms.services.summaries.rules import LearnerProgress, Outline, summarize

# How long an execution environment uses its cached outline without asking the course head. Summaries
# stay exact whatever it is (a summary or enrollment made against a newer outline makes the cache
# reload at once, and the fan-out recomputes every learner); it bounds how soon an ordinary progress
# event picks up a change on its own: one GetItem per course, environment and second at most.
OUTLINE_REVALIDATE_S = 1.0


@dataclass(slots=True)
class _Cached:
    outline: Outline
    checked_at: float


class Outlines:
    """Course outlines, cached as long as the execution environment lives."""

    def __init__(
        self,
        courses: CourseRepository,
        *,
        clock: Callable[[], float] = time.monotonic,
        revalidate_after: float = OUTLINE_REVALIDATE_S,
    ) -> None:
        self._courses = courses
        self._clock = clock
        self._revalidate_after = revalidate_after
        self._cached: dict[str, _Cached] = {}

    def get(self, course_id: str, *, at_least: int = 0, fresh: bool = False) -> Outline | None:
        """The course's outline: the cached one while it is at least version `at_least` and was
        checked within the interval (`fresh`: check now); else the head says whether it changed."""
        cached = self._cached.get(course_id)
        now = self._clock()
        if (
            cached is not None
            and not fresh
            and cached.outline.version >= at_least
            and now - cached.checked_at < self._revalidate_after
        ):
            return cached.outline
        if cached is not None:
            head = self._courses.get_versioned_head(course_id)
            if head is None:
                return None
            if head.outline_version == cached.outline.version:
                cached.checked_at = now
                return cached.outline
        found = self._courses.get_versioned_outline(course_id)
        if found is None:
            return None
        logger.info("course outline read", extra={"courseId": course_id, "lessons": found.course.lesson_count})
        outline = Outline(found.course, found.outline_version)
        self._cached[course_id] = _Cached(outline, now)
        return outline


def _reads_own_summary(identity: Identity, user_id: str | None) -> bool:
    """Whether the caller asks for their own summary whatever the course (staff without `userId`
    may be asking for the aggregate: that takes the course head)."""
    if user_id is not None:
        return user_id == identity.user_id
    return not (identity.is_admin or identity.is_instructor)


class SummaryReader:
    def __init__(self, courses: CourseRepository, progress: ProgressRepository, summaries: SummaryRepository) -> None:
        self._courses = courses
        self._progress = progress
        self._summaries = summaries

    def read(self, identity: Identity, course_id: str, user_id: str | None) -> LearnerSummary | CourseAggregate:
        """A learner's summary, or for staff without `userId`, the course aggregate. A learner's own
        stored summary, while it counts an enrollment, is one GetItem that carries the whole answer.
        A summary the stream has not computed yet is computed here, with the same rules, and not
        stored."""
        if _reads_own_summary(identity, user_id):
            stored = self._summaries.get(identity.user_id, course_id)
            if stored is not None and stored.counted.enrolled:
                return stored.summary  # a deleted enrollment's summary is not counted: 404 below
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
        if not is_staff and not (stored and stored.counted.enrolled) and not self._enrolled(learner, course_id):
            # A learner sees their summary while enrolled in any status; never enrolled, or deleted
            # ("gone from every read"): 404. The stored summary says so first, a GetItem confirms.
            raise NotFoundError("No enrollment in this course.")
        if stored is not None:
            return stored.summary
        found = self._courses.get_versioned_outline(course_id)
        if found is None:
            raise NotFoundError("Course not found.")
        outline = Outline(found.course, found.outline_version)
        progress = LearnerProgress().apply(outline, self._progress.for_course(learner, course_id).values())
        return summarize(learner, outline, progress, None)

    def _enrolled(self, user_id: str, course_id: str) -> bool:
        return self._summaries.read_learners(course_id, [user_id], {})[user_id].enrollment is not None
