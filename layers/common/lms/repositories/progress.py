"""Lesson progress: one item per learner and lesson, written with optimistic versions so that
concurrent writes lose nothing, and only while the learner holds a seat in the course and their
access to it lasts."""

from lms import keys
from lms.keys import Entity, Writer
from lms.models.catalog import LessonRef
from lms.models.enrollments import LEARNING_STATUSES, EnrollmentStatus
from lms.models.progress import Progress, ProgressStatus, VersionedProgress
from lms.pagination import Page, PageRequest
from lms.repositories.courses import lesson_ref_of
from lms.repositories.dynamo import (
    Action,
    Item,
    Table,
    TransactionCancelledError,
    condition_check,
    put_action,
    values,
)
from lms.repositories.erasures import ErasingError, erasing, guard_check
from lms.repositories.index_shards import query_partitions


class NotEnrolledError(Exception):
    """The learner holds no ACTIVE (or COMPLETED) enrollment in the lesson's course."""


class AccessOverError(NotEnrolledError):
    """The learner's access to the course has ended (`accessEndsAt` passed, or the enrollment EXPIRED)."""

    def __init__(self, access_ends_at: str | None) -> None:
        super().__init__(access_ends_at)
        self.access_ends_at = access_ends_at


# The enrollment a learner's write needs: a seat, and access that lasts (accessEndsAt absent, null or
# later than the write: times in clock.utc_now's form compare as text).
_ENROLLED = (
    "#status IN (:active, :completed) AND (attribute_not_exists(accessEndsAt) OR attribute_type(accessEndsAt, :null)"
    " OR accessEndsAt > :now) AND attribute_not_exists(erasing)"
)


def _refusal(enrollment: Item | None, now: str) -> NotEnrolledError:
    """Why the enrollment check failed, from the enrollment as it was read for the check."""
    if enrollment is not None:
        ends = enrollment.get("accessEndsAt")
        if enrollment.get("status") == EnrollmentStatus.EXPIRED or (
            enrollment.get("status") in LEARNING_STATUSES and ends is not None and ends <= now
        ):
            return AccessOverError(ends)
    return NotEnrolledError()


class ProgressChangedError(Exception):
    """Another write got there first; `current` is what is stored now (None: unknown, re-read)."""

    def __init__(self, current: VersionedProgress | None) -> None:
        super().__init__("progress changed concurrently")
        self.current = current


def _versioned(item: Item) -> VersionedProgress:
    completions = tuple(int(v) for v in item.get("completions") or ())
    return VersionedProgress(Progress.model_validate(item), int(item.get("version", 0)), completions)


# Lesson -> course, as learned from lesson references (a few MB at most before it starts afresh).
_LESSONS_REMEMBERED = 50_000


class ProgressRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._lesson_courses: dict[str, str] = {}

    def lesson_and_progress(self, user_id: str, lesson_id: str) -> tuple[LessonRef | None, VersionedProgress | None]:
        """Where the lesson lives, and what the learner did in it so far. The record's key names the
        course, which only the lesson reference says; a lesson never changes course, so once this
        execution environment knows it, both come in one BatchGetItem (the reference is still read:
        a deleted lesson takes no progress)."""
        course_id = self._lesson_courses.get(lesson_id)
        if course_id is None:
            item = self._table.get(keys.lesson_ref(lesson_id))
            if item is None:
                return None, None
            lesson = lesson_ref_of(item)
            self._remember(lesson)
            return lesson, self.get(user_id, lesson.course_id, lesson_id)
        found: LessonRef | None = None
        progress: VersionedProgress | None = None
        for item in self._table.batch_get([keys.lesson_ref(lesson_id), keys.progress(user_id, course_id, lesson_id)]):
            if item["entity"] == Entity.LESSON_REF:
                found = lesson_ref_of(item)
            else:
                progress = _versioned(item)
        return found, progress

    def _remember(self, lesson: LessonRef) -> None:
        if len(self._lesson_courses) >= _LESSONS_REMEMBERED:
            self._lesson_courses.clear()
        self._lesson_courses[lesson.lesson_id] = lesson.course_id

    def get(self, user_id: str, course_id: str, lesson_id: str) -> VersionedProgress | None:
        item = self._table.get(keys.progress(user_id, course_id, lesson_id))
        return _versioned(item) if item else None

    def get_by_id(self, progress_id: str) -> VersionedProgress | None:
        item = self._table.get_by_ref(
            keys.progress_ref(progress_id),
            lambda ref: keys.progress(ref["userId"], ref["courseId"], ref["lessonId"]),
            progress_id,
        )
        return _versioned(item) if item else None

    def for_course(self, user_id: str, course_id: str) -> dict[str, Progress]:
        """The learner's records in one course, keyed by lesson id: one strongly consistent Query of
        that course's key range, whatever the learner did in other courses."""
        items = self._table.query_all(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            expression_values=values(pk=keys.user_partition(user_id), prefix=keys.course_progress_prefix(course_id)),
        )
        return {i["lessonId"]: Progress.model_validate(i) for i in items}

    def _item(self, progress: Progress, version: int, completions: tuple[int, ...]) -> Item:
        return {
            **keys.progress(progress.user_id, progress.course_id, progress.lesson_id),
            **keys.progress_index(progress.user_id, progress.course_id, progress.lesson_id),
            **progress.model_dump(by_alias=True, mode="json"),
            "entity": Entity.PROGRESS,
            "writer": Writer.API,
            "version": version,
            # The versions this record completed at: the ids of its `completed` xAPI statements
            # (lms.events.derive), which an erasure voids.
            "completions": list(completions),
        }

    def save(
        self,
        changed: Progress,
        expected_version: int,
        *,
        require_enrollment: bool,
        completions: tuple[int, ...] = (),
    ) -> None:
        """Store `changed` if the record is still at `expected_version` (0: must not exist yet), with
        the versions it completed at (`completions`).

        With `require_enrollment`, the learner's enrollment is checked in the same transaction, so a
        drop, or an access end, that lands between the check and the write cannot slip through; the
        write's time is `changed.updatedAt`. A refused check returns the enrollment read for it (no
        extra units), which says why. An enrollment an erasure marked fails that check too (no added
        cost). Without it (staff), the erasure guard is checked.
        """
        if expected_version:
            condition, expected = "version = :expected", values(expected=expected_version)
        else:
            condition, expected = "attribute_not_exists(pk)", None
        put = put_action(
            self._item(changed, expected_version + 1, completions),
            condition=condition,
            expression_values=expected,
            return_old_on_failure=True,
        )
        actions: dict[str, Action] = {}
        if require_enrollment:
            actions["enrolled"] = condition_check(
                keys.enrollment(changed.user_id, changed.course_id),
                _ENROLLED,
                names={"#status": "status"},
                expression_values=values(
                    active=LEARNING_STATUSES[0].value,
                    completed=LEARNING_STATUSES[1].value,
                    null="NULL",
                    now=changed.updated_at,
                ),
                return_old_on_failure=True,
            )
        else:
            actions["guard"] = guard_check(changed.user_id)
        actions["record"] = put
        if not expected_version:
            ref = {
                **keys.progress_ref(changed.id),
                "entity": Entity.PROGRESS_REF,
                "userId": changed.user_id,
                "courseId": changed.course_id,
                "lessonId": changed.lesson_id,
            }
            actions["ref"] = put_action(ref)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            if cancelled.failed("guard"):
                raise ErasingError from cancelled
            if cancelled.failed("enrolled"):
                enrollment = cancelled.item("enrolled")
                # Marked by an erasure, or removed by one (a lookup on this failure path only).
                if erasing(enrollment) or (enrollment is None and self._table.get(keys.erasure_guard(changed.user_id))):
                    raise ErasingError from cancelled
                raise _refusal(enrollment, changed.updated_at) from cancelled
            current = cancelled.item("record") if cancelled.failed("record") else None
            raise ProgressChangedError(_versioned(current) if current else None) from cancelled

    def list_for_user(self, user_id: str, status: ProgressStatus | None, page: PageRequest) -> Page[Progress]:
        result = self._table.query_prefix(
            page, keys.user_partition(user_id), keys.PROGRESS_PREFIX, status.value if status else None
        )
        return Page([Progress.model_validate(i) for i in result.items], result.last_key)

    def list_for_course(
        self, course_id: str, user_id: str | None, status: ProgressStatus | None, page: PageRequest
    ) -> Page[Progress]:
        """A course's records, every learner's or one learner's (only the partitions that may hold
        them), by index shard, then learner, then lesson."""
        result = query_partitions(
            self._table,
            page,
            keys.course_progress_partitions(course_id, user_id),
            sort_prefix=keys.course_progress_learner_prefix(user_id) if user_id is not None else None,
            status=status.value if status else None,
        )
        return Page([Progress.model_validate(i) for i in result.items], result.last_key)
