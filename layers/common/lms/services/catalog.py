"""The course catalog: outlines that progress is measured against."""

from typing import Any

from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.errors import (
    ConcurrencyError,
    DomainError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from lms.identity import Identity
from lms.models.catalog import (
    Course,
    CourseCreate,
    CourseUpdate,
    Lesson,
    LessonCreate,
    LessonCreated,
    Module,
    ModuleCreate,
    ModuleCreated,
    check_window,
)
from lms.repositories.courses import CourseRepository, SeatCountStart
from lms.services.access import manages_course, require_course_manager
from lms.services.seat_counts import seat_count_due


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
            enrollment_opens_at=draft.enrollment_opens_at,
            enrollment_closes_at=draft.enrollment_closes_at,
            access_days=draft.access_days,
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

    def update_course(self, identity: Identity, course_id: str, update: CourseUpdate) -> Course:
        """Change a course's settings in one conditional write: who may, the enrollment window against
        the stored bounds and whether the course counts seats are all conditions of the write, never
        checked on a read before it. Only when it is refused is the head read, to say why."""
        changes = update.changes()
        if identity.is_admin or identity.is_instructor:
            instructor = None if identity.is_admin else identity.user_id
            now = self._now()
            seat_count = SeatCountStart(self._new_id(), seat_count_due(now))
            if self._courses.update_settings(course_id, changes, now, instructor=instructor, seat_count=seat_count):
                return self.get_course(course_id)
        raise _refusal(identity, self._courses.get_head(course_id), changes)

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


def _refusal(identity: Identity, course: Course | None, changes: dict[str, Any]) -> DomainError:
    """Why a course update was refused, from the course as it is now."""
    if course is None:
        return NotFoundError("Course not found.")
    if not manages_course(identity, course):
        return ForbiddenError("Only this course's instructors or an admin may change it.")
    opens = changes.get("enrollmentOpensAt", course.enrollment_opens_at)
    closes = changes.get("enrollmentClosesAt", course.enrollment_closes_at)
    try:
        check_window(opens, closes)
    except ValueError as inverted:
        return UnprocessableError(
            f"{inverted} (with the stored value)", enrollmentOpensAt=opens, enrollmentClosesAt=closes
        )
    # The course changed between the refused write and this read: the client may simply retry.
    return ConcurrencyError("The course changed concurrently; retry the request.")
