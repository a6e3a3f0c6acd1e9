"""Enrollments: one item per learner and course (which makes duplicates impossible), an id reference,
and, for a course with a capacity, the course head's seat counter, changed in the same transactions.
An uncapped course's head is not written: enrollments of one course never queue on one item."""

from typing import Any

from lms import keys
from lms.keys import Entity, Writer
from lms.models.catalog import Course
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.pagination import Page, PageRequest
from lms.repositories.dynamo import (
    READS_PER_PAGE,
    Action,
    Table,
    TransactionCancelledError,
    delete_action,
    put_action,
    update_action,
    values,
)
from lms.repositories.erasures import ErasingError, erasing, guard_check
from lms.repositories.index_shards import precedes, query_partitions


class EnrollmentExistsError(Exception):
    def __init__(self, existing: Enrollment) -> None:
        super().__init__(existing.id)
        self.existing = existing


class CourseUnavailableError(Exception):
    """The course is full, or was deleted meanwhile."""


class StaleEnrollmentError(Exception):
    """The enrollment changed since it was read."""


# An enrollment an erasure marked takes no write but the erasure's (docs/privacy.md).
_NOT_ERASING = "attribute_not_exists(erasing)"
# Takes a seat: the course must exist and have room, if it has a capacity at all.
_TAKE_SEAT = "attribute_exists(pk) AND (attribute_not_exists(#capacity) OR seatsTaken < #capacity)"


def _seat_update(course_id: str, delta: int) -> Action:
    takes_seat = delta > 0
    return update_action(
        keys.course(course_id),
        "ADD seatsTaken :delta",
        condition=_TAKE_SEAT if takes_seat else None,
        expression_values=values(delta=delta),
        names={"#capacity": "capacity"} if takes_seat else None,
    )


class EnrollmentRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, enrollment: Enrollment, outline_version: int) -> dict[str, Any]:
        return {
            **keys.enrollment(enrollment.user_id, enrollment.course_id),
            **keys.enrollment_index(enrollment.user_id, enrollment.course_id),
            **enrollment.model_dump(by_alias=True, mode="json"),
            "entity": Entity.ENROLLMENT,
            "writer": Writer.API,
            # The outline version the enrollment saw: the summarizer computes the learner's first
            # summary against this one or a newer one (docs/architecture.md, "Outline versions").
            "outlineVersion": outline_version,
        }

    def create(self, enrollment: Enrollment, *, outline_version: int, capped: bool) -> None:
        """Store a new enrollment and, in a course with a capacity, take a seat, or explain why not."""
        ref = {
            **keys.enrollment_ref(enrollment.id),
            "entity": Entity.ENROLLMENT_REF,
            "userId": enrollment.user_id,
            "courseId": enrollment.course_id,
        }
        actions = {
            "enrollment": put_action(
                self._item(enrollment, outline_version),
                condition="attribute_not_exists(pk)",
                return_old_on_failure=True,
            ),
            "ref": put_action(ref, condition="attribute_not_exists(pk)"),
            # No erasure of the learner under way (a ConditionCheck: 2 WCU, docs/privacy.md).
            "guard": guard_check(enrollment.user_id),
        }
        if capped:
            actions["seat"] = _seat_update(enrollment.course_id, +1)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            if cancelled.failed("guard"):
                raise ErasingError from cancelled
            if cancelled.failed("enrollment"):
                existing = cancelled.item("enrollment") or self._table.get(
                    keys.enrollment(enrollment.user_id, enrollment.course_id)
                )
                if existing:
                    raise EnrollmentExistsError(Enrollment.model_validate(existing)) from cancelled
            if cancelled.failed("seat"):
                raise CourseUnavailableError from cancelled
            raise StaleEnrollmentError from cancelled

    def get(self, user_id: str, course_id: str) -> Enrollment | None:
        item = self._table.get(keys.enrollment(user_id, course_id))
        return Enrollment.model_validate(item) if item else None

    def get_with_course(self, user_id: str, course_id: str) -> tuple[Course | None, Enrollment | None]:
        """The course head and the learner's enrollment in it, in one round trip."""
        course: Course | None = None
        enrollment: Enrollment | None = None
        for item in self._table.batch_get([keys.course(course_id), keys.enrollment(user_id, course_id)]):
            if item["entity"] == Entity.COURSE:
                course = Course.model_validate(item)
            else:
                enrollment = Enrollment.model_validate(item)
        return course, enrollment

    def get_by_id(self, enrollment_id: str) -> Enrollment | None:
        item = self._table.get_by_ref(
            keys.enrollment_ref(enrollment_id),
            lambda ref: keys.enrollment(ref["userId"], ref["courseId"]),
            enrollment_id,
        )
        return Enrollment.model_validate(item) if item else None

    def change_status(self, current: Enrollment, changed: Enrollment, seat_delta: int) -> None:
        """Write a status change if the enrollment is still at `current.version`, moving a seat
        in the same transaction when the change takes or frees one (`seat_delta`: 0 in an uncapped
        course)."""
        update = update_action(
            keys.enrollment(current.user_id, current.course_id),
            "SET #status = :status, updatedAt = :now, completedAt = :completed, completedBy = :by, "
            "reopenedAt = :reopened, version = :version, writer = :writer",
            condition=f"version = :expected AND {_NOT_ERASING}",
            names={"#status": "status"},
            expression_values=values(
                status=changed.status.value,
                now=changed.updated_at,
                completed=changed.completed_at,
                by=changed.completed_by,
                reopened=changed.reopened_at,
                version=changed.version,
                writer=Writer.API.value,
                expected=current.version,
            ),
            return_old_on_failure=True,
        )
        actions = {"enrollment": update}
        if seat_delta:
            actions["seat"] = _seat_update(current.course_id, seat_delta)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            if erasing(cancelled.item("enrollment")):
                raise ErasingError from cancelled
            if cancelled.failed("seat"):
                raise CourseUnavailableError from cancelled
            raise StaleEnrollmentError from cancelled

    def delete(self, enrollment: Enrollment, *, capped: bool, statement_ids: list[str] | None = None) -> None:
        """Delete the enrollment (and free its seat); `statement_ids`, the xAPI statements sent about
        it, stay in the learner's partition for an erasure to void (docs/privacy.md)."""
        actions = {
            "enrollment": delete_action(
                keys.enrollment(enrollment.user_id, enrollment.course_id),
                condition=f"version = :expected AND {_NOT_ERASING}",
                expression_values=values(expected=enrollment.version),
                return_old_on_failure=True,
            ),
            "ref": delete_action(keys.enrollment_ref(enrollment.id)),
        }
        if capped and enrollment.status != EnrollmentStatus.DROPPED:
            actions["seat"] = _seat_update(enrollment.course_id, -1)
        if statement_ids:
            sent = {
                **keys.sent_statements(enrollment.user_id, enrollment.id),
                "entity": Entity.SENT_STATEMENTS,
                "userId": enrollment.user_id,
                "courseId": enrollment.course_id,
                "enrollmentId": enrollment.id,
                "statementIds": statement_ids,
            }
            actions["statements"] = put_action(sent)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            if erasing(cancelled.item("enrollment")):
                raise ErasingError from cancelled
            raise StaleEnrollmentError from cancelled

    def list_for_user(self, user_id: str, status: EnrollmentStatus | None, page: PageRequest) -> Page[Enrollment]:
        result = self._table.query_prefix(
            page, keys.user_partition(user_id), keys.ENROLLMENT_PREFIX, status.value if status else None
        )
        return Page([Enrollment.model_validate(i) for i in result.items], result.last_key)

    @staticmethod
    def comes_before(position: dict[str, Any], other: dict[str, Any]) -> bool:
        """Whether one position in a course's enrollments (a page's last key) precedes another."""
        return precedes(position, other)

    def list_for_course(
        self, course_id: str, status: EnrollmentStatus | None, page: PageRequest, *, full_pages: bool = False
    ) -> Page[Enrollment]:
        """A course's enrollments, by index shard, then learner. A request's page is bounded in reads
        (it may come short); `full_pages` fills it whatever that takes, for the summarizer's fan-out,
        whose segments are exactly one page of learners."""
        result = query_partitions(
            self._table,
            page,
            keys.course_enrollments_partitions(course_id),
            status=status.value if status else None,
            reads=None if full_pages else READS_PER_PAGE,
        )
        return Page([Enrollment.model_validate(i) for i in result.items], result.last_key)
