"""Learner summaries and course aggregates, written only by the stream function.

A learner's summary item remembers what it contributed to the course aggregate (`counted`). A
recompute writes the new summary, the enrollment's progress, and the aggregate's *difference* in one
transaction conditioned on the summary's version, so the aggregate stays exact however often a
record is delivered or retried.
"""

from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from lms import keys
from lms.keys import Entity, Writer
from lms.models.enrollments import Enrollment, EnrollmentProgress
from lms.models.progress import CourseAggregate, LearnerSummary
from lms.repositories.dynamo import Table, cancellation, serialize, values


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one learner adds to the course aggregate."""

    enrolled: int = 0
    active: int = 0
    completed: int = 0
    percent: int = 0

    def minus(self, other: "Contribution") -> "Contribution":
        return Contribution(
            self.enrolled - other.enrolled,
            self.active - other.active,
            self.completed - other.completed,
            self.percent - other.percent,
        )

    @property
    def is_zero(self) -> bool:
        return not any(asdict(self).values())


@dataclass(frozen=True, slots=True)
class StoredSummary:
    summary: LearnerSummary
    version: int
    counted: Contribution


@dataclass(frozen=True, slots=True)
class EnrollmentChange:
    """The summarizer's write to an enrollment: its progress, and completion when it first happens."""

    current: Enrollment
    progress: EnrollmentProgress
    completed_at: str | None  # set only when this recompute completes the enrollment


class SummaryChangedError(Exception):
    """The summary or the enrollment changed during the recompute; recompute again."""


class SummaryRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str, course_id: str) -> StoredSummary | None:
        item = self._table.get(keys.summary(user_id, course_id))
        if not item:
            return None
        return StoredSummary(
            LearnerSummary.model_validate(item), int(item["version"]), Contribution(**item.get("counted", {}))
        )

    def get_aggregate(self, course_id: str) -> CourseAggregate:
        item = self._table.get(keys.course_aggregate(course_id), consistent=False) or {}
        enrolled = int(item.get("enrolled", 0))
        average = round(item.get("percentSum", 0) / enrolled, 2) if enrolled else 0
        return CourseAggregate.model_validate({**item, "courseId": course_id, "averagePercent": average})

    def save(
        self,
        summary: LearnerSummary,
        previous: StoredSummary | None,
        counted: Contribution,
        enrollment: EnrollmentChange | None,
        enrollment_key_owner: tuple[str, str],
    ) -> None:
        """Write a recompute's result atomically; SummaryChangedError if anything moved meanwhile."""
        user_id, course_id = enrollment_key_owner
        version = previous.version if previous else 0
        summary_item = {
            **keys.summary(user_id, course_id),
            **summary.model_dump(by_alias=True, mode="json"),
            "entity": Entity.SUMMARY,
            "writer": Writer.SUMMARIZER,
            "version": version + 1,
            "counted": asdict(counted),
        }
        put: dict[str, Any] = {"Item": serialize(summary_item)}
        if previous:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = values(expected=version)
        else:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        actions: list[dict[str, Any]] = [{"Put": put}, self._enrollment_action(user_id, course_id, enrollment)]
        delta = counted.minus(previous.counted if previous else Contribution())
        if not delta.is_zero:
            actions.append(self._aggregate_update(course_id, delta, summary.updated_at or ""))
        try:
            self._table.transact(actions)
        except ClientError as error:
            if cancellation(error) is None:
                raise
            raise SummaryChangedError from error

    @staticmethod
    def _enrollment_action(user_id: str, course_id: str, change: EnrollmentChange | None) -> dict[str, Any]:
        key = serialize(keys.enrollment(user_id, course_id))
        if change is None:
            # The learner is not enrolled: that must still hold when this commits.
            return {"ConditionCheck": {"Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}
        expression = "SET progress = :progress, writer = :writer"
        named = {
            "progress": change.progress.model_dump(by_alias=True),
            "writer": Writer.SUMMARIZER.value,
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
    def _aggregate_update(course_id: str, delta: Contribution, now: str) -> dict[str, Any]:
        return {
            "Update": {
                "Key": serialize(keys.course_aggregate(course_id)),
                "UpdateExpression": "ADD enrolled :enrolled, active :active, completed :completed, "
                "percentSum :percent SET updatedAt = :now, entity = :entity, writer = :writer",
                "ExpressionAttributeValues": values(
                    enrolled=delta.enrolled,
                    active=delta.active,
                    completed=delta.completed,
                    percent=delta.percent,
                    now=now,
                    entity=Entity.COURSE_AGGREGATE.value,
                    writer=Writer.SUMMARIZER.value,
                ),
            }
        }

    def schedule_course_recompute(self, course_id: str, cursor: dict[str, Any], cause: str, now: str) -> None:
        """Leave the rest of a course-wide recompute to the next invocation (the item's stream record)."""
        item = {
            **keys.course_recompute(course_id),
            "entity": Entity.COURSE_RECOMPUTE,
            "writer": Writer.SUMMARIZER,
            "courseId": course_id,
            "cursor": cursor,
            "cause": cause,
            "updatedAt": now,
        }
        self._table.client.put_item(TableName=self._table.name, Item=serialize(item))

    def finish_course_recompute(self, course_id: str) -> None:
        self._table.client.delete_item(TableName=self._table.name, Key=serialize(keys.course_recompute(course_id)))
