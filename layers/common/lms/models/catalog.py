from typing import Annotated

from pydantic import Field, StringConstraints

from lms.models.common import Identifier, RequestModel, ResponseModel, Title

Description = Annotated[str, StringConstraints(max_length=5000)]


class LessonDraft(RequestModel):
    title: Title
    required: bool = True


class ModuleDraft(RequestModel):
    title: Title
    lessons: list[LessonDraft] = Field(default_factory=list, max_length=200)


class CourseCreate(RequestModel):
    title: Title
    description: Description | None = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    instructor_ids: list[Identifier] = Field(default_factory=list, max_length=50)
    modules: list[ModuleDraft] = Field(default_factory=list, max_length=100)


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
