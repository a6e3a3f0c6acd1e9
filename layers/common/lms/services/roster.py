"""Roster enrollment: a course's staff enroll up to 100 learners in one request, each exactly as
`POST /enrollments` would (the same item, `enrolledBy` the caller, a return from DROPPED by the
same completion rule), with one refusal never stopping the others.

It is batched: the course head (GetItem), every learner's enrollment (one BatchGetItem), then the
writes in transactions of up to 100 actions, each taking its learners' seats in one update of a
capped course's seat counter. A transaction short of seats is cut to the room the counter shows;
only one that failed another condition (a learner enrolled or changed meanwhile) is done again
learner by learner, each then exactly like a single enrollment (docs/architecture.md, "Roster
enrollment")."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.errors import (
    AlreadyEnrolledError,
    ConcurrencyError,
    CourseFullError,
    DomainError,
    ErasureInProgressError,
    NotFoundError,
    SeatsBeingCountedError,
)
from lms.identity import Identity
from lms.models.catalog import Course
from lms.models.enrollments import AccessEnd, Enrollment, EnrollmentStatus
from lms.models.roster import EnrollmentWrite, LearnerResult, RosterLearner, RosterOutcome
from lms.repositories.courses import CourseRepository, VersionedCourse
from lms.repositories.enrollments import EnrollmentRepository, EnrollmentsNotWrittenError
from lms.retry import Retry
from lms.services.access import require_course_manager
from lms.services.enrollments import new_enrollment, returning

# A transaction holds at most 100 actions: a new enrollment is three (the item, its id reference and
# the check that no erasure of the learner is under way), a return from DROPPED one, and a capped
# course's seat counter one per transaction.
MAX_ACTIONS = 100
# A transaction another one held an item of (TransactionConflict: a single enrollment moving the
# same seat counter, say) is sent again as it is, after 10-20 ms; tries start within 1 s.
CONFLICT_RETRY = Retry(attempts=3, base=0.01, cap=0.05, budget=1.0)
# A learner done alone: as a single enrollment (STALE_RETRY's policy), with a try more, since a
# roster's learner may first meet what the failed transaction left out of date.
ALONE_RETRY = Retry(attempts=4, base=0.01, cap=0.05, budget=1.0)
# Statuses a roster leaves as they are: the learner is enrolled already (EXPIRED: staff move its
# access end to give it back).
_ENROLLED = frozenset({EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED, EnrollmentStatus.EXPIRED})
_CHANGED = "The learner's enrollment changed concurrently; enroll them again."


@dataclass(frozen=True, slots=True)
class _Plan:
    """A learner's place in the roster and what to do: `write` None when decided without one."""

    index: int
    learner: RosterLearner
    result: LearnerResult | None
    write: EnrollmentWrite | None = None


@dataclass(frozen=True, slots=True)
class _Maker:
    """New enrollments of this roster: its course, caller and time."""

    course: Course
    enrolled_by: str
    now: str
    ids: IdGenerator

    def new(self, learner: str, access_end: AccessEnd | None) -> Enrollment:
        return new_enrollment(self.course, learner, self.enrolled_by, self.now, self.ids(), access_end)


def decide(
    learner: RosterLearner, existing: Enrollment | None, make: _Maker
) -> tuple[LearnerResult | None, EnrollmentWrite | None]:
    """What enrolling this learner means, given their enrollment in the course as read: a new one
    (none yet), a return (DROPPED), nothing (ACTIVE, COMPLETED, EXPIRED), or a refusal (SUSPENDED: a
    suspension is lifted by a status change, never by enrolling again, as `POST /enrollments` says 409)."""
    # Staff's accessEndsAt when the item has the field (null: access never ends), as in POST /enrollments.
    access_end = AccessEnd(learner.access_ends_at) if "access_ends_at" in learner.model_fields_set else None
    if existing is None:
        return None, EnrollmentWrite(make.new(learner.user_id, access_end))
    if existing.status == EnrollmentStatus.DROPPED:
        return None, EnrollmentWrite(returning(existing, make.course, make.now, access_end), existing)
    if existing.status in _ENROLLED:
        return LearnerResult(learner.user_id, RosterOutcome.UNCHANGED, existing), None
    return LearnerResult(
        learner.user_id, RosterOutcome.REFUSED, error=AlreadyEnrolledError(existing.id, existing.status.value)
    ), None


def _refused(user_id: str, error: DomainError) -> LearnerResult:
    return LearnerResult(user_id, RosterOutcome.REFUSED, error=error)


def _erasing(user_id: str) -> LearnerResult:
    """Refused: the learner's data is being erased (every write for them is, until it is done)."""
    return _refused(user_id, ErasureInProgressError())


def _no_seat(user_id: str, course: Course) -> LearnerResult:
    """Refused by the seat counter: the course is full, or still counting the seats held."""
    if course.seats_being_counted:
        return _refused(user_id, SeatsBeingCountedError(course.capacity))
    return _refused(user_id, CourseFullError(course.capacity or 0))


def _written(write: EnrollmentWrite) -> LearnerResult:
    outcome = RosterOutcome.CREATED if write.current is None else RosterOutcome.REACTIVATED
    return LearnerResult(write.enrollment.user_id, outcome, write.enrollment)


def chunks(plans: Sequence[_Plan], capped: bool) -> list[list[_Plan]]:
    """The writes in request order, in transactions of at most MAX_ACTIONS actions."""
    room = MAX_ACTIONS - int(capped)
    batches: list[list[_Plan]] = []
    used = room
    for plan in plans:
        size = 3 if plan.write is not None and plan.write.current is None else 1  # new: item, reference, guard
        if used + size > room:
            batches.append([])
            used = 0
        batches[-1].append(plan)
        used += size
    return batches


class RosterService:
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

    def enroll(self, identity: Identity, course_id: str, learners: Sequence[RosterLearner]) -> list[LearnerResult]:
        """Each learner's outcome, in the order given (user ids are unique: the request model says so)."""
        # As POST /enrollments reads it: eventually consistent, again strongly when nothing is found.
        head = self._courses.get_versioned_head(course_id, consistent=False) or self._courses.get_versioned_head(
            course_id
        )
        if head is None:
            raise NotFoundError("Course not found.")
        require_course_manager(identity, head.course)
        make = _Maker(head.course, identity.user_id, self._now(), self._new_id)
        existing = self._enrollments.get_many([learner.user_id for learner in learners], course_id)
        plans = []
        for index, learner in enumerate(learners):
            result, write = decide(learner, existing.get(learner.user_id), make)
            if write is not None and head.course.seats_being_counted:
                # No seat is taken until they are counted: each transaction would only fail.
                result, write = _refused(learner.user_id, SeatsBeingCountedError(head.course.capacity)), None
            plans.append(_Plan(index, learner, result, write))
        results = {plan.index: plan.result for plan in plans if plan.result is not None}
        capped = head.course.capacity is not None
        for batch in chunks([plan for plan in plans if plan.write is not None], capped):
            results |= self._write(batch, head, make)
        return [results[index] for index in range(len(learners))]

    def _write(
        self, batch: list[_Plan], head: VersionedCourse, make: _Maker, *, fit: bool = True
    ) -> dict[int, LearnerResult]:
        """One transaction for the batch, sent again while only another transaction is in its way.
        Refused for want of seats alone (`fit`): as many as the stored counter leaves room for, and
        the others refused. When it fails another condition: each learner alone, starting from what
        the failure showed."""
        writes = [plan.write for plan in batch if plan.write is not None]
        failure: EnrollmentsNotWrittenError | None = None
        capacity = head.course.capacity
        fits = capacity is None or len(writes) <= capacity
        if fits:
            for _ in CONFLICT_RETRY.tries():
                try:
                    self._enrollments.write_many(writes, head)
                    return {plan.index: _written(write) for plan, write in zip(batch, writes, strict=True)}
                except EnrollmentsNotWrittenError as error:
                    failure = error
                    if not error.conflicted:
                        break
        refused_alone = failure and (failure.found or failure.stale or failure.erasing)
        if fit and (not fits or (failure and failure.seats_refused and not refused_alone)):
            return self._fit(batch, head, make)
        found = failure.found if failure else {}
        stale = failure.stale if failure else set()
        results: dict[int, LearnerResult] = {}
        for position, plan in enumerate(batch):
            if failure and position in failure.erasing:
                results[plan.index] = _erasing(plan.learner.user_id)
                continue
            known = found.get(position)
            # What the failure showed: the enrollment in the way, or a changed one to read again.
            start = replace(plan, write=None) if position in stale else plan
            results[plan.index] = self._alone(start, known, head, make)
        return results

    def _fit(self, batch: list[_Plan], head: VersionedCourse, make: _Maker) -> dict[int, LearnerResult]:
        """The course had no room for the whole batch: its seats as stored now (one strongly
        consistent read) admit the first learners in one transaction, and the course is full for
        the others, refused without a write (a transaction each would only fail). A course whose
        counter changed meanwhile (a capacity cleared, or given again) refuses them all: 503."""
        now = self._courses.get_versioned_head(head.course.id)
        course = now.course if now else None
        if course is None or course.seat_epoch != head.course.seat_epoch or course.capacity is None:
            changed = ConcurrencyError("The course's capacity changed concurrently; retry the request.")
            return {plan.index: _refused(plan.learner.user_id, changed) for plan in batch}
        room = 0 if course.seats_being_counted else max(0, course.capacity - course.seats_taken)
        results = {plan.index: _no_seat(plan.learner.user_id, course) for plan in batch[room:]}
        if room:
            results |= self._write(batch[:room], replace(head, course=course), make, fit=False)
        return results

    def _alone(self, plan: _Plan, found: Enrollment | None, head: VersionedCourse, make: _Maker) -> LearnerResult:
        """One learner as a single enrollment would go: its own transaction, a seat under the
        capacity as stored; an enrollment in the way (or changed) decided again as it is now."""
        user_id, course_id = plan.learner.user_id, head.course.id
        write = plan.write
        result: LearnerResult | None = None
        if found is not None:
            result, write = decide(plan.learner, found, make)
        for _ in ALONE_RETRY.tries():
            if write is None and result is None:  # changed since read: read it again
                result, write = decide(plan.learner, self._enrollments.get(user_id, course_id), make)
            if write is None:
                assert result is not None
                return result
            try:
                self._enrollments.write_many([write], head)
                return _written(write)
            except EnrollmentsNotWrittenError as error:
                if error.erasing:
                    return _erasing(user_id)
                if error.seats_refused:
                    return _no_seat(user_id, head.course)
                if 0 in error.found:
                    result, write = decide(plan.learner, error.found[0], make)
                elif error.stale:
                    result, write = None, None
        return LearnerResult(user_id, RosterOutcome.REFUSED, error=ConcurrencyError(_CHANGED))
