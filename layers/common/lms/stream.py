"""Stream plumbing for the summarizer: the record model (Parser), what each change asks for, and a
per-invocation batch whose outcome is computed once: each record parsed once, each learner and
course worked on once however many records ask for it (the learners of one course read and written
together), and the records whose work failed reported as failed, alone."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamRecordModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from lms.batch import sequence_number
from lms.keys import Entity
from lms.models.progress import Progress
from lms.observability import logger, metrics
from lms.repositories.dynamo import deserialize
from lms.services.erasure import ErasureJob, erasure_hash, run_erasures
from lms.services.summaries.fanout import FanoutService
from lms.services.summaries.recompute import Changes, RecomputeResult, SummaryRecomputer

# Stop starting new pages of a fan-out segment when less than this much time is left.
TIME_RESERVE_MS = 30_000


class TableItem(BaseModel):
    """A table item as the stream carries it: the attributes the summarizer routes on, and the rest
    kept (a progress record's image is applied as written)."""

    model_config = ConfigDict(extra="allow")

    entity: Entity
    courseId: str  # noqa: N815 - stored attribute name
    userId: str | None = None  # noqa: N815
    lessonId: str | None = None  # noqa: N815
    status: str | None = None
    segment: int | None = None
    cursor: dict[str, Any] | None = None
    until: dict[str, Any] | None = None


class TableChange(DynamoDBStreamChangedRecordModel):
    NewImage: TableItem | None = None
    OldImage: TableItem | None = None

    @field_validator("Keys", "NewImage", "OldImage", mode="before")
    @classmethod
    def deserialize_field(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Attribute values to plain values as the table gateway reads them (numbers as int or
        float): Powertools' TypeDeserializer, which this replaces, took a third of a record's parse."""
        return deserialize(value)


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


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record, parsed: the work it asks for, and what that work takes from it."""

    sequence_number: str
    work: Work
    cause: str  # for the logs
    item: TableItem  # the new image, or the old one of a removal
    progress: Progress | None  # a progress record's new image: the record as written
    completes_lesson: bool


def parse(raw: dict[str, Any]) -> Change:
    """ValidationError or ValueError when the record is not one the summarizer handles."""
    record = TableStreamRecord.model_validate(raw)
    new, old = record.dynamodb.NewImage, record.dynamodb.OldImage
    item = new or old
    if item is None:
        raise ValueError("stream record carries no image; the stream must be NEW_AND_OLD_IMAGES")
    cause = f"{item.entity.value} {record.eventName}"
    progress = Progress.model_validate(new.model_dump()) if new and new.entity == Entity.PROGRESS else None
    completes = progress is not None and progress.status == "COMPLETED" and (old is None or old.status != "COMPLETED")
    return Change(record.dynamodb.SequenceNumber, _work_for(item), cause, item, progress, completes)


def _work_for(item: TableItem) -> Work:
    if item.entity in (Entity.PROGRESS, Entity.ENROLLMENT):
        if not item.userId:
            raise ValueError(f"{item.entity.value} item without userId")
        return LearnerWork(item.userId, item.courseId)
    if item.entity == Entity.LESSON:
        return CourseWork(item.courseId, None)
    if item.entity == Entity.COURSE_RECOMPUTE and item.segment is not None:
        return CourseWork(item.courseId, item.segment)
    raise ValueError(f"the summarizer does not handle this {item.entity.value} change")


@dataclass(frozen=True, slots=True)
class Summarizer:
    """What the summarizer works with: learners' recompute, and the fan-out of outline changes."""

    recompute: SummaryRecomputer
    fanout: FanoutService
    erasure: ErasureJob | None = None  # steps of learner data erasures (docs/privacy.md)


class ChangeBatch:
    """One invocation's records and their outcome."""

    def __init__(self, summarizer: Summarizer, context: LambdaContext) -> None:
        self._summarizer = summarizer
        self._context = context

    def run(self, raw_records: list[dict[str, Any]]) -> set[str]:
        """Do the batch's work; returns the sequence numbers of the records that failed."""
        failed: set[str] = set()
        # Erasure records go to the erasure job (the stream's third task, without a third reader).
        erasures = [raw for raw in raw_records if erasure_hash(raw)]
        if erasures:
            raw_records = [raw for raw in raw_records if not erasure_hash(raw)]
            job = self._summarizer.erasure
            failed |= run_erasures(erasures, job) if job else {sequence_number(raw) for raw in erasures}
        changes: list[Change] = []
        for raw in raw_records:
            try:
                changes.append(parse(raw))
            except (ValidationError, ValueError) as error:
                failed.add(sequence_number(raw))
                logger.warning(
                    "unreadable stream record", extra={"sequenceNumber": sequence_number(raw), "error": str(error)}
                )
        lessons_completed = sum(change.completes_lesson for change in changes)
        if lessons_completed:
            metrics.add_metric(name="LessonCompleted", unit=MetricUnit.Count, value=lessons_completed)
        failures = self._work(changes)
        return failed | {change.sequence_number for change in changes if change.work in failures}

    def _work(self, changes: Iterable[Change]) -> set[Work]:
        """Each learner and course once; returns the work that failed."""
        learners: dict[str, Changes] = {}  # course -> learner -> lessons whose records changed
        enrollments: dict[str, set[str]] = {}  # course -> learners whose enrollment changed
        causes: dict[str, str] = {}
        courses: dict[CourseWork, Change] = {}
        for change in changes:
            if isinstance(change.work, LearnerWork):
                lessons = learners.setdefault(change.work.course_id, {}).setdefault(change.work.user_id, {})
                if change.item.entity == Entity.PROGRESS and change.item.lessonId:
                    lessons[change.item.lessonId] = change.progress  # the latest record of a lesson wins
                elif change.item.entity == Entity.ENROLLMENT:
                    enrollments.setdefault(change.work.course_id, set()).add(change.work.user_id)
                causes[change.work.course_id] = change.cause
            else:
                courses[change.work] = change  # the latest record of a segment carries its cursor
        failures: set[Work] = set()
        for course_id, changed in learners.items():
            try:
                outcomes = self._summarizer.recompute.recompute_learners(
                    course_id, changed, causes[course_id], enrollments_changed=enrollments.get(course_id, set())
                )
            except Exception as error:
                outcomes = dict.fromkeys(changed, error)
            for user_id, outcome in outcomes.items():
                if self._settled(LearnerWork(user_id, course_id), outcome):
                    failures.add(LearnerWork(user_id, course_id))
        for work, change in courses.items():
            try:
                results = self._run_course(work, change)
            except Exception as error:
                self._settled(work, error)
                failures.add(work)
                continue
            for result in results:
                self._settled(work, result)
        return failures

    @staticmethod
    def _settled(work: Work, outcome: RecomputeResult | Exception) -> bool:
        """Count a result, log a failure; whether it failed."""
        if isinstance(outcome, Exception):
            logger.warning("summarizer work failed", extra={"work": repr(work), "error": repr(outcome)})
            return True
        if outcome.completed_course:
            metrics.add_metric(name="CourseCompleted", unit=MetricUnit.Count, value=1)
        return False

    def _run_course(self, work: CourseWork, change: Change) -> list[RecomputeResult]:
        def has_time() -> bool:
            return self._context.get_remaining_time_in_millis() > TIME_RESERVE_MS

        fanout = self._summarizer.fanout
        if work.segment is None:
            return fanout.start(work.course_id, change.cause, has_time)
        item = change.item
        return fanout.run_segment(work.course_id, work.segment, item.cursor, item.until, change.cause, has_time)
