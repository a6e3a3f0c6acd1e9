"""Stream plumbing for the summarizer: the record models (Parser), what each change means, and a
per-invocation batch that does each piece of work once however many records ask for it, reading
and writing the learners of one course together."""

from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamRecordModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from lms.keys import Entity
from lms.models.progress import Progress
from lms.observability import metrics
from lms.repositories.dynamo import deserialize
from lms.services.summaries import Changes, RecomputeResult, SummaryService

# Stop starting new pages of a fan-out segment when less than this much time is left.
TIME_RESERVE_MS = 30_000


class TableItem(BaseModel):
    """The attributes of a table item that the summarizer routes on."""

    model_config = ConfigDict(extra="ignore")

    entity: Entity
    courseId: str  # noqa: N815 - stored attribute name
    userId: str | None = None  # noqa: N815
    lessonId: str | None = None  # noqa: N815
    status: str | None = None
    segment: int | None = None
    cursor: dict[str, Any] | None = None
    limit: int | None = None
    until: dict[str, Any] | None = None


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
    """A course-wide recompute: start a fan-out (`segment` None) or run one of its segments."""

    course_id: str
    segment: int | None


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
    if item.entity == Entity.LESSON:
        return CourseWork(item.courseId, None), cause
    if item.entity == Entity.COURSE_RECOMPUTE:
        # A continuation item from before segments existed restarts the fan-out.
        return CourseWork(item.courseId, item.segment), cause
    raise ValueError(f"the summarizer does not handle {item.entity.value} changes")


def _progress_image(raw: dict[str, Any]) -> Progress | None:
    """A progress record's new image as the model, or None (not a progress record, or unreadable)."""
    image = raw.get("dynamodb", {}).get("NewImage") or {}
    if image.get("entity", {}).get("S") != Entity.PROGRESS:
        return None
    try:
        return Progress.model_validate(deserialize(image))
    except (ValidationError, TypeError, ValueError):
        return None


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
    """One invocation's records. `prepare` does the work of the whole batch up front: each learner
    and course once (coalesced), the learners of one course read and written together. `apply` then
    answers for each record, so a record whose work failed is reported as failed, alone."""

    summaries: SummaryService
    context: LambdaContext
    outcomes: dict[Work, Exception | None] = field(default_factory=dict)

    def prepare(self, raw_records: list[dict[str, Any]]) -> None:
        parsed: list[tuple[TableStreamRecord, Progress | None]] = []
        for raw in raw_records:
            try:
                parsed.append((TableStreamRecord.model_validate(raw), _progress_image(raw)))
            except ValidationError:
                continue  # apply() reports this record as failed
        self.run(parsed)

    def run(self, records: list[tuple[TableStreamRecord, Progress | None]]) -> None:
        """`records`: each with its progress image (the record as written), if it is one."""
        learners: dict[str, Changes] = {}  # course -> learner -> lessons whose records changed
        causes: dict[str, str] = {}
        courses: dict[CourseWork, tuple[TableStreamRecord, str]] = {}
        for record, progress in records:
            try:
                work, cause = work_for(record)
            except ValueError:
                continue  # apply() reports this record as failed
            if isinstance(work, LearnerWork):
                lessons = learners.setdefault(work.course_id, {}).setdefault(work.user_id, {})
                image = record.dynamodb.NewImage or record.dynamodb.OldImage
                if image is not None and image.entity == Entity.PROGRESS and image.lessonId:
                    lessons[image.lessonId] = progress  # the latest record of a lesson wins
                causes[work.course_id] = cause
            else:
                courses[work] = (record, cause)  # the latest record of a segment carries its cursor
        for course_id, changed in learners.items():
            try:
                outcomes = self.summaries.recompute_learners(course_id, changed, causes[course_id])
            except Exception as error:
                outcomes = dict.fromkeys(changed, error)
            for user_id, outcome in outcomes.items():
                self._settle(LearnerWork(user_id, course_id), outcome)
        for course_work, (record, cause) in courses.items():
            try:
                for result in self._run_course(course_work, record, cause):
                    self._count(result)
                self.outcomes[course_work] = None
            except Exception as error:
                self.outcomes[course_work] = error

    def _settle(self, work: Work, outcome: RecomputeResult | Exception) -> None:
        if isinstance(outcome, Exception):
            self.outcomes[work] = outcome
        else:
            self._count(outcome)
            self.outcomes[work] = None

    def _run_course(self, work: CourseWork, record: TableStreamRecord, cause: str) -> list[RecomputeResult]:
        def has_time() -> bool:
            return self.context.get_remaining_time_in_millis() > TIME_RESERVE_MS

        if work.segment is None:
            return self.summaries.start_fanout(work.course_id, cause, has_time)
        image = record.dynamodb.NewImage
        return self.summaries.run_segment(
            work.course_id,
            work.segment,
            image.cursor if image else None,
            image.limit if image else None,
            cause,
            has_time,
            until=image.until if image else None,
        )

    def apply(self, record: TableStreamRecord) -> Literal[True]:
        if completes_lesson(record):
            metrics.add_metric(name="LessonCompleted", unit=MetricUnit.Count, value=1)
        work, _ = work_for(record)
        if work not in self.outcomes:  # not prepared (a record handed over on its own)
            self.run([(record, None)])
        failure = self.outcomes.get(work)
        if failure is not None:
            raise failure
        return True

    @staticmethod
    def _count(result: RecomputeResult) -> None:
        if result.completed_course:
            metrics.add_metric(name="CourseCompleted", unit=MetricUnit.Count, value=1)
