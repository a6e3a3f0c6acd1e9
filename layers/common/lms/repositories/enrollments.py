"""Enrollments: one item per learner and course (which makes duplicates impossible), an id reference,
and, for a course with a capacity, the course head's seat counter, changed in the same transactions.
An uncapped course's head is not written: enrollments of one course never queue on one item.

An enrollment whose seat the counter counts carries the counter's epoch (`seatEpoch`): a seat is
freed from the counter only by an enrollment that carries its epoch, and every write conditions the
mark as it read it, so a seat count under way (`count_seats`) and the API never count a seat twice
or free one that was not counted (docs/architecture.md, "Seats").

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
from lms.models.enrollments import SEATLESS_STATUSES, Enrollment, EnrollmentStatus, counted_by
from lms.models.roster import EnrollmentWrite
from lms.pagination import Page, PageRequest
from lms.repositories.courses import SeatCountCursor, VersionedCourse, free_seat, seat_mark_as_read, take_seats
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
from lms.retry import Retry


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


# A seat count's page: with the head, one transaction of at most 100 actions.
SEAT_COUNT_PAGE = 99
# A page's transaction meets the head's other writers (a seat freed): sent again, shorter when some
# enrollments changed meanwhile.
SEAT_COUNT_RETRY = Retry(attempts=5, base=0.01, cap=0.1, budget=2.0)


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


def _seat_action(course_id: str, seats: int, epoch: str | None) -> Action | None:
    """The counter's move for a change that takes (+1) or frees (-1) a counted seat; None for 0."""
    if not seats or epoch is None:
        return None
    return take_seats(course_id, epoch) if seats > 0 else free_seat(course_id, epoch)


def _status_update(current: Enrollment, changed: Enrollment) -> Action:
    """A status change (and staff's access end), if the enrollment is still at `current.version`; in or
    out of the access-end index as the changed enrollment says."""
    pending = _pending_access_end(changed)
    sets = ["gsi2pk = :gsi2pk", "gsi2sk = :gsi2sk"] if pending else []
    removes = [] if pending else list(keys.ACCESS_INDEX_ATTRIBUTES)
    if changed.seat_epoch:
        sets.append("seatEpoch = :epoch")
    else:
        removes.append("seatEpoch")
    marked, mark = seat_mark_as_read(current.seat_epoch)
    return update_action(
        keys.enrollment(current.user_id, current.course_id),
        "SET #status = :status, updatedAt = :now, completedAt = :completed, completedBy = :by, "
        "reopenedAt = :reopened, accessEndsAt = :ends, version = :version, writer = :writer"
        + "".join(f", {s}" for s in sets)
        + (" REMOVE " + ", ".join(removes) if removes else ""),
        condition=f"version = :expected AND {_NOT_ERASING} AND {marked}",
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
            **({"epoch": changed.seat_epoch} if changed.seat_epoch else {}),
            **mark,
        ),
        return_old_on_failure=True,
    )


# Every status but these holds a seat (a condition's list of them, said once).
_SEATLESS = {f"seatless{n}": status.value for n, status in enumerate(sorted(SEATLESS_STATUSES))}


def _counted(key: dict[str, str], epoch: str) -> Action:
    """An enrollment's seat counted by the counter of `epoch`, if it still holds one not counted."""
    seatless = ", ".join(f":{name}" for name in _SEATLESS)
    return update_action(
        key,
        "SET seatEpoch = :epoch, writer = :writer",
        condition=f"attribute_exists(pk) AND NOT #status IN ({seatless}) "
        f"AND (attribute_not_exists(seatEpoch) OR seatEpoch <> :epoch) AND {_NOT_ERASING}",
        names={"#status": "status"},
        expression_values=values(epoch=epoch, writer=Writer.SEAT_COUNT.value, **_SEATLESS),
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
            **({"seatEpoch": enrollment.seat_epoch} if enrollment.seat_epoch else {}),
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

    def create(self, enrollment: Enrollment, *, outline_version: int) -> None:
        """Store a new enrollment and, when it carries a seat counter's epoch (a course with a
        capacity), take a seat from that counter; or explain why not."""
        put, ref, guard = self._new_actions(enrollment, outline_version)
        actions = {"enrollment": put, "ref": ref, "guard": guard}
        if enrollment.seat_epoch:
            actions["seat"] = take_seats(enrollment.course_id, enrollment.seat_epoch)
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

    def change_status(self, current: Enrollment, changed: Enrollment, seats: int, epoch: str | None) -> None:
        """Write a status change if the enrollment is still at `current.version` (and its seat mark
        as read), moving a seat of the counter of `epoch` in the same transaction when the change
        takes or frees a counted one (`seats`: +1, -1, or 0)."""
        actions = {"enrollment": _status_update(current, changed)}
        if seat := _seat_action(current.course_id, seats, epoch):
            actions["seat"] = seat
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            if erasing(cancelled.item("enrollment")):
                raise ErasingError from cancelled
            if cancelled.failed("seat") and seats > 0:
                raise CourseUnavailableError from cancelled
            raise StaleEnrollmentError from cancelled

    def delete(self, enrollment: Enrollment, *, counted_by: str | None, statement_ids: list[str] | None = None) -> None:
        """Delete the enrollment (if still at its version and seat mark), freeing its seat from the
        counter of epoch `counted_by` when that counts it; `statement_ids`, the xAPI statements sent
        about it, stay in the learner's partition for an erasure to void (docs/privacy.md)."""
        marked, mark = seat_mark_as_read(enrollment.seat_epoch)
        actions = {
            "enrollment": delete_action(
                keys.enrollment(enrollment.user_id, enrollment.course_id),
                condition=f"version = :expected AND {_NOT_ERASING} AND {marked}",
                expression_values=values(expected=enrollment.version, **mark),
                return_old_on_failure=True,
            ),
            "ref": delete_action(keys.enrollment_ref(enrollment.id)),
        }
        if counted_by is not None:
            actions["seat"] = free_seat(enrollment.course_id, counted_by)
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

    def expire(self, entry: PendingAccessEnd, now: str, *, epoch: str | None) -> bool:
        """`lms.services.enrollments.expire` as one conditional write: ACTIVE with its access ended
        becomes EXPIRED (`version` + 1, out of the index), freeing its seat in the same transaction
        when the course's counter (`epoch`, as the head was read; None: it counts none) counts it.
        The entry says nothing of the seat mark, so the first write supposes the counter counts it;
        when only that was wrong, the enrollment is read and written again. False when the condition
        no longer holds (expired already, changed by staff, completed): nothing is written, so a run
        repeated or racing another changes nothing."""
        if self._expire(entry, now, epoch, epoch):
            return True
        found = self._table.get(entry.key)
        if not found or found.get("seatEpoch") == epoch:
            return False
        return self._expire(entry, now, found.get("seatEpoch"), epoch)

    def _expire(self, entry: PendingAccessEnd, now: str, marker: str | None, epoch: str | None) -> bool:
        """The expiry of an enrollment whose seat mark is `marker`, counted when that is `epoch`."""
        marked, mark = seat_mark_as_read(marker)
        expression = (
            "SET #status = :expired, updatedAt = :now, version = version + :one, writer = :writer"
            " REMOVE seatEpoch, " + ", ".join(keys.ACCESS_INDEX_ATTRIBUTES)
        )
        arguments: dict[str, Any] = {
            "condition": f"#status = :active AND accessEndsAt <= :now AND {_NOT_ERASING} AND {marked}",
            "names": {"#status": "status"},
            "expression_values": values(
                expired=EnrollmentStatus.EXPIRED.value,
                active=EnrollmentStatus.ACTIVE.value,
                now=now,
                one=1,
                writer=Writer.API.value,
                **mark,
            ),
        }
        counter = counted_by(marker, epoch)
        if counter is None:
            try:
                self._table.update(entry.key, expression, **arguments)
            except ConditionFailedError:
                return False
            return True
        try:
            self._table.transact(
                {
                    "enrollment": update_action(entry.key, expression, **arguments),
                    "seat": free_seat(entry.course_id, counter),
                }
            )
        except TransactionCancelledError as cancelled:
            if cancelled.failed("enrollment"):
                return False
            raise SeatBusyError from cancelled  # the head was in another transaction, or moved on: try again
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

    # ------------------------------------------------------------------ seat counts (the scheduler)
    def due_seat_counts(self, now: str) -> list[str]:
        """The courses whose seat count may start by `now` (from `gsi2`, eventually consistent: the
        count reads the head itself)."""
        found = self._table.query_page(
            PageRequest(SEAT_COUNT_PAGE, None),
            key_condition="gsi2pk = :pk AND gsi2sk <= :through",
            expression_values=values(pk=keys.SEAT_COUNT_PARTITION, through=keys.seat_counts_through(now)),
            index=keys.GSI2,
            reads=1,
        )
        return [keys.course_of_seat_count(item["gsi2sk"]) for item in found.items]

    def count_seats(self, course_id: str) -> bool:
        """One step of the course's seat count: one page of an index shard of its enrollments, each
        that holds a seat the counter does not count yet marked with its epoch and counted, in one
        transaction with the head's counter and cursor (conditioned on the cursor read, so a step
        done twice counts once). When the shards are read through, the count ends: seats may be
        taken again. True when there is nothing more to do (done, or no count under way)."""
        head = self._table.get(keys.course(course_id))
        if not head or head.get("seatCount") is None:
            return True
        epoch, at = str(head["seatEpoch"]), str(head["seatCount"])
        cursor = SeatCountCursor.decode(at)
        partitions = keys.course_enrollments_partitions(course_id)
        if cursor.shard >= len(partitions):
            with suppress(ConditionFailedError):  # another run ended it
                self._table.update(
                    keys.course(course_id),
                    "REMOVE seatCount, " + ", ".join(keys.ACCESS_INDEX_ATTRIBUTES),
                    condition="seatCount = :at AND seatEpoch = :epoch",
                    expression_values=values(at=at, epoch=epoch),
                )
            return True
        page = self._table.query_page(
            PageRequest(SEAT_COUNT_PAGE, cursor.after),
            key_condition="gsi1pk = :pk",
            expression_values=values(pk=partitions[cursor.shard]),
            index=keys.GSI1,
            reads=1,
        )
        after = SeatCountCursor(cursor.shard, page.last_key) if page.last_key else SeatCountCursor(cursor.shard + 1)
        uncounted = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in page.items
            if EnrollmentStatus(item["status"]) not in SEATLESS_STATUSES
            and item.get("seatEpoch") != epoch
            and not item.get("erasing")
        ]
        for _ in SEAT_COUNT_RETRY.tries():
            actions: dict[str, Action] = {f"enrollment{n}": _counted(key, epoch) for n, key in enumerate(uncounted)}
            actions["head"] = update_action(
                keys.course(course_id),
                "ADD seatsTaken :seats SET seatCount = :after",
                condition="seatCount = :at AND seatEpoch = :epoch",
                expression_values=values(seats=len(uncounted), after=after.encode(), at=at, epoch=epoch),
            )
            try:
                self._table.transact(actions)
                return False
            except TransactionCancelledError as cancelled:
                if cancelled.failed("head"):
                    return False  # another run moved the count on, or the capacity was cleared
                # Freed, marked for an erasure (which frees no seat it did not count) meanwhile: not counted.
                uncounted = [key for n, key in enumerate(uncounted) if not cancelled.failed(f"enrollment{n}")]
        return False

    # ------------------------------------------------------------------ many learners of one course
    def get_many(self, user_ids: Sequence[str], course_id: str) -> dict[str, Enrollment]:
        """These learners' enrollments in the course, by user id: one BatchGetItem per 100 learners."""
        items = self._table.batch_get([keys.enrollment(user_id, course_id) for user_id in user_ids])
        return {e.user_id: e for e in (Enrollment.model_validate(item) for item in items)}

    def write_many(self, writes: Sequence[EnrollmentWrite], head: VersionedCourse) -> None:
        """Learners' enrollments of the course in one transaction (up to 100 actions: a new one is
        three, a status change one, the seats one): new ones where none exists, changes conditioned on
        the version read. In a course with a capacity, every write takes a seat, all in one update
        of the seat counter; alone, under the capacity as stored, like `create`. Nothing is written
        unless everything is: EnrollmentsNotWrittenError says why."""
        course = head.course
        actions: dict[str, Action] = {}
        for index, write in enumerate(writes):
            if write.current is None:
                actions[f"enrollment{index}"], actions[f"ref{index}"], actions[f"guard{index}"] = self._new_actions(
                    write.enrollment, head.outline_version
                )
            else:
                actions[f"enrollment{index}"] = _status_update(write.current, write.enrollment)
        if course.capacity is not None and course.seat_epoch is not None:
            capacity = course.capacity if len(writes) > 1 else None
            actions["seat"] = take_seats(course.id, course.seat_epoch, len(writes), capacity)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            raise EnrollmentsNotWrittenError(cancelled, writes) from cancelled
