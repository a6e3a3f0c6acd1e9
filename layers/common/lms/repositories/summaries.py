"""Learner summaries and course aggregates, written only by the stream function.

A learner's summary item remembers what it contributed to the course aggregate (`counted`) and which
outline lessons it counts as completed and viewed (`marks`, bitmaps over the outline it was computed
against). Recomputes write summaries, enrollments' progress and the aggregate's *difference* in one
transaction conditioned on each summary's version, so the aggregate stays exact however often a
record is delivered or retried. The aggregate is spread over `keys.AGGREGATE_SHARDS` items in their
own partitions, and a transaction adds its learners' summed difference to one of them.
"""

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lms import keys
from lms.keys import Entity, Writer
from lms.models.enrollments import Enrollment, EnrollmentProgress
from lms.models.progress import CourseAggregate, LearnerSummary, Progress
from lms.repositories.dynamo import Item, Table, cancellation, serialize, values

# Two items per learner (summary, enrollment) and one aggregate shard, well within the 100-item
# limit: smaller transactions conflict less, and DynamoDB Local writes 25 learners per transaction
# faster per learner than 49 (2.1 against 3.6 ms) or 1 (14 ms).
LEARNERS_PER_TRANSACTION = 25
_BATCH_WRITE_SIZE = 25
_PARALLEL_READS = 4


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one learner adds to the course aggregate."""

    enrolled: int = 0
    active: int = 0
    completed: int = 0
    percent: int = 0

    def plus(self, other: "Contribution") -> "Contribution":
        return Contribution(
            self.enrolled + other.enrolled,
            self.active + other.active,
            self.completed + other.completed,
            self.percent + other.percent,
        )

    def minus(self, other: "Contribution") -> "Contribution":
        return self.plus(Contribution(-other.enrolled, -other.active, -other.completed, -other.percent))

    @property
    def is_zero(self) -> bool:
        return not any(asdict(self).values())


@dataclass(frozen=True, slots=True)
class LessonMarks:
    """Which outline lessons a summary counts as completed and viewed: bitmaps (base64) over the
    lessons of the outline identified by `stamp`, in outline order; and the latest completion time
    of a required lesson (the course's completion date when the last one falls). `applied_through`:
    the newest `updatedAt` among the records applied; a stream image newer than that is newer than
    anything the summary reflects, and may be applied without reading the record again."""

    stamp: str
    completed: str
    viewed: str
    latest_completion: str | None = None
    applied_through: str | None = None


@dataclass(frozen=True, slots=True)
class StoredSummary:
    summary: LearnerSummary
    version: int
    counted: Contribution
    marks: LessonMarks | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentChange:
    """The summarizer's write to an enrollment: its progress, and completion when it first happens."""

    current: Enrollment
    progress: EnrollmentProgress
    completed_at: str | None  # set only when this recompute completes the enrollment


@dataclass(frozen=True, slots=True)
class SummaryWrite:
    """One learner's recompute result, ready to store."""

    summary: LearnerSummary
    previous: StoredSummary | None
    counted: Contribution
    marks: LessonMarks
    enrollment: EnrollmentChange | None


@dataclass(slots=True)
class LearnerState:
    """What a batch read found for one learner of a course."""

    stored: StoredSummary | None = None
    enrollment: Enrollment | None = None
    records: dict[str, Progress] = field(default_factory=dict)


class WritesRejectedError(Exception):
    """A transaction was cancelled. `stale` are the writes (by index) whose summary or enrollment
    changed since it was read: recompute them. `conflicted`: another transaction held an item
    (TransactionConflict); the other writes still hold and may be sent again."""

    def __init__(self, stale: set[int], conflicted: bool) -> None:
        super().__init__(f"{len(stale)} stale writes, conflicted={conflicted}")
        self.stale = stale
        self.conflicted = conflicted


def _stored(item: Item) -> StoredSummary:
    marks = item.get("marks")
    return StoredSummary(
        LearnerSummary.model_validate(item),
        int(item["version"]),
        Contribution(**item.get("counted", {})),
        # Only the fields this version knows: an item written by a newer version still reads.
        LessonMarks(**{name: marks[name] for name in LessonMarks.__dataclass_fields__ if name in marks})
        if marks
        else None,
    )


class SummaryRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str, course_id: str) -> StoredSummary | None:
        item = self._table.get(keys.summary(user_id, course_id))
        return _stored(item) if item else None

    def read_learners(
        self, course_id: str, user_ids: list[str], lessons: dict[str, set[str]]
    ) -> dict[str, LearnerState]:
        """Each learner's stored summary and enrollment (when `user_ids` names them) and current records
        of `lessons[user]`: one BatchGetItem per 100 keys, up to 4 in flight, for the whole batch."""
        wanted = [key for user in user_ids for key in (keys.summary(user, course_id), keys.enrollment(user, course_id))]
        wanted += [keys.progress(user, lesson) for user, named in lessons.items() for lesson in sorted(named)]
        states = {user: LearnerState() for user in [*user_ids, *lessons]}
        if not wanted:
            return states
        chunks = [wanted[start : start + 100] for start in range(0, len(wanted), 100)]
        with ThreadPoolExecutor(min(len(chunks), _PARALLEL_READS) or 1) as pool:  # requests in flight at once
            found = [item for items in pool.map(self._table.batch_get, chunks) for item in items]
        for item in found:
            state = states.get(item.get("userId", ""))
            if state is None:
                continue
            match item.get("entity"):
                case Entity.SUMMARY:
                    state.stored = _stored(item)
                case Entity.ENROLLMENT:
                    state.enrollment = Enrollment.model_validate(item)
                case Entity.PROGRESS if item.get("courseId") == course_id:
                    state.records[item["lessonId"]] = Progress.model_validate(item)
        return states

    def get_aggregate(self, course_id: str) -> CourseAggregate:
        """The sum of the aggregate's shards: one BatchGetItem of a fixed set of keys."""
        total = Contribution()
        updated_at: str | None = None
        for item in self._table.batch_get(keys.course_aggregate_shards(course_id), consistent=False):
            total = total.plus(
                Contribution(
                    int(item.get("enrolled", 0)),
                    int(item.get("active", 0)),
                    int(item.get("completed", 0)),
                    int(item.get("percentSum", 0)),
                )
            )
            updated_at = max(updated_at or "", item.get("updatedAt") or "") or None
        average = round(total.percent / total.enrolled, 2) if total.enrolled else 0
        return CourseAggregate(
            course_id=course_id,
            enrolled=total.enrolled,
            active=total.active,
            completed=total.completed,
            average_percent=average,
            updated_at=updated_at,
        )

    def save(self, course_id: str, writes: list[SummaryWrite], now: str) -> None:
        """Store up to LEARNERS_PER_TRANSACTION recomputes of one course atomically, with their
        summed aggregate difference on one shard picked at random (so concurrent transactions of
        one course spread over the shards); WritesRejectedError says what to do when cancelled."""
        if len(writes) > LEARNERS_PER_TRANSACTION:
            raise ValueError(f"at most {LEARNERS_PER_TRANSACTION} learners per transaction")
        actions: list[dict[str, Any]] = []
        delta = Contribution()
        for write in writes:
            actions += [self._summary_put(write), self._enrollment_action(write)]
            delta = delta.plus(write.counted.minus(write.previous.counted if write.previous else Contribution()))
        if not delta.is_zero:
            shard = random.randrange(keys.AGGREGATE_SHARDS)  # noqa: S311 - spreading load, not secrecy
            actions.append(self._aggregate_update(course_id, shard, delta, now))
        try:
            self._table.transact(actions)
        except ClientError as error:
            reasons = cancellation(error)
            if reasons is None:
                raise
            stale = {
                i // 2 for i, code in enumerate(reasons.codes[: 2 * len(writes)]) if code == "ConditionalCheckFailed"
            }
            raise WritesRejectedError(stale, "TransactionConflict" in reasons.codes) from error

    @staticmethod
    def _summary_put(write: SummaryWrite) -> dict[str, Any]:
        summary, previous = write.summary, write.previous
        version = previous.version if previous else 0
        item = {
            **keys.summary(summary.user_id, summary.course_id),
            **summary.model_dump(by_alias=True, mode="json"),
            "entity": Entity.SUMMARY,
            "writer": Writer.SUMMARIZER,
            "version": version + 1,
            "counted": asdict(write.counted),
            "marks": {k: v for k, v in asdict(write.marks).items() if v is not None},
        }
        put: dict[str, Any] = {"Item": serialize(item)}
        if previous:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = values(expected=version)
        else:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    @staticmethod
    def _enrollment_action(write: SummaryWrite) -> dict[str, Any]:
        change = write.enrollment
        key = serialize(keys.enrollment(write.summary.user_id, write.summary.course_id))
        if change is None:
            # The learner is not enrolled: that must still hold when this commits.
            return {"ConditionCheck": {"Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}
        # Sets the index key too: an enrollment stored before index sharding moves to its shard.
        expression = "SET progress = :progress, writer = :writer, gsi1pk = :index"
        named = {
            "progress": change.progress.model_dump(by_alias=True),
            "writer": Writer.SUMMARIZER.value,
            "index": keys.enrollment_index(write.summary.user_id, write.summary.course_id)["gsi1pk"],
            "expected": change.current.version,
        }
        names: dict[str, str] = {}
        if change.completed_at:
            expression += ", #status = :completed, completedAt = :at, updatedAt = :at, version = :next"
            named |= {"completed": "COMPLETED", "at": change.completed_at, "next": change.current.version + 1}
            names["#status"] = "status"
        update: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": values(**named),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    @staticmethod
    def _aggregate_update(course_id: str, shard: int, delta: Contribution, now: str) -> dict[str, Any]:
        return {
            "Update": {
                "Key": serialize(keys.course_aggregate_shard(course_id, shard)),
                # `writes` counts the transactions that reached this shard (how evenly they spread).
                "UpdateExpression": "ADD enrolled :enrolled, active :active, completed :completed, "
                "percentSum :percent, writes :one SET updatedAt = :now, entity = :entity, writer = :writer",
                "ExpressionAttributeValues": values(
                    enrolled=delta.enrolled,
                    active=delta.active,
                    completed=delta.completed,
                    percent=delta.percent,
                    one=1,
                    now=now,
                    entity=Entity.COURSE_AGGREGATE.value,
                    writer=Writer.SUMMARIZER.value,
                ),
            }
        }

    def schedule_segments(
        self, course_id: str, cursors: list[dict[str, Any] | None], limit: int, cause: str, now: str
    ) -> None:
        """Fan-out segment items 1, 2, ... one per cursor, each in its own partition: their stream records reach
        the summarizer in parallel (ParallelizationFactor), each segment recomputing `limit` learners."""
        items = [self._segment_item(course_id, n, cursor, limit, cause, now) for n, cursor in enumerate(cursors, 1)]
        for start in range(0, len(items), _BATCH_WRITE_SIZE):
            pending: dict[str, Any] = {
                self._table.name: [
                    {"PutRequest": {"Item": serialize(i)}} for i in items[start : start + _BATCH_WRITE_SIZE]
                ]
            }
            while pending:
                response = self._table.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    def continue_segment(
        self, course_id: str, segment: int, cursor: dict[str, Any], limit: int | None, cause: str, now: str
    ) -> None:
        """Leave the rest of a segment to the next invocation (the item's new stream record)."""
        item = self._segment_item(course_id, segment, cursor, limit, cause, now)
        self._table.client.put_item(TableName=self._table.name, Item=serialize(item))

    def finish_segment(self, course_id: str, segment: int) -> None:
        self._table.client.delete_item(
            TableName=self._table.name, Key=serialize(keys.course_fanout_segment(course_id, segment))
        )

    @staticmethod
    def _segment_item(
        course_id: str, segment: int, cursor: dict[str, Any] | None, limit: int | None, cause: str, now: str
    ) -> Item:
        return {
            **keys.course_fanout_segment(course_id, segment),
            "entity": Entity.COURSE_RECOMPUTE,
            "writer": Writer.SUMMARIZER,
            "courseId": course_id,
            "segment": segment,
            "cursor": cursor,
            "limit": limit,
            "cause": cause,
            "updatedAt": now,
        }
