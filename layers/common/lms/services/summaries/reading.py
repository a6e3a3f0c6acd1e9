"""The read path: a learner's summary or the course aggregate, and the course outline cache the
recompute shares (revalidated with one GetItem of the course head, whose `updatedAt` and lesson
counts change with every lesson added or removed)."""

from lms.errors import ForbiddenError, NotFoundError
from lms.identity import Identity
from lms.models.catalog import Course
from lms.models.progress import CourseAggregate, LearnerSummary
from lms.observability import logger
from lms.repositories.courses import CourseRepository
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import SummaryRepository
from lms.services.access import manages_course
from lms.services.summaries.rules import LearnerProgress, Outline, outline_stamp, summarize


class Outlines:
    """Course outlines, cached as long as the execution environment lives."""

    def __init__(self, courses: CourseRepository) -> None:
        self._courses = courses
        self._cached: dict[str, Outline] = {}

    def get(self, course_id: str, head: Course | None = None) -> Outline | None:
        """The course's outline, from the cache while the course head (read now, unless just read by
        the caller) says it is current."""
        head = head or self._courses.get_head(course_id)
        if head is None:
            return None
        cached = self._cached.get(course_id)
        if cached is not None and cached.stamp == outline_stamp(head):
            return cached
        course = self._courses.get_outline(course_id)
        if course is None:
            return None
        logger.info("course outline read", extra={"courseId": course_id, "lessons": course.lesson_count})
        self._cached[course_id] = outline = Outline(course)
        return outline


class SummaryReader:
    def __init__(self, courses: CourseRepository, progress: ProgressRepository, summaries: SummaryRepository) -> None:
        self._courses = courses
        self._progress = progress
        self._summaries = summaries
        self._outlines = Outlines(courses)

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
        if not is_staff and not (stored and stored.counted.enrolled) and not self._enrolled(learner, course_id):
            # A learner sees their summary while enrolled in any status; never enrolled, or deleted
            # ("gone from every read"): 404. The stored summary says so first, a GetItem confirms.
            raise NotFoundError("No enrollment in this course.")
        if stored is not None:
            return stored.summary
        outline = self._outlines.get(course_id, course)
        if outline is None:
            raise NotFoundError("Course not found.")
        progress = LearnerProgress().apply(outline, self._progress.for_course(learner, course_id).values())
        return summarize(learner, outline, progress, None)

    def _enrolled(self, user_id: str, course_id: str) -> bool:
        return self._summaries.read_learners(course_id, [user_id], {})[user_id].enrollment is not None
