"""A learner's rights over their data: the export's items and the erasure's public shape
(docs/API.md, "Learner data: export and erasure"; what is kept and why: docs/privacy.md)."""

from enum import StrEnum

from pydantic import Field

from lms.models.common import ResponseModel
from lms.models.enrollments import Enrollment
from lms.models.progress import LearnerSummary, Progress


class ExportKind(StrEnum):
    ENROLLMENT = "enrollment"
    PROGRESS = "progress"
    SUMMARY = "summary"
    SENT_STATEMENTS = "sentStatements"


class ErasureStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"


class ErasedCounts(ResponseModel):
    """What the erasure removed so far, per kind (an enrollment's or a record's id reference and
    index entries are counted with it)."""

    enrollments: int = 0
    progress: int = 0
    summaries: int = 0
    idempotency_records: int = Field(default=0, description="Stored replays of POST /enrollments")
    statements_voided: int = Field(default=0, description="xAPI statements voided in the LRS")


class Erasure(ResponseModel):
    user_id: str
    status: ErasureStatus
    requested_at: str
    completed_at: str | None = None
    erased: ErasedCounts = Field(default_factory=ErasedCounts)


class SentStatements(ResponseModel):
    """The xAPI statements sent about an enrollment since deleted, kept so that an erasure voids them."""

    enrollment_id: str
    course_id: str
    statement_ids: list[str]


class ExportItem(ResponseModel):
    """One record kept about the user, in the public shape of its kind."""

    kind: ExportKind
    data: Enrollment | Progress | LearnerSummary | SentStatements
