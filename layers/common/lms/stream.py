"""Stream plumbing for the summarizer: the record models (Parser), what each change means, and a
per-invocation batch that runs each piece of work once however many records ask for it."""

from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamRecordModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from lms.keys import Entity
from lms.observability import metrics
from lms.services.summaries import RecomputeResult, SummaryService

# Stop starting new pages of a course-wide recompute when less than this much time is left.
TIME_RESERVE_MS = 30_000


class TableItem(BaseModel):
    """The attributes of a table item that the summarizer routes on."""

    model_config = ConfigDict(extra="ignore")

    entity: Entity
    courseId: str  # noqa: N815 - stored attribute name
    userId: str | None = None  # noqa: N815
    status: str | None = None
    cursor: dict[str, Any] | None = None


class TableChange(DynamoDBStreamChangedRecordModel):
    NewImage: TableItem | None = None
    OldImage: TableItem | None = None


class TableStreamRecord(DynamoDBStreamRecordModel):
    dynamodb: TableChange


@dataclass(frozen=True, slots=True)
class LearnerWork:
    user_id: str
    course_id: str


@dataclass(frozen=True, slots=True)
class CourseWork:
    course_id: str
    continuation: bool


Work = LearnerWork | CourseWork


def work_for(record: TableStreamRecord) -> tuple[Work, str]:
    """What a change asks for, and its cause for the logs."""
    change = record.dynamodb
    item = change.NewImage or change.OldImage
    if item is None:
        raise ValueError("stream record carries no image; the stream must be NEW_AND_OLD_IMAGES")
    cause = f"{item.entity.value} {record.eventName}"
    if item.entity in (Entity.PROGRESS, Entity.ENROLLMENT):
        if not item.userId:
            raise ValueError(f"{item.entity.value} item without userId")
        return LearnerWork(item.userId, item.courseId), cause
    if item.entity in (Entity.LESSON, Entity.COURSE_RECOMPUTE):
        return CourseWork(item.courseId, continuation=item.entity == Entity.COURSE_RECOMPUTE), cause
    raise ValueError(f"the summarizer does not handle {item.entity.value} changes")


def completes_lesson(record: TableStreamRecord) -> bool:
    change = record.dynamodb
    new, old = change.NewImage, change.OldImage
    return (
        new is not None
        and new.entity == Entity.PROGRESS
        and new.status == "COMPLETED"
        and (old is None or old.status != "COMPLETED")
    )


@dataclass
class ChangeBatch:
    """One invocation's records: each learner or course is recomputed once (coalesced), and a
    record whose work failed is reported as failed, alone."""

    summaries: SummaryService
    context: LambdaContext
    outcomes: dict[Work, Exception | None] = field(default_factory=dict)

    def apply(self, record: TableStreamRecord) -> Literal[True]:
        if completes_lesson(record):
            metrics.add_metric(name="LessonCompleted", unit=MetricUnit.Count, value=1)
        work, cause = work_for(record)
        start_key = record.dynamodb.NewImage.cursor if record.dynamodb.NewImage else None
        if work not in self.outcomes:
            try:
                self._run(work, cause, start_key)
                self.outcomes[work] = None
            except Exception as error:
                self.outcomes[work] = error
                raise
        failure = self.outcomes[work]
        if failure is not None:
            raise failure
        return True

    def _run(self, work: Work, cause: str, start_key: dict[str, Any] | None) -> None:
        if isinstance(work, LearnerWork):
            self._count(self.summaries.recompute_learner(work.user_id, work.course_id, cause))
        else:
            self.summaries.recompute_course(
                work.course_id,
                cause,
                start_key if work.continuation else None,
                has_time=lambda: self.context.get_remaining_time_in_millis() > TIME_RESERVE_MS,
                on_learner=self._count,
            )

    @staticmethod
    def _count(result: RecomputeResult) -> None:
        if result.completed_course:
            metrics.add_metric(name="CourseCompleted", unit=MetricUnit.Count, value=1)
