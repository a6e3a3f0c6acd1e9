"""Learner summaries and course aggregates, written only by the stream function.

A learner's summary item remembers what it contributed to the course aggregate (`counted`) and which
outline lessons it counts as completed and viewed (`marks`, bitmaps over the outline it was computed
against). Recomputes write summaries, enrollments' progress and the aggregate's *difference* in one
transaction conditioned on each summary's version, so the aggregate stays exact however often a
record is delivered or retried. The aggregate is spread over `keys.AGGREGATE_SHARDS` items in their
own partitions, and a transaction adds its learners' summed difference to the shard of its first
learner (`keys.aggregate_shard`), so the shards share a course's load as its learners do.

A summary item carries the whole `GET .../summary` answer, its module summaries packed in one string
(`_pack_modules`): a 100-module summary is a third of its size as a list of maps, and a completion
writes it in a transaction at 2 WCU per KB.

A summary item also says what the learner's enrollment was when it was written (`enrollment`, one
string, `_pack_enrollment`; `[]`: not enrolled), so a recompute reads one item per learner,
not two; see lms.services.summaries.recompute for why that is exact.
"""

import json
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from lms import keys
from lms.keys import Entity, Writer
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.models.progress import CourseAggregate, LearnerSummary, ModuleSummary, Progress
from lms.models.summaries import (
    Contribution,
    LearnerState,
    LessonMarks,
    SeenEnrollment,
    StoredSummary,
    SummaryWrite,
)
from lms.repositories.dynamo import (
    Action,
    Item,
    Table,
    TransactionCancelledError,
    condition_check,
    put_action,
    update_action,
    values,
)

# Two items per learner (summary, enrollment) and one aggregate shard, well within the 100-item
# limit: smaller transactions conflict less, and DynamoDB Local writes 25 learners per transaction
# faster per learner than 49 (2.1 against 3.6 ms) or 1 (14 ms).
LEARNERS_PER_TRANSACTION = 25
# Keys per BatchGetItem request (DynamoDB takes up to 100), and requests in flight at once: a batch's
# 100 learners are read as two requests side by side, which DynamoDB Local serves in parallel (100
# summaries: 18 ms against 24 ms as one request, 20 ms as four; on AWS a request's keys are already
# read in parallel, so there it saves less). One pool per execution environment: its threads start
# on first use (never in a SnapStart snapshot's init) and are reused.
KEYS_PER_READ = 50
_reads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="summary-reads")


class WritesRejectedError(Exception):
    """A transaction was cancelled. `stale` are the learners whose summary or enrollment changed
    since it was read: recompute them. `conflicted`: another transaction held an item
    (TransactionConflict); the other writes still hold and may be sent again."""

    def __init__(self, stale: set[str], conflicted: bool) -> None:
        super().__init__(f"{len(stale)} stale writes, conflicted={conflicted}")
        self.stale = stale
        self.conflicted = conflicted


def _pack_modules(modules: list[ModuleSummary]) -> str:
    """`<module id> <completed> <required>` per module, modules separated by `;` (ids never hold
    either: they are generated, [0-9a-z])."""
    return ";".join(f"{m.module_id} {m.completed_lessons} {m.required_lessons}" for m in modules)


def _unpack_modules(packed: str) -> list[ModuleSummary]:
    modules = []
    for entry in filter(None, packed.split(";")):
        module_id, done, required = entry.split(" ")
        modules.append(ModuleSummary.of(module_id, int(done), int(required)))
    return modules


# A summary's enrollment, one string: a JSON array of SeenEnrollment's fields in this order, trailing
# nulls left out, `enrolledBy` and `completedBy` as "" when they are the learner (as they mostly are;
# no user id is empty); "[]": not enrolled. One string, not a map: DynamoDB Local took a fifth longer
# to write a summary with it as a map of 8 values (1.5 against 1.3 ms), and a 100-module summary is
# within 150 bytes of 4 KB, past which its transactional write costs 2 WCU more.
_SEEN_FIELDS = (
    "id",
    "version",
    "status",
    "enrolled_at",
    "updated_at",
    "outline",
    "enrolled_by",
    "completed_at",
    "completed_by",
    "reopened_at",
)
_LEARNER = ""  # `enrolledBy` or `completedBy` when it is the learner


def _pack_enrollment(seen: SeenEnrollment | None, user_id: str) -> str:
    if seen is None:
        return "[]"
    fields = {name: getattr(seen, name) for name in _SEEN_FIELDS}
    fields["status"] = seen.status.value
    for name in ("enrolled_by", "completed_by"):
        if fields[name] == user_id:
            fields[name] = _LEARNER
    packed = [fields[name] for name in _SEEN_FIELDS]
    while packed[-1] is None:
        packed.pop()
    return json.dumps(packed, separators=(",", ":"))


def _unpack_enrollment(packed: str, user_id: str) -> SeenEnrollment | None:
    values_ = json.loads(packed)
    if not values_:
        return None
    fields: dict[str, Any] = dict(zip(_SEEN_FIELDS, values_, strict=False))
    for name in ("enrolled_by", "completed_by"):
        if fields.get(name) == _LEARNER:
            fields[name] = user_id
    fields["status"] = EnrollmentStatus(fields["status"])
    return SeenEnrollment(**fields)


def _stored(item: Item) -> StoredSummary:
    marks = item.get("marks")
    seen = item.get("enrollment")
    return StoredSummary(
        LearnerSummary.model_validate({**item, "modules": _unpack_modules(item.get("modules", ""))}),
        int(item["version"]),
        Contribution(**item.get("counted", {})),
        # Only the fields this version knows: an item written by a newer version still reads.
        LessonMarks(**{name: marks[name] for name in LessonMarks.__dataclass_fields__ if name in marks})
        if marks
        else None,
        knows_enrollment=seen is not None,
        enrollment=_unpack_enrollment(seen, item["userId"]) if seen is not None else None,
    )


def stored_summary(item: Item) -> StoredSummary:
    """A summary item as stored (the export reads the learner's partition whole)."""
    return _stored(item)


class SummaryRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str, course_id: str) -> StoredSummary | None:
        item = self._table.get(keys.summary(user_id, course_id))
        return _stored(item) if item else None

    def read_learners(
        self,
        course_id: str,
        user_ids: list[str],
        lessons: dict[str, set[str]],
        *,
        enrollments: Collection[str] | None = None,
    ) -> dict[str, LearnerState]:
        """Each learner's stored summary (when `user_ids` names them), enrollment (of the learners in
        `enrollments`; None: of every learner in `user_ids`) and current records of `lessons[user]`:
        one BatchGetItem per KEYS_PER_READ keys for the whole batch, up to 4 in flight."""
        enrolled = user_ids if enrollments is None else enrollments
        wanted = [keys.summary(user, course_id) for user in user_ids]
        wanted += [keys.enrollment(user, course_id) for user in enrolled]
        wanted += [
            keys.progress(user, course_id, lesson) for user, named in lessons.items() for lesson in sorted(named)
        ]
        states = {user: LearnerState() for user in [*user_ids, *enrolled, *lessons]}
        for user in enrolled:
            states[user].enrollment_read = True  # None below, unless found: not enrolled
        if not wanted:
            return states
        chunks = [wanted[start : start + KEYS_PER_READ] for start in range(0, len(wanted), KEYS_PER_READ)]
        pages = [self._table.batch_get(chunks[0])] if len(chunks) == 1 else _reads.map(self._table.batch_get, chunks)
        found = [item for items in pages for item in items]
        for item in found:
            state = states.get(item.get("userId", ""))
            if state is None:
                continue
            match item.get("entity"):
                case Entity.SUMMARY:
                    state.stored = _stored(item)
                case Entity.ENROLLMENT:
                    state.enrollment = Enrollment.model_validate(item)
                    state.enrolled_on_outline = int(item.get("outlineVersion", 0))
                case Entity.PROGRESS:
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
                    int(item.get("expired", 0)),
                )
            )
            updated_at = max(updated_at or "", item.get("updatedAt") or "") or None
        average = round(total.percent / total.enrolled, 2) if total.enrolled else 0
        return CourseAggregate(
            course_id=course_id,
            enrolled=total.enrolled,
            active=total.active,
            completed=total.completed,
            expired=total.expired,
            average_percent=average,
            updated_at=updated_at,
        )

    def save(self, course_id: str, writes: list[SummaryWrite], now: str) -> None:
        """Store up to LEARNERS_PER_TRANSACTION recomputes of one course atomically, with their
        summed aggregate difference on the first learner's shard; WritesRejectedError says what to
        do when cancelled."""
        if len(writes) > LEARNERS_PER_TRANSACTION:
            raise ValueError(f"at most {LEARNERS_PER_TRANSACTION} learners per transaction")
        actions: dict[str, Action] = {}
        delta = Contribution()
        for write in writes:
            learner = write.summary.user_id
            actions[f"summary {learner}"] = self._summary_put(write)
            actions[f"enrollment {learner}"] = self._enrollment_action(write)
            delta = delta.plus(write.counted.minus(write.previous.counted if write.previous else Contribution()))
        if not delta.is_zero:
            shard = keys.aggregate_shard(writes[0].summary.user_id)
            actions["aggregate"] = self._aggregate_update(course_id, shard, delta, now)
        try:
            self._table.transact(actions)
        except TransactionCancelledError as cancelled:
            stale = {
                learner
                for learner in (write.summary.user_id for write in writes)
                if cancelled.failed(f"summary {learner}") or cancelled.failed(f"enrollment {learner}")
            }
            raise WritesRejectedError(stale, cancelled.conflicted) from cancelled

    @staticmethod
    def _summary_put(write: SummaryWrite) -> Action:
        summary, previous = write.summary, write.previous
        version = previous.version if previous else 0
        item = {
            **keys.summary(summary.user_id, summary.course_id),
            **summary.model_dump(by_alias=True, mode="json", exclude_none=True),
            "modules": _pack_modules(summary.modules),
            "entity": Entity.SUMMARY,
            "writer": Writer.SUMMARIZER,
            "version": version + 1,
            "counted": asdict(write.counted),
            "marks": {k: v for k, v in asdict(write.marks).items() if v is not None},
            "enrollment": _pack_enrollment(write.seen, summary.user_id),
        }
        if previous:
            return put_action(item, condition="version = :expected", expression_values=values(expected=version))
        return put_action(item, condition="attribute_not_exists(pk)")

    @staticmethod
    def _enrollment_action(write: SummaryWrite) -> Action:
        change = write.enrollment
        key = keys.enrollment(write.summary.user_id, write.summary.course_id)
        if change is None:
            # The learner is not enrolled: that must still hold when this commits.
            return condition_check(key, "attribute_not_exists(pk)")
        # The enrollment the recompute used (read, or as the summary recorded it) must be the one
        # stored when this commits: the same item (a deleted and recreated one starts again at
        # version 1, with a new id) at the same version.
        current = "id = :id AND version = :expected"
        if change.completed is None and change.current.progress == change.progress:
            # Only the summary moved (a view): the enrollment need only still be the one used. A
            # check writes nothing, so no index copy, no stream record (1 WCU less on AWS).
            return condition_check(
                key, current, expression_values=values(id=change.current.id, expected=change.current.version)
            )
        expression = "SET progress = :progress, writer = :writer"
        named = {
            "progress": change.progress.model_dump(by_alias=True),
            "writer": Writer.SUMMARIZER.value,
            "id": change.current.id,
            "expected": change.current.version,
        }
        names: dict[str, str] = {}
        if done := change.completed:
            expression += (
                ", #status = :completed, completedAt = :first, completedBy = :by, reopenedAt = :reopened,"
                " updatedAt = :at, version = :next"
            )
            named |= {
                "completed": done.status.value,
                "first": done.completed_at,
                "by": done.completed_by,
                "reopened": done.reopened_at,
                "at": done.updated_at,
                "next": done.version,
            }
            names["#status"] = "status"
        return update_action(key, expression, condition=current, expression_values=values(**named), names=names)

    @staticmethod
    def _aggregate_update(course_id: str, shard: int, delta: Contribution, now: str) -> Action:
        return update_action(
            keys.course_aggregate_shard(course_id, shard),
            # `writes` counts the transactions that reached this shard (how evenly they spread).
            "ADD enrolled :enrolled, active :active, completed :completed, expired :expired, "
            "percentSum :percent, writes :one SET updatedAt = :now, entity = :entity, writer = :writer",
            expression_values=values(
                enrolled=delta.enrolled,
                active=delta.active,
                completed=delta.completed,
                expired=delta.expired,
                percent=delta.percent,
                one=1,
                now=now,
                entity=Entity.COURSE_AGGREGATE.value,
                writer=Writer.SUMMARIZER.value,
            ),
        )
