"""Enrollments: one item per learner and course (which makes duplicates impossible), an id reference,
and, for a course with a capacity, the course head's seat counter, changed in the same transactions.
An uncapped course's head is not written: enrollments of one course never queue on one item.

An ACTIVE enrollment with an `accessEndsAt` is also in the sparse index `gsi2`, by the minute its
access ends (`keys.access_end_index`); every write of the API sets or removes those attributes, and
the expiry removes them."""

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from lms import keys
from lms.keys import Entity, Writer
from lms.models.catalog import Course
from lms.models.enrollments import SEATLESS_STATUSES, Enrollment, EnrollmentStatus
from lms.models.roster import EnrollmentWrite
from lms.pagination import Page, PageRequest
from lms.repositories.dynamo import (
    READS_PER_PAGE,
    Action,
    ConditionFailedError,
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


class SeatBusyError(Exception):
    """An expiry's seat could not be freed now: the course head was in another transaction."""


class EnrollmentsNotWrittenError(Exception):
    """A transaction of several learners' writes (`write_many`) did not commit. By write index: the
    enrollments found where a new one was to go (`found`), the writes whose enrollment changed since
    it was read (`stale`), the learners an erasure is under way for (`erasing`); `seats_refused`: the
    course had no room for them all (or its capacity moved); `conflicted`: nothing but another
    transaction in the way, so the same writes may pass."""

    def __init__(self, cancelled: TransactionCancelledError, writes: Sequence[EnrollmentWrite]) -> None:
        super().__init__(str(cancelled))
        self.found: dict[int, Enrollment] = {}
        self.stale: set[int] = set()
        self.erasing: set[int] = set()
        for index, write in enumerate(writes):
            item = cancelled.item(f"enrollment{index}")
            if cancelled.failed(f"guard{index}") or erasing(item):
                self.erasing.add(index)
            elif not cancelled.failed(f"enrollment{index}"):
                continue
            elif write.current is None and item:
                self.found[index] = Enrollment.model_validate(item)
            else:
                self.stale.add(index)
        self.seats_refused = cancelled.failed("seat")
        self.conflicted = not (self.found or self.stale or self.erasing or self.seats_refused)


# Takes a seat: the course must exist and have room, if it has a capacity at all.
_TAKE_SEAT = "attribute_exists(pk) AND (attribute_not_exists(#capacity) OR seatsTaken < #capacity)"


def _seats_taken(course_id: str, seats: int, capacity: int) -> Action:
    """`seats` seats at once, if they all fit under `capacity` as read, still the stored one (a
    condition cannot add, so the room is computed here; a capacity changed meanwhile refuses it)."""
    return update_action(
        keys.course(course_id),
        "ADD seatsTaken :seats",
        condition="#capacity = :capacity AND seatsTaken <= :room",
        expression_values=values(seats=seats, capacity=capacity, room=capacity - seats),
        names={"#capacity": "capacity"},
    )


def _seat_update(course_id: str, delta: int) -> Action:
    takes_seat = delta > 0
    return update_action(
        keys.course(course_id),
        "ADD seatsTaken :delta",
        condition=_TAKE_SEAT if takes_seat else None,
        expression_values=values(delta=delta),
        names={"#capacity": "capacity"} if takes_seat else None,
    )


def _status_update(current: Enrollment, changed: Enrollment) -> Action:
    """A status change (and staff's access end), if the enrollment is still at `current.version`; in or
    out of the access-end index as the changed enrollment says."""
    pending = _pending_access_end(changed)
    return update_action(
        keys.enrollment(current.user_id, current.course_id),
        "SET #status = :status, updatedAt = :now, completedAt = :completed, completedBy = :by, "
        "reopenedAt = :reopened, accessEndsAt = :ends, version = :version, writer = :writer"
        + (", gsi2pk = :gsi2pk, gsi2sk = :gsi2sk" if pending else " REMOVE gsi2pk, gsi2sk"),
        condition=f"version = :expected AND {_NOT_ERASING}",
        names={"#status": "status"},
        expression_values=values(
            status=changed.status.value,
            now=changed.updated_at,
            completed=changed.completed_at,
            by=changed.completed_by,
            reopened=changed.reopened_at,
            ends=changed.access_ends_at,
            version=changed.version,
            writer=Writer.API.value,
            expected=current.version,
            **(pending or {}),
        ),
        return_old_on_failure=True,
    )


def _pending_access_end(enrollment: Enrollment) -> dict[str, str] | None:
    """The enrollment's `gsi2` attributes while its access is still to be ended by the scheduler."""
    if enrollment.status != EnrollmentStatus.ACTIVE or enrollment.access_ends_at is None:
        return None
    return keys.access_end_index(
        enrollment.user_id, enrollment.course_id, enrollment.access_ends_at, enrollment.updated_at
    )


@dataclass(frozen=True, slots=True)
class PendingAccessEnd:
    """An entry of the access-end index: the enrollment's table key and its course."""

    key: dict[str, str]
    course_id: str


class EnrollmentRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, enrollment: Enrollment, outline_version: int) -> dict[str, Any]:
        return {
            **keys.enrollment(enrollment.user_id, enrollment.course_id),
            **keys.enrollment_index(enrollment.user_id, enrollment.course_id),
            **(_pending_access_end(enrollment) or {}),
            **enrollment.model_dump(by_alias=True, mode="json"),
            "entity": Entity.ENROLLMENT,
            "writer": Writer.API,
            # The outline version the enrollment saw: the summarizer computes the learner's first
            # summary against this one or a newer one (docs/architecture.md, "Outline versions").
            "outlineVersion": outline_version,
        }

    def _new_actions(self, enrollment: Enrollment, outline_version: int) -> tuple[Action, Action, Action]:
        """A new enrollment (its key must be free; the one found is returned when it is not), its id
        reference, and the check that no erasure of the learner is under way."""
        ref = {
            **keys.enrollment_ref(enrollment.id),
            "entity": Entity.ENROLLMENT_REF,
            "userId": enrollment.user_id,
            "courseId": enrollment.course_id,
        }
        return (
            put_action(
                self._item(enrollment, outline_version),
                condition="attribute_not_exists(pk)",
                return_old_on_failure=True,
            ),
            put_action(ref, condition="attribute_not_exists(pk)"),
            # No erasure of the learner under way (a ConditionCheck: 2 WCU, docs/privacy.md).
            guard_check(enrollment.user_id),
        )

    def create(self, enrollment: Enrollment, *, outline_version: int, capped: bool) -> None:
        """Store a new enrollment and, in a course with a capacity, take a seat, or explain why not."""
        put, ref, guard = self._new_actions(enrollment, outline_version)
        actions = {"enrollment": put, "ref": ref, "guard": guard}
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
        actions = {"enrollment": _status_update(current, changed)}
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
        if capped and enrollment.status not in SEATLESS_STATUSES:
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

    # ------------------------------------------------------------------ access ends (the scheduler)
    def pending_access_ends(self, partition: str, now: str, page: PageRequest) -> Page[PendingAccessEnd]:
        """One page of an index partition's ACTIVE enrollments whose access has ended by `now` (the
        index is eventually consistent: the expiry's condition decides). Entries whose enrollment the
        summarizer completed meanwhile are left in the index and filtered out here."""
        result = self._table.query_page(
            page,
            key_condition="gsi2pk = :pk AND gsi2sk <= :through",
            expression_values=values(pk=partition, through=keys.access_ends_through(now)),
            index=keys.GSI2,
            status=EnrollmentStatus.ACTIVE.value,
            reads=1,
        )
        found = [PendingAccessEnd({"pk": i["pk"], "sk": i["sk"]}, i["courseId"]) for i in result.items]
        return Page(found, result.last_key, result.scanned)

    def expire(self, entry: PendingAccessEnd, now: str, *, capped: bool) -> bool:
        """`lms.services.enrollments.expire` as one conditional write: ACTIVE with its access ended
        becomes EXPIRED (`version` + 1, out of the index), freeing its seat in a capped course in the
        same transaction. False when the condition no longer holds (expired already, changed by
        staff, completed): nothing is written, so a run repeated or racing another changes nothing."""
        expression = "SET #status = :expired, updatedAt = :now, version = version + :one, writer = :writer"
        arguments: dict[str, Any] = {
            "condition": f"#status = :active AND accessEndsAt <= :now AND {_NOT_ERASING}",
            "names": {"#status": "status"},
            "expression_values": values(
                expired=EnrollmentStatus.EXPIRED.value,
                active=EnrollmentStatus.ACTIVE.value,
                now=now,
                one=1,
                writer=Writer.API.value,
            ),
        }
        expression += " REMOVE " + ", ".join(keys.ACCESS_INDEX_ATTRIBUTES)
        if not capped:
            try:
                self._table.update(entry.key, expression, **arguments)
            except ConditionFailedError:
                return False
            return True
        try:
            self._table.transact(
                {
                    "enrollment": update_action(entry.key, expression, **arguments),
                    "seat": _seat_update(entry.course_id, -1),
                }
            )
        except TransactionCancelledError as cancelled:
            if cancelled.failed("enrollment"):
                return False
            raise SeatBusyError from cancelled  # another transaction held the course head: try again
        return True

    def access_checkpoint(self) -> str | None:
        """The minute before which every access end has been expired, if any run recorded one."""
        items = self._table.query_page(
            PageRequest(1, None),
            key_condition="gsi2pk = :pk",
            expression_values=values(pk=keys.ACCESS_CHECKPOINT_PARTITION),
            index=keys.GSI2,
            reads=1,
        ).items
        return str(items[0]["gsi2sk"]) if items else None

    def advance_access_checkpoint(self, minute: str) -> None:
        """Move the checkpoint forward to `minute`, never back (runs may overlap)."""
        with suppress(ConditionFailedError):  # another run is already further
            self._table.update(
                keys.access_checkpoint(),
                "SET gsi2pk = :pk, gsi2sk = :minute, entity = :entity",
                condition="attribute_not_exists(gsi2sk) OR gsi2sk < :minute",
                expression_values=values(
                    pk=keys.ACCESS_CHECKPOINT_PARTITION, minute=minute, entity=Entity.ACCESS_CHECKPOINT.value
                ),
            )

    # ------------------------------------------------------------------ many learners of one course
    def get_many(self, user_ids: Sequence[str], course_id: str) -> dict[str, Enrollment]:
        """These learners' enrollments in the course, by user id: one BatchGetItem per 100 learners."""
        items = self._table.batch_get([keys.enrollment(user_id, course_id) for user_id in user_ids])
        return {e.user_id: e for e in (Enrollment.model_validate(item) for item in items)}

    def seats(self, course_id: str) -> tuple[int | None, int]:
        """A course's capacity and the seats taken, as stored now (strongly consistent); (None, 0)
        for a course that does not count seats, or no longer exists."""
        head = self._table.get(keys.course(course_id)) or {}
        capacity = head.get("capacity")
        return (int(capacity), int(head.get("seatsTaken", 0))) if capacity is not None else (None, 0)

    def write_many(
        self, writes: Sequence[EnrollmentWrite], *, course_id: str, outline_version: int, capacity: int | None
    ) -> None:
        """Learners' enrollments of one course in one transaction (up to 100 actions: a new one is
        three, a status change one, the seats one): new ones where none exists, changes conditioned on
        the version read. In a course with a `capacity`, every write takes a seat, all in one update
        of the seat counter; alone, under the capacity as stored, like `create`. Nothing is written
        unless everything is: EnrollmentsNotWrittenError says why."""
        actions: dict[str, Action] = {}
        for index, write in enumerate(writes):
            if write.current is None:
                actions[f"enrollment{index}"], actions[f"ref{index}"], actions[f"guard{index}"] = self._new_actions(
                    write.enrollment, outline_version
                )
            else:
                actions[f"enrollment{index}"] = _status_update(write.current, write.enrollment)
        if capacity is not None:
            if len(writes) == 1:
                actions["seat"] = _seat_update(course_id, +1)
            else:
                actions["seat"] = _seats_taken(course_id, len(writes), capacity)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            raise EnrollmentsNotWrittenError(cancelled, writes) from cancelled
