"""Learner data erasure: the erasure record (keyed by the user's keyed hash), the guard item in the
user's partition, and the reads and transactions of the erasure's steps. Every read is a GetItem,
BatchGetItem or Query on a key; nothing is ever Scanned (docs/privacy.md)."""

from typing import Any

from lms import keys
from lms.keys import Entity, Writer
from lms.models.summaries import Contribution
from lms.pagination import Page, PageRequest
from lms.repositories.courses import free_seat, seat_mark_as_read
from lms.repositories.dynamo import (
    Action,
    ConditionFailedError,
    Item,
    Table,
    TransactionCancelledError,
    condition_check,
    delete_action,
    put_action,
    update_action,
    values,
)
from lms.repositories.summaries import SummaryRepository

# The counts an erasure record keeps, as stored (the public ErasedCounts, camelCase).
COUNTED_KINDS = ("enrollments", "progress", "summaries", "idempotencyRecords", "statementsVoided")


class ErasingError(Exception):
    """A write by or for a user whose erasure is not done (the guard item or an enrollment's mark)."""


class ErasureExistsError(Exception):
    """Another request recorded an erasure of this user first."""


class StepConflictError(Exception):
    """The erasure moved on, or an item it removes changed, since the step read them: read again."""


def guard_check(user_id: str) -> Action:
    """For a transaction writing for `user_id`: no erasure of the user is under way."""
    return condition_check(keys.erasure_guard(user_id), "attribute_not_exists(pk)")


def erasing(item: Item | None) -> bool:
    """Whether an item a refused write returned is marked by an erasure, or is its guard."""
    return bool(item and (item.get("erasing") or item.get("entity") == Entity.ERASURE_GUARD))


class ErasureRepository:
    def __init__(self, table: Table, idempotency: Table | None = None) -> None:
        self._table = table
        self._idempotency = idempotency

    # ------------------------------------------------------------------ the record
    def find(self, hashes: list[str]) -> Item | None:
        """The erasure record under the first of `hashes` that has one (the current key's first)."""
        found = {item["pk"]: item for item in self._table.batch_get([keys.erasure(h) for h in hashes])}
        return next((found[pk] for pk in (keys.erasure(h)["pk"] for h in hashes) if pk in found), None)

    def get(self, user_hash: str) -> Item | None:
        return self._table.get(keys.erasure(user_hash))

    def guarded(self, user_id: str) -> bool:
        return self._table.get(keys.erasure_guard(user_id)) is not None

    def has_data(self, user_id: str) -> bool:
        """Whether any item is left in the user's partition (one Query of at most one item)."""
        page = self._table.query_page(
            PageRequest(1, None),
            key_condition="pk = :pk",
            expression_values=values(pk=keys.user_partition(user_id)),
            consistent=True,
            reads=1,
        )
        return bool(page.items)

    def start(self, record: Item, *, replacing: bool) -> None:
        """Store a new erasure record and the user's guard, atomically; `replacing` a DONE record
        (the user came back after an erasure and asks again)."""
        condition = "attribute_not_exists(pk) OR #status = :done" if replacing else "attribute_not_exists(pk)"
        guard = {
            **keys.erasure_guard(record["userId"]),
            "entity": Entity.ERASURE_GUARD,
            "writer": Writer.ERASURE,
            "userId": record["userId"],
            "requestedAt": record["requestedAt"],
        }
        actions = {
            "record": put_action(
                {**keys.erasure(record["userHash"]), **record},
                condition=condition,
                names={"#status": "status"} if replacing else None,
                expression_values=values(done="DONE") if replacing else None,
            ),
            "guard": put_action(guard, condition="attribute_not_exists(pk)"),
        }
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            if cancelled.failed("record") or cancelled.failed("guard"):
                raise ErasureExistsError from cancelled
            raise

    def mark_enrollments(self, user_id: str, enrollments: list[Item]) -> list[Item]:
        """Mark each enrollment `erasing` (the check POST /progress already makes refuses it then);
        `writer` erasure, so the summarizer does not wake for it. Returns them as marked. The mark is
        conditioned on the seat mark as read: a seat count may have counted the seat since (it counts
        none of an enrollment marked `erasing`), and the next step reads that one again."""
        marked: list[Item] = []
        for item in enrollments:
            if item.get("erasing"):
                marked.append(item)
                continue
            seat_unchanged, mark = seat_mark_as_read(item.get("seatEpoch"))
            try:
                self._table.update(
                    keys.enrollment(user_id, item["courseId"]),
                    "SET erasing = :true, writer = :writer",
                    condition=f"attribute_exists(pk) AND {seat_unchanged}",
                    expression_values=values(true=True, writer=Writer.ERASURE.value, **mark),
                )
            except ConditionFailedError:
                continue  # deleted, or its seat counted, meanwhile
            marked.append({**item, "erasing": True, "writer": Writer.ERASURE.value})
        return marked

    # ------------------------------------------------------------------ the user's items
    def page(self, user_id: str, page: PageRequest) -> Page[Item]:
        """One page of the user's partition (enrollments, the erasure guard, progress, summaries)."""
        return self._table.query_page(
            page,
            key_condition="pk = :pk",
            expression_values=values(pk=keys.user_partition(user_id)),
            consistent=True,
        )

    def first(self, user_id: str, prefix: str, limit: int) -> list[Item]:
        """The first `limit` items of the user's partition under `prefix`, strongly consistent: what
        an erasure step removes next (what earlier steps removed is gone, so no cursor is needed)."""
        return self._table.query_page(
            PageRequest(limit, None),
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            expression_values=values(pk=keys.user_partition(user_id), prefix=prefix),
            consistent=True,
            reads=1,
        ).items

    def enrollments(self, user_id: str) -> list[Item]:
        return self._table.query_all(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            expression_values=values(pk=keys.user_partition(user_id), prefix=keys.ENROLLMENT_PREFIX),
        )

    def seat_epochs(self, course_ids: set[str]) -> dict[str, str]:
        """The epoch of each of these courses' seat counter, for those that count seats."""
        heads = self._table.batch_get([keys.course(c) for c in sorted(course_ids)])
        return {head["id"]: head["seatEpoch"] for head in heads if head.get("seatEpoch") is not None}

    def summaries(self, user_id: str, course_ids: set[str]) -> dict[str, Item]:
        found = self._table.batch_get([keys.summary(user_id, c) for c in sorted(course_ids)])
        return {item["courseId"]: item for item in found}

    def idempotency_records(self, user_id: str, limit: int) -> list[Item]:
        if self._idempotency is None:
            return []
        return self._idempotency.query_page(
            PageRequest(limit, None),
            key_condition="id = :pk",
            expression_values=values(pk=keys.idempotency_partition(user_id)),
            consistent=True,
            reads=1,
        ).items

    # ------------------------------------------------------------------ the actions of a step
    @staticmethod
    def remove_enrollment(item: Item, *, counted_by: str | None) -> dict[str, Action]:
        """The enrollment and its reference, and its seat freed from the counter of epoch
        `counted_by` when that counts it."""
        user, course = item["userId"], item["courseId"]
        actions = {
            f"enrollment {course}": delete_action(
                keys.enrollment(user, course), condition="version = :v", expression_values=values(v=item["version"])
            ),
            f"enrollment ref {course}": delete_action(keys.enrollment_ref(item["id"])),
        }
        if counted_by is not None:
            actions[f"seat {course}"] = free_seat(course, counted_by)
        return actions

    @staticmethod
    def remove_summary(item: Item, now: str) -> dict[str, Action]:
        """The summary, and what it counted taken off the course aggregate (on the learner's shard)."""
        user, course = item["userId"], item["courseId"]
        actions = {
            f"summary {course}": delete_action(
                keys.summary(user, course), condition="version = :v", expression_values=values(v=item["version"])
            )
        }
        counted = Contribution(**{k: int(v) for k, v in (item.get("counted") or {}).items()})
        if not counted.is_zero:
            actions[f"aggregate {course}"] = SummaryRepository._aggregate_update(
                course, keys.aggregate_shard(user), Contribution().minus(counted), now
            )
        return actions

    @staticmethod
    def remove_progress(item: Item) -> dict[str, Action]:
        key = keys.progress(item["userId"], item["courseId"], item["lessonId"])
        return {
            f"progress {item['id']}": delete_action(
                key, condition="version = :v", expression_values=values(v=item.get("version", 0))
            ),
            f"progress ref {item['id']}": delete_action(keys.progress_ref(item["id"])),
        }

    @staticmethod
    def remove_sent_statements(item: Item) -> dict[str, Action]:
        return {
            f"statements {item['enrollmentId']}": delete_action(
                keys.sent_statements(item["userId"], item["enrollmentId"])
            )
        }

    def remove_idempotency_record(self, item: Item) -> dict[str, Action]:
        assert self._idempotency is not None
        key = {"id": item["id"], "sk": item["sk"]}
        action = delete_action(key)
        action["Delete"]["TableName"] = self._idempotency.name
        return {f"idempotency {item['sk']}": action}

    def commit(
        self,
        user_hash: str,
        step: int,
        actions: dict[str, Action],
        counts: dict[str, int],
        voids: list[str],
        now: str,
    ) -> None:
        """One step's removals and the record's checkpoint (step, counts, the statements to void),
        atomically, if the record is still at `step`: a step run twice commits once."""
        increments = ", ".join(f"erased.{kind} = erased.{kind} + :{kind}" for kind in COUNTED_KINDS)
        record = update_action(
            keys.erasure(user_hash),
            f"SET #status = :running, step = :next, voids = :voids, updatedAt = :now, {increments}",
            condition="step = :step",
            names={"#status": "status"},
            expression_values=values(
                running="IN_PROGRESS",
                next=step + 1,
                voids=voids,
                now=now,
                step=step,
                **{kind: counts.get(kind, 0) for kind in COUNTED_KINDS},
            ),
        )
        self._transact({**actions, "record": record})

    def finish(self, user_hash: str, user_id: str, step: int, now: str) -> None:
        """DONE: the guard goes, and the record keeps the hash, the times and the counts only."""
        self._transact(
            {
                "guard": delete_action(keys.erasure_guard(user_id)),
                "record": update_action(
                    keys.erasure(user_hash),
                    "SET #status = :done, completedAt = :now, updatedAt = :now, step = :next, voids = :none "
                    "REMOVE userId",
                    condition="step = :step",
                    names={"#status": "status"},
                    expression_values=values(done="DONE", now=now, next=step + 1, none=[], step=step),
                ),
            }
        )

    def _transact(self, actions: dict[str, Action]) -> None:
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            raise StepConflictError(str(cancelled)) from cancelled


def new_record(user_hash: str, key_id: str, user_id: str, now: str) -> dict[str, Any]:
    """An erasure record as DELETE /users/{userId} stores it (PENDING; the id kept until DONE)."""
    return {
        "entity": Entity.ERASURE,
        "writer": Writer.ERASURE,
        "userHash": user_hash,
        "keyId": key_id,
        "userId": user_id,
        "status": "PENDING",
        "requestedAt": now,
        "completedAt": None,
        "updatedAt": now,
        "step": 0,
        "voids": [],
        "erased": dict.fromkeys(COUNTED_KINDS, 0),
    }


def counts_of(record: Item) -> dict[str, int]:
    erased = record.get("erased") or {}
    return {kind: int(erased.get(kind, 0)) for kind in COUNTED_KINDS}
