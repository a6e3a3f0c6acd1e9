"""Enrollment rules: who may enroll whom, seats, the status machine, access periods, and optimistic
versions."""

from datetime import datetime, timedelta

from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.errors import (
    AccessEndedError,
    AlreadyEnrolledError,
    ConcurrencyError,
    CourseFullError,
    DomainError,
    EnrollmentClosedError,
    ErasureInProgressError,
    ForbiddenError,
    NotFoundError,
    SeatsBeingCountedError,
    VersionMismatchError,
)
from lms.events.derive import enrollment_statement_ids
from lms.identity import Identity
from lms.models.catalog import Course
from lms.models.enrollments import (
    SEATLESS_STATUSES,
    AccessEnd,
    Enrollment,
    EnrollmentProgress,
    EnrollmentStatus,
    EnrollOutcome,
    LearnerCompletion,
    StatusRequest,
    counted_by,
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


def _seat_delta(old: EnrollmentStatus | None, new: EnrollmentStatus | None) -> int:
    """Every status but DROPPED and EXPIRED holds a seat (None: no enrollment)."""
    was_seated = old is not None and old not in SEATLESS_STATUSES
    is_seated = new is not None and new not in SEATLESS_STATUSES
    return int(is_seated) - int(was_seated)


# ------------------------------------------------------------------------------ seats (pure)
def seat_move(current: Enrollment | None, status: EnrollmentStatus | None, course: Course | None) -> int:
    """How a change of `current` (None: a new enrollment) to `status` (None: deleted) moves the
    course's seat counter: +1, -1 or 0. Only a course with a capacity counts seats, and it frees only
    a seat it counted: one whose enrollment carries its counter's epoch. (A seat to take while the
    counter still counts the seats held is refused by the counter's own condition: 409
    seats-being-counted.) `course` may be None when the change neither takes nor frees a seat."""
    delta = _seat_delta(current.status if current else None, status)
    if delta == 0:
        return 0
    assert course is not None, "a change that takes or frees a seat needs the course"
    if delta < 0:
        assert current is not None
        return -1 if counted_by(current.seat_epoch, course.seat_epoch) else 0
    return 1 if course.capacity is not None else 0


def seat_marked(changed: Enrollment, seats: int, course: Course | None) -> Enrollment:
    """`changed` with its seat mark: the counter's epoch on a seat just counted, none on a seat
    freed (counted or not); as it was otherwise."""
    if seats > 0:
        assert course is not None
        return changed.model_copy(update={"seat_epoch": course.seat_epoch})
    if changed.status in SEATLESS_STATUSES and changed.seat_epoch is not None:
        return changed.model_copy(update={"seat_epoch": None})
    return changed


# ------------------------------------------------------------------------------ access periods (pure)
def default_access_end(course: Course, enrolled_at: str) -> str | None:
    """A new enrollment's `accessEndsAt`: `enrolledAt` plus the course's `accessDays` as the course
    says now (changing them later moves no existing enrollment), None when it has none."""
    if course.access_days is None:
        return None
    ends = datetime.fromisoformat(enrolled_at) + timedelta(days=course.access_days)
    return ends.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def access_ended(enrollment: Enrollment, now: str) -> bool:
    """Whether the learner's access has ended (both in clock.utc_now's form: they compare as text)."""
    return enrollment.access_ends_at is not None and enrollment.access_ends_at <= now


def expire(current: Enrollment, now: str) -> Enrollment:
    """The access-period transition: an ACTIVE enrollment whose access has ended becomes EXPIRED
    (`version` + 1); any other is returned as it is (`current`). A COMPLETED enrollment stays
    COMPLETED: only its writes are refused. The scheduler's conditional write
    (EnrollmentRepository.expire) is this rule as a DynamoDB condition and update."""
    if current.status != EnrollmentStatus.ACTIVE or not access_ended(current, now):
        return current
    return current.model_copy(
        update={"status": EnrollmentStatus.EXPIRED, "updated_at": now, "version": current.version + 1}
    )


def set_access_end(current: Enrollment, ends_at: str | None, now: str) -> Enrollment:
    """Staff's new `accessEndsAt` (None: never ends); `current` when it is the one stored. On an EXPIRED
    enrollment, an end in the future (or none) gives back what a learner's return would: ACTIVE, or
    COMPLETED when their completion stands or their lessons complete it (the completion rule,
    `settle`). An end in the past on an ACTIVE enrollment leaves it to the scheduler, as any end."""
    if ends_at == current.access_ends_at:
        return current
    changed = current.model_copy(update={"access_ends_at": ends_at})
    if current.status == EnrollmentStatus.EXPIRED and not access_ended(changed, now):
        back = StatusRequest(EnrollmentStatus.ACTIVE, now)
        changed = settle(changed, LearnerCompletion(current.progress.percent), back)
    return changed.model_copy(update={"updated_at": now, "version": current.version + 1})


def require_access_open(enrollment: Enrollment, now: str) -> None:
    """A learner changes their enrollment only while their access lasts: an EXPIRED one, or one whose
    access has ended and that the scheduler has yet to expire, is staff's to change."""
    if expire(enrollment, now).status == EnrollmentStatus.EXPIRED:
        raise AccessEndedError(enrollment.access_ends_at)


def require_window_open(course: Course, now: str) -> None:
    """A learner enrolls themselves, or comes back after dropping, only within the course's
    enrollment window (both bounds included; stored in clock.utc_now's form, so they compare as text)."""
    opens, closes = course.enrollment_opens_at, course.enrollment_closes_at
    if (opens is not None and now < opens) or (closes is not None and now > closes):
        raise EnrollmentClosedError(opens, closes)


def new_enrollment(
    course: Course, learner: str, enrolled_by: str, now: str, enrollment_id: str, access_end: AccessEnd | None = None
) -> Enrollment:
    """A learner's new enrollment in a course, made by `enrolled_by` (the learner, or staff), whose
    access ends as staff's `access_end` says, else after the course's `accessDays`."""
    enrollment = Enrollment(
        id=enrollment_id,
        user_id=learner,
        course_id=course.id,
        status=EnrollmentStatus.ACTIVE,
        enrolled_at=now,
        updated_at=now,
        enrolled_by=enrolled_by,
        version=1,
        progress=EnrollmentProgress(required_lessons=course.required_lesson_count),
        access_ends_at=access_end.at if access_end else default_access_end(course, now),
    )
    return seat_marked(enrollment, seat_move(None, enrollment.status, course), course)


def returning(current: Enrollment, course: Course, now: str, access_end: AccessEnd | None = None) -> Enrollment:
    """A DROPPED enrollment enrolled again: a return, whoever asks, so the learner's data decides
    the status (the completion rule, `settle`), after staff's new access end when they give one. It
    takes a seat again (marked, in a course that counts them)."""
    changed = set_access_end(current, access_end.at, now) if access_end else current
    back = StatusRequest(EnrollmentStatus.ACTIVE, now, None)
    returned = settle(changed, LearnerCompletion(current.progress.percent), back)
    returned = returned.model_copy(update={"version": current.version + 1})
    return seat_marked(returned, seat_move(current, returned.status, course), course)


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

    def _seat_course(
        self, current: Enrollment, status: EnrollmentStatus | None, course: Course | None
    ) -> Course | None:
        """The course when the change takes or frees a seat (read now if not given), for `seat_move`."""
        if course is None and _seat_delta(current.status, status):
            return self._course(current.course_id)
        return course

    def _seat_refusal(self, course_id: str) -> DomainError:
        """Why the course's seat counter refused a seat, as the head is now (strongly consistent)."""
        course = self._course(course_id)
        if course.seats_being_counted:
            return SeatsBeingCountedError(course.capacity)
        if course.capacity is not None:
            return CourseFullError(course.capacity)
        return ConcurrencyError("The course's capacity changed concurrently; retry the request.")

    def enroll(
        self, identity: Identity, course_id: str, user_id: str | None, access_end: AccessEnd | None = None
    ) -> EnrollOutcome:
        """`access_end`: staff's `accessEndsAt` (a student's is 403); without it, the course's `accessDays`."""
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
            if access_end is not None:
                raise ForbiddenError("Only this course's instructors or an admin may set accessEndsAt.")
            require_window_open(course, now)  # staff enroll anyone at any time
        enrollment = new_enrollment(course, learner, identity.user_id, now, self._new_id(), access_end)

        def attempt() -> EnrollOutcome:
            try:
                self._enrollments.create(enrollment, outline_version=head.outline_version)
                return EnrollOutcome(enrollment=enrollment, created=True)
            except EnrollmentExistsError as exists:
                if exists.existing.status != EnrollmentStatus.DROPPED:
                    raise AlreadyEnrolledError(exists.existing.id, exists.existing.status.value) from exists
                # Enrolling again is a return, whoever asks: the data decides the status (and staff's
                # access end, when they give one, applies first).
                reactivated = self._transition(
                    exists.existing, EnrollmentStatus.ACTIVE, course, staff=None, access_end=access_end
                )
                return EnrollOutcome(enrollment=reactivated, created=False)
            except CourseUnavailableError as refused:
                raise self._seat_refusal(course_id) from refused

        try:
            return STALE_RETRY.call(attempt, on=(StaleEnrollmentError,))
        except StaleEnrollmentError:
            raise ConcurrencyError(_CHANGED) from None
        except ErasingError:
            raise ErasureInProgressError from None

    def _transition(
        self,
        current: Enrollment,
        status: EnrollmentStatus | None,
        course: Course | None,
        staff: str | None,
        access_end: AccessEnd | None = None,
    ) -> Enrollment:
        """`staff`: the staff member asking, None for the learner; `access_end`, staff's new access
        end, applied first (`set_access_end`). The completion rule (`settle`) sees the learner's
        progress as the summarizer last copied it to the enrollment. One write, `version` + 1."""
        now = self._now()
        changed = set_access_end(current, access_end.at, now) if access_end else current
        if status is not None and status != changed.status:
            changed = settle(changed, LearnerCompletion(current.progress.percent), StatusRequest(status, now, staff))
        if changed is current:
            return current
        course = self._seat_course(current, changed.status, course)
        seats = seat_move(current, changed.status, course)
        changed = seat_marked(changed.model_copy(update={"version": current.version + 1}), seats, course)
        try:
            self._enrollments.change_status(current, changed, seats, course.seat_epoch if course else None)
        except CourseUnavailableError as refused:
            raise self._seat_refusal(current.course_id) from refused
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
        self,
        identity: Identity,
        enrollment_id: str,
        status: EnrollmentStatus | None,
        if_match: int | None,
        access_end: AccessEnd | None = None,
    ) -> Enrollment:
        """A status, staff's access end (`access_end`; a learner's is 403), or both in one write."""

        def attempt() -> Enrollment:
            current, course = self._visible(identity, enrollment_id)
            if if_match is not None and if_match != current.version:
                raise VersionMismatchError(if_match, current.version)
            staff = identity.user_id if is_staff(identity, course) else None
            if staff is None:
                if access_end is not None:
                    raise ForbiddenError("Only this course's instructors or an admin may set accessEndsAt.")
                require_access_open(current, self._now())
            if status is not None:
                self._check_learner_transition(identity, current, status, course)
            if staff is None and status is not None and _seat_delta(current.status, status) > 0:
                # A learner's return: the head is the one the seat's move would read anyway.
                course = course or self._course(current.course_id)
                require_window_open(course, self._now())
            try:
                return self._transition(current, status, course, staff, access_end)
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
        """Owners may delete their enrollment, except a SUSPENDED one or one whose access has ended:
        deleting it would let them enroll afresh, and a suspension is staff's to lift. The delete is
        conditioned on the version read, so a suspension that lands meanwhile is seen on the retry."""

        def attempt() -> None:
            current, course = self._visible(identity, enrollment_id)
            if not is_staff(identity, course):
                if current.status == EnrollmentStatus.SUSPENDED:
                    raise ForbiddenError("A suspended enrollment can only be removed by the course's staff.")
                # Deleting it would let the learner enroll afresh, with a new access period.
                require_access_open(current, self._now())
            seat_course = self._seat_course(current, None, course)
            self._enrollments.delete(
                current,
                counted_by=seat_course.seat_epoch if seat_course and seat_move(current, None, seat_course) else None,
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
