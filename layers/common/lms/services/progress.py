"""Progress rules: what a view or a completion does to a lesson record, and who may see and reset it.
A learner's course summary is read through lms.services.summaries."""

from collections.abc import Callable

from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.errors import AccessEndedError, ConcurrencyError, ErasureInProgressError, ForbiddenError, NotFoundError
from lms.identity import Identity
from lms.models.catalog import Course, LessonRef
from lms.models.progress import (
    Progress,
    ProgressAction,
    ProgressOutcome,
    ProgressRecord,
    ProgressStatus,
    ProgressUpdate,
    VersionedProgress,
)
from lms.pagination import Page, PageRequest
from lms.repositories.courses import CourseRepository
from lms.repositories.erasures import ErasingError
from lms.repositories.progress import AccessOverError, NotEnrolledError, ProgressChangedError, ProgressRepository
from lms.retry import Retry
from lms.services.access import acting_user, is_staff, manages_course, require_visible

# Enough for a burst of parallel writes to one record to settle one after another: waits of up to
# 5 ms doubling to 50 ms; tries start within 3 s, well inside the API functions' 10 s timeout.
WRITE_RETRY = Retry(attempts=50, base=0.005, cap=0.05, budget=3.0)
_TOO_BUSY = "Too many concurrent writes to this lesson record; retry the request."


def _write[R](attempt: Callable[[], R]) -> R:
    """`attempt` a write of a lesson record, again over each lost race, within WRITE_RETRY; the
    repository's refusals as the API's errors."""
    try:
        return WRITE_RETRY.call(attempt, on=(ProgressChangedError,))
    except AccessOverError as ended:
        raise AccessEndedError(ended.access_ends_at) from None
    except NotEnrolledError:
        raise ForbiddenError("You have no active enrollment in this lesson's course.") from None
    except ErasingError:
        raise ErasureInProgressError from None
    except ProgressChangedError:
        raise ConcurrencyError(_TOO_BUSY) from None


def record_activity(
    previous: Progress | None, lesson: LessonRef, user_id: str, activity: ProgressRecord, now: str, new_id: str
) -> Progress:
    """A view (or a completion, which is also a view) applied to the lesson record; a record made
    now, when there is none yet, takes `new_id`. The record is monotonic: counts add up, first times
    and completion are set once and never moved."""
    base = previous or Progress(
        id=new_id,
        user_id=user_id,
        course_id=lesson.course_id,
        module_id=lesson.module_id,
        lesson_id=lesson.lesson_id,
        status=ProgressStatus.IN_PROGRESS,
        view_count=0,
        time_spent_seconds=0,
        updated_at=now,
    )
    completing = activity.action == ProgressAction.COMPLETE
    return base.model_copy(
        update={
            "view_count": base.view_count + 1,
            "time_spent_seconds": base.time_spent_seconds + (activity.time_spent_seconds or 0),
            "position": base.position if activity.position is None else activity.position,
            "first_viewed_at": base.first_viewed_at or now,
            "last_viewed_at": now,
            "status": ProgressStatus.COMPLETED if completing else base.status,
            "completed_at": base.completed_at or (now if completing else None),
            "updated_at": now,
        }
    )


def completions_after(current: VersionedProgress | None, changed: Progress) -> tuple[int, ...]:
    """The versions a record completed at, with this write's when it completes the lesson (as
    lms.events.derive dates a LessonCompleted: COMPLETED now, not before)."""
    before = current.completions if current else ()
    if changed.status == ProgressStatus.COMPLETED and (current is None or current.progress.status != changed.status):
        return (*before, (current.version if current else 0) + 1)
    return before


def apply_update(current: Progress, update: ProgressUpdate, is_staff: bool, now: str) -> Progress:
    """An explicit edit. Learners may complete a lesson; only staff may reopen a completed one."""
    changes: dict[str, object] = {}
    if update.time_spent_seconds is not None:
        changes["time_spent_seconds"] = update.time_spent_seconds
    if update.position is not None:
        changes["position"] = update.position
    if update.status == ProgressStatus.COMPLETED and current.status != ProgressStatus.COMPLETED:
        changes |= {"status": ProgressStatus.COMPLETED, "completed_at": current.completed_at or now}
    if update.status == ProgressStatus.IN_PROGRESS and current.status == ProgressStatus.COMPLETED:
        if not is_staff:
            raise ForbiddenError("Only the course's instructors or an admin may reopen a completed lesson.")
        changes |= {"status": ProgressStatus.IN_PROGRESS, "completed_at": None}
    if all(getattr(current, name) == value for name, value in changes.items()):
        return current
    return current.model_copy(update={**changes, "updated_at": now})


class ProgressService:
    def __init__(
        self,
        progress: ProgressRepository,
        courses: CourseRepository,
        *,
        clock: Clock = utc_now,
        ids: IdGenerator = new_id,
    ) -> None:
        self._progress = progress
        self._courses = courses
        self._now = clock
        self._new_id = ids

    def record(self, identity: Identity, activity: ProgressRecord) -> ProgressOutcome:
        """Two round trips when uncontended (three the first time an execution environment meets the
        lesson): the lesson and the record, then one transaction. A write that lost a race is made
        again over the record the winner stored."""
        lesson, current = self._progress.lesson_and_progress(identity.user_id, activity.lesson_id)
        if lesson is None:
            raise NotFoundError("Lesson not found.")

        def attempt() -> ProgressOutcome:
            nonlocal current  # the record as last seen, carried from one try to the next
            previous = current.progress if current else None
            record_id = previous.id if previous else self._new_id()
            changed = record_activity(previous, lesson, identity.user_id, activity, self._now(), record_id)
            try:
                self._progress.save(
                    changed,
                    current.version if current else 0,
                    require_enrollment=True,
                    completions=completions_after(current, changed),
                )
            except ProgressChangedError as conflict:
                current = conflict.current or self._progress.get(identity.user_id, lesson.course_id, lesson.lesson_id)
                raise
            return ProgressOutcome(progress=changed, created=previous is None)

        return _write(attempt)

    def _visible(self, identity: Identity, progress_id: str) -> tuple[VersionedProgress, Course | None]:
        found = self._progress.get_by_id(progress_id)
        if found is None:
            raise NotFoundError("Progress not found.")
        course = None if identity.is_admin else self._courses.get_head(found.progress.course_id)
        require_visible(identity, found.progress.user_id, course, "Progress")
        return found, course

    def get(self, identity: Identity, progress_id: str) -> Progress:
        return self._visible(identity, progress_id)[0].progress

    def update(self, identity: Identity, progress_id: str, update: ProgressUpdate) -> Progress:
        def attempt() -> Progress:
            current, course = self._visible(identity, progress_id)
            by_staff = is_staff(identity, course)
            changed = apply_update(current.progress, update, by_staff, self._now())
            if changed is not current.progress:
                # A learner edits their own record only while they hold a seat, as for POST /progress.
                self._progress.save(
                    changed,
                    current.version,
                    require_enrollment=not by_staff,
                    completions=completions_after(current, changed),
                )
            return changed

        return _write(attempt)

    def list_mine(
        self, identity: Identity, user_id: str | None, status: ProgressStatus | None, page: PageRequest
    ) -> Page[Progress]:
        return self._progress.list_for_user(acting_user(identity, user_id), status, page)

    def _course(self, course_id: str) -> Course:
        course = self._courses.get_head(course_id)
        if course is None:
            raise NotFoundError("Course not found.")
        return course

    def list_for_course(
        self,
        identity: Identity,
        course_id: str,
        user_id: str | None,
        status: ProgressStatus | None,
        page: PageRequest,
    ) -> Page[Progress]:
        """Staff see every learner's records (or one learner's); learners see their own."""
        course = self._course(course_id)
        learner = user_id if manages_course(identity, course) else acting_user(identity, user_id)
        return self._progress.list_for_course(course_id, learner, status, page)
