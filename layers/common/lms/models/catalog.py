from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from lms.models.common import RequestModel, ResponseModel, Title, UserId

Description = Annotated[str, StringConstraints(max_length=5000)]
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


class CourseCreate(RequestModel):
    title: Title
    description: Description | None = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
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
    instructor_ids: list[str]
    lesson_count: int
    required_lesson_count: int
    modules: list[Module] = Field(default_factory=list)
    created_at: str
    updated_at: str


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
