"""The course catalog: outlines that progress is measured against."""

from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.errors import ForbiddenError, NotFoundError
from lms.identity import Identity
from lms.models.catalog import (
    Course,
    CourseCreate,
    Lesson,
    LessonCreate,
    LessonCreated,
    Module,
    ModuleCreate,
    ModuleCreated,
)
from lms.repositories.courses import CourseRepository
from lms.services.access import require_course_manager


class CatalogService:
    def __init__(self, courses: CourseRepository, *, clock: Clock = utc_now, ids: IdGenerator = new_id) -> None:
        self._courses = courses
        self._now = clock
        self._new_id = ids

    def create_course(self, identity: Identity, draft: CourseCreate) -> Course:
        if not (identity.is_admin or identity.is_instructor):
            raise ForbiddenError("Only instructors and admins may create courses.")
        instructor_ids = list(dict.fromkeys(draft.instructor_ids))
        if identity.is_instructor and identity.user_id not in instructor_ids:
            instructor_ids.append(identity.user_id)
        now = self._now()
        modules = [
            Module(
                id=self._new_id(),
                title=module.title,
                position=module_position,
                lessons=[
                    Lesson(id=self._new_id(), title=lesson.title, position=lesson_position, required=lesson.required)
                    for lesson_position, lesson in enumerate(module.lessons, start=1)
                ],
            )
            for module_position, module in enumerate(draft.modules, start=1)
        ]
        lessons = [lesson for module in modules for lesson in module.lessons]
        course = Course(
            id=self._new_id(),
            title=draft.title,
            description=draft.description,
            capacity=draft.capacity,
            instructor_ids=instructor_ids,
            lesson_count=len(lessons),
            required_lesson_count=sum(lesson.required for lesson in lessons),
            modules=modules,
            created_at=now,
            updated_at=now,
        )
        self._courses.create(course)
        return course

    def get_course(self, course_id: str) -> Course:
        course = self._courses.get_outline(course_id)
        if course is None:
            raise NotFoundError("Course not found.")
        return course

    def _managed_course(self, identity: Identity, course_id: str) -> Course:
        course = self._courses.get_head(course_id)
        if course is None:
            raise NotFoundError("Course not found.")
        require_course_manager(identity, course)
        return course

    def add_module(self, identity: Identity, course_id: str, draft: ModuleCreate) -> ModuleCreated:
        self._managed_course(identity, course_id)
        module = self._courses.append_module(course_id, self._new_id(), draft.title, self._now())
        if module is None:
            raise NotFoundError("Course not found.")
        return module

    def add_lesson(self, identity: Identity, course_id: str, module_id: str, draft: LessonCreate) -> LessonCreated:
        self._managed_course(identity, course_id)
        lesson = Lesson(id=self._new_id(), title=draft.title, position=0, required=draft.required)
        created = self._courses.append_lesson(course_id, module_id, lesson, self._now())
        if created is None:
            raise NotFoundError("Module not found in this course.")
        return created

    def delete_lesson(self, identity: Identity, course_id: str, lesson_id: str) -> None:
        self._managed_course(identity, course_id)
        if not self._courses.delete_lesson(course_id, lesson_id, self._now()):
            raise NotFoundError("Lesson not found in this course.")
