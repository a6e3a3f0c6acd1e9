"""A lesson added or removed reaches every enrolled learner through fan-out segments: items in their
own partitions (one per page of the course's learners) whose stream records the summarizer processes
in parallel, each recomputing its learners and continuing in the next invocation when time runs short."""

from collections.abc import Callable
from typing import Any

from lms.clock import Clock, utc_now
from lms.observability import logger
from lms.pagination import PageRequest
from lms.repositories.enrollments import EnrollmentRepository
from lms.repositories.fanout import FanoutRepository
from lms.services.summaries.recompute import Changes, RecomputeResult, SummaryRecomputer

# Learners per fan-out segment: one page of enrollments, recomputed by one invocation.
LEARNERS_PER_SEGMENT = 100


class FanoutService:
    def __init__(
        self,
        recomputer: SummaryRecomputer,
        enrollments: EnrollmentRepository,
        fanout: FanoutRepository,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._recomputer = recomputer
        self._enrollments = enrollments
        self._fanout = fanout
        self._now = clock

    def start(self, course_id: str, cause: str, has_time: Callable[[], bool]) -> list[RecomputeResult]:
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
        return self.run_segment(course_id, 0, None, first_end, cause, has_time, stored=False)

    def run_segment(
        self,
        course_id: str,
        segment: int,
        start_key: dict[str, Any] | None,
        until: dict[str, Any] | None,
        cause: str,
        has_time: Callable[[], bool],
        *,
        stored: bool = True,
    ) -> list[RecomputeResult]:
        """Recompute one segment's learners: from `start_key` until the position `until` (None: to
        the end of the course's learners). `stored`: it has an item to remove at the end. When time
        runs short, the rest is left to the next invocation through the segment item's stream record."""
        results: list[RecomputeResult] = []
        start = start_key
        while True:
            page = self._enrollments.list_for_course(
                course_id, None, PageRequest(LEARNERS_PER_SEGMENT, start), full_pages=True
            )
            changed: Changes = {enrollment.user_id: {} for enrollment in page.items}
            # Checked against the course head: this fan-out exists to bring its learners to the outline
            # that changed, which this execution environment may not have seen yet.
            outcomes = list(self._recomputer.recompute_learners(course_id, changed, cause, fresh=True).values())
            failure = next((outcome for outcome in outcomes if isinstance(outcome, Exception)), None)
            if failure is not None:
                raise failure  # the segment's record is retried; learners already done are no-ops
            results += [outcome for outcome in outcomes if isinstance(outcome, RecomputeResult)]
            start = page.last_key
            if start is None or not page.items:
                break
            if until is not None and not self._enrollments.comes_before(start, until):
                break
            if not has_time():
                self._fanout.continue_segment(course_id, segment, start, until, cause, self._now())
                logger.info("fan-out segment continues in the next invocation", extra={"courseId": course_id})
                return results
        if stored:
            self._fanout.finish_segment(course_id, segment)
        return results
