"""Enrollments: one item per learner and course (which makes duplicates impossible), an id reference,
and the course head's seat counter, changed in the same transactions."""

from typing import Any

from botocore.exceptions import ClientError

from lms import keys
from lms.keys import Entity, Writer
from lms.models.catalog import Course
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.pagination import Page, PageRequest
from lms.repositories.dynamo import READS_PER_PAGE, Table, cancellation, serialize, values
from lms.repositories.index_shards import query_partitions


class EnrollmentExistsError(Exception):
    def __init__(self, existing: Enrollment) -> None:
        super().__init__(existing.id)
        self.existing = existing


class CourseUnavailableError(Exception):
    """The course is full, or was deleted meanwhile."""


class StaleEnrollmentError(Exception):
    """The enrollment changed since it was read."""


# Takes a seat: the course must exist and have room, if it has a capacity at all.
_TAKE_SEAT = "attribute_exists(pk) AND (attribute_not_exists(#capacity) OR seatsTaken < #capacity)"


def _seat_update(course_id: str, delta: int, now: str) -> dict[str, Any]:
    update: dict[str, Any] = {
        "Key": serialize(keys.course(course_id)),
        "UpdateExpression": "ADD seatsTaken :delta",
        "ExpressionAttributeValues": values(delta=delta),
    }
    if delta > 0:
        update["ConditionExpression"] = _TAKE_SEAT
        update["ExpressionAttributeNames"] = {"#capacity": "capacity"}
    return {"Update": update}


class EnrollmentRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, enrollment: Enrollment) -> dict[str, Any]:
        return {
            **keys.enrollment(enrollment.user_id, enrollment.course_id),
            **keys.enrollment_index(enrollment.user_id, enrollment.course_id),
            **enrollment.model_dump(by_alias=True, mode="json"),
            "entity": Entity.ENROLLMENT,
            "writer": Writer.API,
        }

    def create(self, enrollment: Enrollment) -> None:
        """Store a new enrollment and take a seat, or explain why not."""
        ref = {
            **keys.enrollment_ref(enrollment.id),
            "entity": Entity.ENROLLMENT_REF,
            "userId": enrollment.user_id,
            "courseId": enrollment.course_id,
        }
        try:
            self._table.transact(
                [
                    {
                        "Put": {
                            "Item": serialize(self._item(enrollment)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {"Put": {"Item": serialize(ref), "ConditionExpression": "attribute_not_exists(pk)"}},
                    _seat_update(enrollment.course_id, +1, enrollment.enrolled_at),
                ]
            )
        except ClientError as error:
            reasons = cancellation(error)
            if reasons is None:
                raise
            if reasons.failed(0):
                existing = reasons.items[0] or self._table.get(
                    keys.enrollment(enrollment.user_id, enrollment.course_id)
                )
                if existing:
                    raise EnrollmentExistsError(Enrollment.model_validate(existing)) from error
            if reasons.failed(2):
                raise CourseUnavailableError from error
            raise StaleEnrollmentError from error

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
        in the same transaction when the change takes or frees one."""
        update = {
            "Key": serialize(keys.enrollment(current.user_id, current.course_id)),
            # Sets the index key too: an enrollment stored before index sharding moves to its shard.
            "UpdateExpression": "SET #status = :status, updatedAt = :now, completedAt = :completed, "
            "version = :version, writer = :writer, gsi1pk = :index",
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values(
                status=changed.status.value,
                now=changed.updated_at,
                completed=changed.completed_at,
                version=changed.version,
                writer=Writer.API.value,
                expected=current.version,
                index=keys.enrollment_index(current.user_id, current.course_id)["gsi1pk"],
            ),
        }
        actions: list[dict[str, Any]] = [{"Update": update}]
        if seat_delta:
            actions.append(_seat_update(current.course_id, seat_delta, changed.updated_at))
        try:
            self._table.transact(actions)
        except ClientError as error:
            reasons = cancellation(error)
            if reasons is None:
                raise
            if len(reasons.codes) > 1 and reasons.failed(1):
                raise CourseUnavailableError from error
            raise StaleEnrollmentError from error

    def delete(self, enrollment: Enrollment) -> None:
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "Key": serialize(keys.enrollment(enrollment.user_id, enrollment.course_id)),
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": values(expected=enrollment.version),
                }
            },
            {"Delete": {"Key": serialize(keys.enrollment_ref(enrollment.id))}},
        ]
        if enrollment.status != EnrollmentStatus.DROPPED:
            actions.append(_seat_update(enrollment.course_id, -1, enrollment.updated_at))
        try:
            self._table.transact(actions)
        except ClientError as error:
            if cancellation(error) is None:
                raise
            raise StaleEnrollmentError from error

    def list_for_user(self, user_id: str, status: EnrollmentStatus | None, page: PageRequest) -> Page[Enrollment]:
        result = self._table.query_prefix(
            page, keys.user_partition(user_id), keys.ENROLLMENT_PREFIX, status.value if status else None
        )
        return Page([Enrollment.model_validate(i) for i in result.items], result.last_key)

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
