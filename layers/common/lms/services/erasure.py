"""The erasure job: removes everything kept about a user, in bounded steps run by the summarizer from
the erasure record's stream records (docs/privacy.md, "How an erasure runs").

Each step reads what is left in the user's partition (strongly consistent Queries of its first items:
what earlier steps removed is gone, so the partition itself is the checkpoint), and removes up to
TRANSACTIONS_PER_STEP transactions' worth. Each transaction removes its items and advances the
record (its `step`, its counts, the statements to void) at once, on the condition that the record is
still at the step read: a step run twice commits once, and a crash or a timeout leaves the record at
its last commit, which the retried stream record (or the next one) resumes from. Every commit is a
MODIFY of the record, whose stream record runs the next step.

Order: the idempotency records of the user's enrollments first (a retry with the same key then meets
the guard, 409, instead of replaying a response), then enrollments (each with its id reference, its
seat, its summary and what that summary counted in the course aggregate), the summaries left by
deleted enrollments, the lesson records and their references (their index entries go with them), the
statement ids deleted enrollments left, and last the guard: DONE."""

from typing import Any

from lms import keys
from lms.batch import sequence_number
from lms.clock import Clock, utc_now
from lms.events.derive import enrollment_statement_ids, progress_statement_ids
from lms.keys import Entity
from lms.models.enrollments import counted_by
from lms.observability import logger
from lms.repositories.dynamo import Action
from lms.repositories.erasures import ErasureRepository, StepConflictError
from lms.retry import Retry

# 5 actions an enrollment (enrollment, reference, seat, summary, aggregate shard) and the record:
# 96 of a transaction's 100.
ENROLLMENTS_PER_TRANSACTION = 19
# 2 actions an item (a record and its reference; a summary and its aggregate shard), and the record.
ITEMS_PER_TRANSACTION = 49
IDEMPOTENCY_RECORDS_PER_TRANSACTION = 99
# A step's bound: at most 20 commits (at most 980 lesson records: about 4 s on DynamoDB Local, well
# within the summarizer's 120 s); the next step starts from the stream record of a commit. Each commit
# is a checkpoint, so a larger step loses nothing when it is cut short; it only saves stream round trips.
TRANSACTIONS_PER_STEP = 20
# A transaction cancelled by a concurrent write (the summarizer's last recompute of a summary) is
# read and sent again within 5 s; then the stream record fails, and is retried.
STEP_RETRY = Retry(attempts=5, base=0.01, cap=0.2, budget=5.0)


class ErasureJob:
    def __init__(self, erasures: ErasureRepository, *, clock: Clock = utc_now) -> None:
        self._erasures = erasures
        self._now = clock

    def step(self, user_hash: str) -> None:
        """Up to TRANSACTIONS_PER_STEP commits of the erasure recorded under `user_hash`; nothing when
        it is done (or unknown)."""
        for _ in range(TRANSACTIONS_PER_STEP):
            if STEP_RETRY.call(lambda: self._advance(user_hash), on=(StepConflictError,)):
                return

    def _advance(self, user_hash: str) -> bool:
        """One commit; True when there is nothing left to do."""
        record = self._erasures.get(user_hash)
        if record is None or record["status"] == "DONE" or not record.get("userId"):
            return True
        user, step, now = record["userId"], int(record["step"]), self._now()
        for remove in (
            self._idempotency_records,
            self._enrollments,
            self._summaries,
            self._progress,
            self._sent_statements,
        ):
            work = remove(user, now)
            if work is not None:
                actions, counts, voids = work
                self._erasures.commit(user_hash, step, actions, counts, voids, now)
                logger.info("erasure step", extra={"userHash": user_hash, "step": step + 1, "erased": counts})
                return False
        self._erasures.finish(user_hash, user, step, now)
        logger.info("erasure done", extra={"userHash": user_hash, "steps": step + 1})
        return True

    def _enrollments(self, user: str, now: str) -> "Work | None":
        found = self._erasures.first(user, keys.ENROLLMENT_PREFIX, ENROLLMENTS_PER_TRANSACTION)
        if not found:
            return None
        # Marked by the request; one made before its guard was marked now, so that its removal is
        # the erasure's (the publisher announces no EnrollmentDeleted for it).
        enrollments = self._erasures.mark_enrollments(user, found)
        courses = {item["courseId"] for item in enrollments}
        epochs = self._erasures.seat_epochs(courses) if courses else {}
        summaries = self._erasures.summaries(user, courses) if courses else {}
        actions: dict[str, Action] = {}
        voids: list[str] = []
        for item in enrollments:
            # A seat is freed only from the counter that counted it.
            counter = counted_by(item.get("seatEpoch"), epochs.get(item["courseId"]))
            actions |= self._erasures.remove_enrollment(item, counted_by=counter)
            voids += enrollment_statement_ids(item)
            if summary := summaries.get(item["courseId"]):
                actions |= self._erasures.remove_summary(summary, now)
        counts = {"enrollments": len(enrollments), "summaries": len(summaries), "statementsVoided": len(voids)}
        return actions, counts, voids

    def _summaries(self, user: str, now: str) -> "Work | None":
        found = self._erasures.first(user, keys.SUMMARY_PREFIX, ITEMS_PER_TRANSACTION)
        if not found:
            return None
        actions: dict[str, Action] = {}
        for item in found:
            actions |= self._erasures.remove_summary(item, now)
        return actions, {"summaries": len(found)}, []

    def _progress(self, user: str, now: str) -> "Work | None":
        found = self._erasures.first(user, keys.PROGRESS_PREFIX, ITEMS_PER_TRANSACTION)
        if not found:
            return None
        actions: dict[str, Action] = {}
        voids: list[str] = []
        for item in found:
            actions |= self._erasures.remove_progress(item)
            voids += progress_statement_ids(item)
        return actions, {"progress": len(found), "statementsVoided": len(voids)}, voids

    def _sent_statements(self, user: str, now: str) -> "Work | None":
        """What deleted enrollments left to void (their ids are gone with them)."""
        found = self._erasures.first(user, keys.STATEMENTS_PREFIX, IDEMPOTENCY_RECORDS_PER_TRANSACTION)
        if not found:
            return None
        actions: dict[str, Action] = {}
        voids: list[str] = []
        for item in found:
            actions |= self._erasures.remove_sent_statements(item)
            voids += item.get("statementIds") or []
        return actions, {"statementsVoided": len(voids)}, voids

    def _idempotency_records(self, user: str, now: str) -> "Work | None":
        found = self._erasures.idempotency_records(user, IDEMPOTENCY_RECORDS_PER_TRANSACTION)
        if not found:
            return None
        actions: dict[str, Action] = {}
        for item in found:
            actions |= self._erasures.remove_idempotency_record(item)
        return actions, {"idempotencyRecords": len(found)}, []


Work = tuple[dict[str, Action], dict[str, int], list[str]]


def erasure_hash(raw: dict[str, Any]) -> str | None:
    """The user hash of a stream record of an erasure record; None for any other record."""
    image = raw.get("dynamodb", {}).get("NewImage") or {}
    if image.get("entity", {}).get("S") != Entity.ERASURE:
        return None
    return str(image.get("userHash", {}).get("S", "")) or None


def run_erasures(records: list[dict[str, Any]], job: ErasureJob) -> set[str]:
    """A step of each erasure these stream records name (one however many records name it); returns
    the sequence numbers of the records whose step failed."""
    by_hash: dict[str, list[str]] = {}
    for raw in records:
        user_hash = erasure_hash(raw)
        if user_hash:
            by_hash.setdefault(user_hash, []).append(sequence_number(raw))
    failed: set[str] = set()
    for user_hash, numbers in by_hash.items():
        try:
            job.step(user_hash)
        except Exception as error:
            logger.warning("erasure step failed", extra={"userHash": user_hash, "error": repr(error)})
            failed.update(numbers)
    return failed
