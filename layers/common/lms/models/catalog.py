from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from lms.models.common import RequestModel, ResponseModel, Title, UserId

Description = Annotated[str, StringConstraints(max_length=5000)]
Capacity = Annotated[int, Field(ge=1, le=1_000_000)]
AccessDays = Annotated[int, Field(ge=1, le=3650, description="Days of access a new enrollment gets (1-3650).")]


def _utc_timestamp(value: str) -> str:
    """Any ISO 8601 time with an offset, stored in the one form the service writes (clock.utc_now):
    stored and current times then compare as strings, in conditions too."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Expected an ISO 8601 timestamp such as 2026-11-26T10:15:00.000Z.") from None
    if parsed.tzinfo is None:
        raise ValueError("The timestamp needs a time zone, e.g. the Z suffix.")
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC (9999-12-31T23:00-05:00 after 9999)
        raise ValueError("The timestamp is outside years 1 to 9999 in UTC.") from None
    return in_utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[str, AfterValidator(_utc_timestamp), Field(json_schema_extra={"format": "date-time"})]


def check_window(opens_at: str | None, closes_at: str | None) -> None:
    """An enrollment window may be open-ended on either side, never inverted."""
    if opens_at is not None and closes_at is not None and opens_at > closes_at:
        raise ValueError("enrollmentOpensAt is after enrollmentClosesAt.")


class CourseSettings(RequestModel):
    """Who may enroll when, and for how long: fields of both creating and updating a course."""

    enrollment_opens_at: Timestamp | None = Field(
        default=None, description="Before it, learners may not enroll themselves (staff may)."
    )
    enrollment_closes_at: Timestamp | None = Field(
        default=None, description="After it, learners may not enroll themselves (staff may)."
    )
    access_days: AccessDays | None = None

    @model_validator(mode="after")
    def _window_in_order(self) -> Self:
        check_window(self.enrollment_opens_at, self.enrollment_closes_at)
        return self


# What one POST /courses may carry: every lesson is two items (lesson and id reference), so the
# largest outline is 1,100 items, written well inside the function's timeout (docs/performance.md).
MAX_OUTLINE_MODULES = 100
MAX_OUTLINE_LESSONS = 500
MAX_LESSONS_PER_MODULE = 200


class LessonDraft(RequestModel):
    title: Title
    required: bool = True


class ModuleDraft(RequestModel):
    title: Title
    lessons: list[LessonDraft] = Field(default_factory=list, max_length=MAX_LESSONS_PER_MODULE)


class CourseCreate(CourseSettings):
    title: Title
    description: Description | None = None
    capacity: Capacity | None = None
    instructor_ids: list[UserId] = Field(default_factory=list, max_length=50)
    modules: list[ModuleDraft] = Field(
        default_factory=list,
        max_length=MAX_OUTLINE_MODULES,
        description=f"At most {MAX_OUTLINE_MODULES} modules and {MAX_OUTLINE_LESSONS} lessons in all per request; "
        "add more with POST /courses/{courseId}/modules and .../lessons.",
    )

    @field_validator("modules")
    @classmethod
    def _outline_fits_one_request(cls, modules: list[ModuleDraft]) -> list[ModuleDraft]:
        lessons = sum(len(module.lessons) for module in modules)
        if lessons > MAX_OUTLINE_LESSONS:
            raise ValueError(f"The outline has {lessons} lessons; at most {MAX_OUTLINE_LESSONS} fit in one request.")
        return modules


class CourseUpdate(CourseSettings):
    """PATCH /courses/{courseId}: the fields sent change, `null` clears an optional one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # A course keeps a title: absent leaves it, null is 422 (and the schema says string, not null).
    title: Annotated[Title | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200})] = None
    description: Description | None = None
    capacity: Capacity | None = Field(
        default=None,
        description="Lowering it below the current enrollments evicts no one; it only stops new ones. "
        "Given to a course that had none, the seats its learners hold are counted first: until then "
        "(about a minute) enrollments are 409 seats-being-counted.",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("Send at least one field to change.")
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("A course's title cannot be cleared.")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent, by their stored (camelCase) names; None clears one."""
        return self.model_dump(by_alias=True, include=self.model_fields_set)


class ModuleCreate(RequestModel):
    title: Title


class LessonCreate(RequestModel):
    title: Title
    required: bool = True


class Lesson(ResponseModel):
    id: str
    title: str
    position: int
    required: bool


class Module(ResponseModel):
    id: str
    title: str
    position: int
    lessons: list[Lesson] = Field(default_factory=list)


class Course(ResponseModel):
    id: str
    title: str
    description: str | None = None
    capacity: int | None = None
    enrollment_opens_at: str | None = None
    enrollment_closes_at: str | None = None
    access_days: int | None = None
    instructor_ids: list[str]
    lesson_count: int
    required_lesson_count: int
    modules: list[Module] = Field(default_factory=list)
    created_at: str
    updated_at: str
    # Stored, never sent: the seat counter's epoch, which each enrollment it counts carries, and,
    # while a capacity set after enrollments began counts the seats they hold, how far that count is.
    seat_epoch: str | None = Field(default=None, exclude=True)
    seats_taken: int = Field(default=0, exclude=True)
    seat_count: str | None = Field(default=None, exclude=True)

    @property
    def seats_being_counted(self) -> bool:
        return self.seat_count is not None


class ModuleCreated(ResponseModel):
    id: str
    course_id: str
    title: str
    position: int


class LessonCreated(ResponseModel):
    id: str
    course_id: str
    module_id: str
    title: str
    position: int
    required: bool


@dataclass(frozen=True, slots=True)
class LessonRef:
    """Where a lesson lives, found from its id alone."""

    lesson_id: str
    course_id: str
    module_id: str
    required: bool
