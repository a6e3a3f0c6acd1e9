"""Enrollment rules: who may enroll whom, seats, the status machine, and optimistic versions."""

from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.errors import (
    AlreadyEnrolledError,
    ConcurrencyError,
    CourseFullError,
    EnrollmentClosedError,
    ErasureInProgressError,
    ForbiddenError,
    NotFoundError,
    VersionMismatchError,
)
from lms.events.derive import enrollment_statement_ids
from lms.identity import Identity
from lms.models.catalog import Course
from lms.models.enrollments import (
    Enrollment,
    EnrollmentProgress,
    EnrollmentStatus,
    EnrollOutcome,
    LearnerCompletion,
    StatusRequest,
    settle,
)
from lms.pagination import Page, PageRequest
from lms.repositories.courses import CourseRepository
from lms.repositories.enrollments import (
    CourseUnavailableError,
    EnrollmentExistsError,
    EnrollmentRepository,
    StaleEnrollmentError,
)
from lms.repositories.erasures import ErasingError
from lms.retry import Retry
from lms.services.access import acting_user, is_staff, manages_course, require_course_manager, require_visible

# An enrollment changes rarely and by few hands: a write that lost a race is made again over what is
# stored now, after a wait of up to 10-20 ms; tries start within 1 s of the API's 10 s timeout.
STALE_RETRY = Retry(attempts=3, base=0.01, cap=0.05, budget=1.0)
_CHANGED = "The enrollment changed concurrently; retry the request."


def _seat_delta(old: EnrollmentStatus, new: EnrollmentStatus) -> int:
    """Every status but DROPPED holds a seat."""
    was_seated, is_seated = old != EnrollmentStatus.DROPPED, new != EnrollmentStatus.DROPPED
    return int(is_seated) - int(was_seated)


def require_window_open(course: Course, now: str) -> None:
    """A learner enrolls themselves, or comes back after dropping, only within the course's
    enrollment window (both bounds included; stored in clock.utc_now's form, so they compare as text)."""
    opens, closes = course.enrollment_opens_at, course.enrollment_closes_at
    if (opens is not None and now < opens) or (closes is not None and now > closes):
        raise EnrollmentClosedError(opens, closes)


class EnrollmentService:
    def __init__(
        self,
        enrollments: EnrollmentRepository,
        courses: CourseRepository,
        *,
        clock: Clock = utc_now,
        ids: IdGenerator = new_id,
    ) -> None:
        self._enrollments = enrollments
        self._courses = courses
        self._now = clock
        self._new_id = ids

    def _course(self, course_id: str) -> Course:
        course = self._courses.get_head(course_id)
        if course is None:
            raise NotFoundError("Course not found.")
        return course

    def _seats(self, current: Enrollment, status: EnrollmentStatus | None, course: Course | None) -> int:
        """The seats a change takes (+1) or frees (-1; `status` None: deleted), counted only in a
        course with a capacity."""
        delta = _seat_delta(current.status, status) if status else -int(current.status != EnrollmentStatus.DROPPED)
        if delta and (course or self._course(current.course_id)).capacity is None:
            return 0
        return delta

    def enroll(self, identity: Identity, course_id: str, user_id: str | None) -> EnrollOutcome:
        # An eventually consistent read (half the units: the head is read on every enrollment of the
        # course), again strongly consistent when it finds nothing (a course created a moment ago).
        head = self._courses.get_versioned_head(course_id, consistent=False) or self._courses.get_versioned_head(
            course_id
        )
        if head is None:
            raise NotFoundError("Course not found.")
        course = head.course
        learner = user_id or identity.user_id
        now = self._now()
        if not manages_course(identity, course):
            if learner != identity.user_id:
                raise ForbiddenError("Only this course's instructors or an admin may enroll someone else.")
            require_window_open(course, now)  # staff enroll anyone at any time
        enrollment = Enrollment(
            id=self._new_id(),
            user_id=learner,
            course_id=course_id,
            status=EnrollmentStatus.ACTIVE,
            enrolled_at=now,
            updated_at=now,
            enrolled_by=identity.user_id,
            version=1,
            progress=EnrollmentProgress(required_lessons=course.required_lesson_count),
        )

        def attempt() -> EnrollOutcome:
            try:
                self._enrollments.create(
                    enrollment, outline_version=head.outline_version, capped=course.capacity is not None
                )
                return EnrollOutcome(enrollment=enrollment, created=True)
            except EnrollmentExistsError as exists:
                if exists.existing.status != EnrollmentStatus.DROPPED:
                    raise AlreadyEnrolledError(exists.existing.id, exists.existing.status.value) from exists
                # Enrolling again is a return, whoever asks: the data decides the status.
                reactivated = self._transition(exists.existing, EnrollmentStatus.ACTIVE, course, staff=None)
                return EnrollOutcome(enrollment=reactivated, created=False)
            except CourseUnavailableError as full:
                raise CourseFullError(course.capacity or 0) from full

        try:
            return STALE_RETRY.call(attempt, on=(StaleEnrollmentError,))
        except StaleEnrollmentError:
            raise ConcurrencyError(_CHANGED) from None
        except ErasingError:
            raise ErasureInProgressError from None

    def _transition(
        self, current: Enrollment, status: EnrollmentStatus, course: Course | None, staff: str | None
    ) -> Enrollment:
        """`staff`: the staff member asking, None for the learner. The completion rule (`settle`)
        sees the learner's progress as the summarizer last copied it to the enrollment."""
        if status == current.status:
            return current
        changed = settle(
            current, LearnerCompletion(current.progress.percent), StatusRequest(status, self._now(), staff)
        )
        try:
            self._enrollments.change_status(current, changed, self._seats(current, changed.status, course))
        except CourseUnavailableError as full:
            capacity = (course or self._course(current.course_id)).capacity or 0
            raise CourseFullError(capacity) from full
        return changed

    def _visible(self, identity: Identity, enrollment_id: str) -> tuple[Enrollment, Course | None]:
        enrollment = self._enrollments.get_by_id(enrollment_id)
        if enrollment is None:
            raise NotFoundError("Enrollment not found.")
        course = None
        # Staff rights need the course; an owner who is an instructor may also teach this course.
        if not identity.is_admin and (enrollment.user_id != identity.user_id or identity.is_instructor):
            course = self._courses.get_head(enrollment.course_id)
        require_visible(identity, enrollment.user_id, course, "Enrollment")
        return enrollment, course

    def get(self, identity: Identity, enrollment_id: str) -> Enrollment:
        return self._visible(identity, enrollment_id)[0]

    def update_status(
        self, identity: Identity, enrollment_id: str, status: EnrollmentStatus, if_match: int | None
    ) -> Enrollment:

        def attempt() -> Enrollment:
            current, course = self._visible(identity, enrollment_id)
            if if_match is not None and if_match != current.version:
                raise VersionMismatchError(if_match, current.version)
            self._check_learner_transition(identity, current, status, course)
            staff = identity.user_id if is_staff(identity, course) else None
            if staff is None and _seat_delta(current.status, status) > 0:
                # A learner's return: the head is the one the seat's move would read anyway.
                course = course or self._course(current.course_id)
                require_window_open(course, self._now())
            try:
                return self._transition(current, status, course, staff)
            except StaleEnrollmentError:
                if if_match is not None:
                    raise VersionMismatchError(if_match, current.version + 1) from None
                raise

        try:
            return STALE_RETRY.call(attempt, on=(StaleEnrollmentError,))
        except StaleEnrollmentError:
            raise ConcurrencyError(_CHANGED) from None
        except ErasingError:
            raise ErasureInProgressError from None

    @staticmethod
    def _check_learner_transition(
        identity: Identity, current: Enrollment, status: EnrollmentStatus, course: Course | None
    ) -> None:
        """Learners may drop, and come back after dropping; staff may set any status. A suspension is
        staff's to lift, so a suspended learner cannot drop (and then re-activate) their way out."""
        if is_staff(identity, course):
            return
        if status == current.status:
            return
        if status == EnrollmentStatus.DROPPED and current.status != EnrollmentStatus.SUSPENDED:
            return
        if status == EnrollmentStatus.ACTIVE and current.status == EnrollmentStatus.DROPPED:
            return
        raise ForbiddenError(f"A learner may not change a {current.status.value} enrollment to {status.value}.")

    def delete(self, identity: Identity, enrollment_id: str) -> None:
        """Owners may delete their enrollment, except a SUSPENDED one: deleting it would let them
        enroll afresh, and a suspension is staff's to lift. The delete is conditioned on the version
        read, so a suspension that lands meanwhile is seen on the retry."""

        def attempt() -> None:
            current, course = self._visible(identity, enrollment_id)
            if current.status == EnrollmentStatus.SUSPENDED and not is_staff(identity, course):
                raise ForbiddenError("A suspended enrollment can only be removed by the course's staff.")
            self._enrollments.delete(
                current,
                capped=self._seats(current, None, course) != 0,
                statement_ids=enrollment_statement_ids(current.model_dump(by_alias=True)),
            )

        try:
            STALE_RETRY.call(attempt, on=(StaleEnrollmentError,))
        except StaleEnrollmentError:
            raise ConcurrencyError(_CHANGED) from None
        except ErasingError:
            raise ErasureInProgressError from None

    def list_mine(
        self,
        identity: Identity,
        user_id: str | None,
        status: EnrollmentStatus | None,
        page: PageRequest,
        course_id: str | None = None,
    ) -> Page[Enrollment]:
        """The caller's enrollments (an admin's: anyone's); with `course_id`, the one in that course
        if any, from a single GetItem."""
        learner = acting_user(identity, user_id)
        if course_id is not None:
            return _at_most_one(self._enrollments.get(learner, course_id), status)
        return self._enrollments.list_for_user(learner, status, page)

    def list_for_course(
        self,
        identity: Identity,
        course_id: str,
        status: EnrollmentStatus | None,
        page: PageRequest,
        user_id: str | None = None,
    ) -> Page[Enrollment]:
        """A course's enrollments, for its staff; with `user_id`, that learner's if any: the course
        head (who may ask) and the enrollment come from a single BatchGetItem."""
        if user_id is not None:
            course, enrollment = self._enrollments.get_with_course(user_id, course_id)
            if course is None:
                raise NotFoundError("Course not found.")
            require_course_manager(identity, course)
            return _at_most_one(enrollment, status)
        require_course_manager(identity, self._course(course_id))
        return self._enrollments.list_for_course(course_id, status, page)


def _at_most_one(enrollment: Enrollment | None, status: EnrollmentStatus | None) -> Page[Enrollment]:
    """A one-enrollment answer as a list page; a `status` filter narrows it, as on any list."""
    if enrollment is None or (status is not None and enrollment.status != status):
        return Page([], None)
    return Page([enrollment], None)
