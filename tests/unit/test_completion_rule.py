"""The completion rule (`lms.models.enrollments.settle`) as a pure function, on every path that
changes an enrollment's status: the summarizer (the learner's records changed), a learner's return
from DROPPED (PATCH or POST), staff setting a status, and a new enrollment after a delete."""

from lms.models.enrollments import (
    Enrollment,
    EnrollmentProgress,
    EnrollmentStatus,
    LearnerCompletion,
    StatusRequest,
    settle,
)

ACTIVE, COMPLETED, DROPPED = EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED, EnrollmentStatus.DROPPED
DAY1, DAY2, DAY3, DAY4 = (f"2030-01-0{day}T00:00:00.000Z" for day in (1, 2, 3, 4))
ALL_DONE = LearnerCompletion(100, latest=DAY1, first=DAY1)


def enrollment(status: EnrollmentStatus = ACTIVE, percent: int = 0, **fields: str | None) -> Enrollment:
    return Enrollment(
        id="e1",
        user_id="learner",
        course_id="c1",
        status=status,
        enrolled_at=DAY1,
        updated_at=DAY1,
        enrolled_by="learner",
        version=3,
        progress=EnrollmentProgress(percent=percent, completed_lessons=percent // 50, required_lessons=2),
        **fields,
    )


def learner_sets(current: Enrollment, status: EnrollmentStatus, at: str = DAY3) -> Enrollment:
    return settle(current, LearnerCompletion(current.progress.percent), StatusRequest(status, at))


def staff_sets(current: Enrollment, status: EnrollmentStatus, at: str = DAY2) -> Enrollment:
    return settle(current, LearnerCompletion(current.progress.percent), StatusRequest(status, at, staff="teacher"))


# ----------------------------------------------------------------------------------- summarizer
def test_all_required_lessons_complete_an_active_enrollment_as_the_learners_own() -> None:
    """GIVEN an ACTIVE enrollment, WHEN the learner's records reach 100 %, THEN it is COMPLETED by
    the learner at the completion's date, with a new version."""
    done = settle(enrollment(), ALL_DONE)

    assert (done.status, done.completed_at, done.completed_by, done.updated_at) == (COMPLETED, DAY1, "learner", DAY1)
    assert done.version == 4


def test_below_100_or_not_learning_nothing_changes() -> None:
    """GIVEN an ACTIVE one at 99 %, or a DROPPED or SUSPENDED one at 100 %, WHEN settled, THEN it is
    returned as is."""
    active = enrollment()
    assert settle(active, LearnerCompletion(99, latest=DAY1)) is active
    for status in (DROPPED, EnrollmentStatus.SUSPENDED):
        current = enrollment(status)
        assert settle(current, ALL_DONE) is current


def test_the_learners_own_completion_is_settled_once() -> None:
    """GIVEN an enrollment the learner completed, WHEN their records change again at 100 %, THEN
    nothing changes (the stream may repeat itself)."""
    done = settle(enrollment(), ALL_DONE)

    assert settle(done, LearnerCompletion(100, latest=DAY2, first=DAY1)) is done


def test_a_learners_completion_after_a_staff_marking_is_theirs_and_keeps_the_first_date() -> None:
    """GIVEN staff marked it COMPLETED on day 2 at 0 %, WHEN the learner's lessons all complete on
    day 3, THEN it becomes the learner's completion (dated day 3), completedAt still day 2."""
    marked = staff_sets(enrollment(), COMPLETED)
    assert (marked.completed_by, marked.completed_at) == ("teacher", DAY2)

    theirs = settle(marked, LearnerCompletion(100, latest=DAY3, first=DAY3))

    assert (theirs.status, theirs.completed_by, theirs.completed_at, theirs.updated_at) == (
        COMPLETED,
        "learner",
        DAY2,
        DAY3,
    )


def test_a_staff_marking_after_a_reopening_does_not_credit_the_learners_old_completion_again() -> None:
    """GIVEN the learner completed on day 1, staff reopened on day 2 and marked it COMPLETED on day 3,
    WHEN the records still say 100 % with nothing completed since, THEN it stays the staff's marking;
    WHEN a required lesson is completed on day 4, THEN it is the learner's again."""
    marked = staff_sets(staff_sets(settle(enrollment(), ALL_DONE), ACTIVE), COMPLETED, at=DAY3)
    assert (marked.completed_by, marked.reopened_at) == ("teacher", None)

    assert settle(marked, ALL_DONE) is marked
    assert settle(marked, LearnerCompletion(100, latest=DAY4, first=DAY1)).completed_by == "learner"


def test_a_learners_return_to_a_staff_marking_gives_it_back_as_the_staffs() -> None:
    """GIVEN staff marked it COMPLETED at 100 % (nothing completed since) and the learner dropped, WHEN
    they come back, THEN it is COMPLETED, still the staff's marking."""
    marked = staff_sets(enrollment(percent=100), COMPLETED)

    back = learner_sets(learner_sets(marked, DROPPED, at=DAY3), ACTIVE, at=DAY4)

    assert (back.status, back.completed_by) == (COMPLETED, "teacher")


# ----------------------------------------------------------------------------------------- staff
def test_staff_reopening_holds_until_the_learners_next_completion() -> None:
    """GIVEN the learner completed on day 1 and staff set ACTIVE on day 2, WHEN the records say 100 %
    with no completion since, THEN it stays ACTIVE; WHEN a required lesson is completed on day 3,
    THEN it completes again, completedAt still day 1, and the reopening is cleared."""
    reopened = staff_sets(settle(enrollment(), ALL_DONE).model_copy(update={"progress": EnrollmentProgress()}), ACTIVE)
    assert (reopened.status, reopened.reopened_at, reopened.completed_at) == (ACTIVE, DAY2, DAY1)

    assert settle(reopened, ALL_DONE) is reopened
    again = settle(reopened, LearnerCompletion(100, latest=DAY3, first=DAY1))

    assert (again.status, again.completed_at, again.updated_at, again.reopened_at) == (COMPLETED, DAY1, DAY3, None)


def test_staff_marking_then_reopening_at_0_then_the_learner_completing_completes_it() -> None:
    """GIVEN staff set COMPLETED then ACTIVE at 0 % (defect 2b), WHEN the learner completes every
    required lesson afterwards, THEN it is COMPLETED by the learner."""
    reopened = staff_sets(staff_sets(enrollment(), COMPLETED), ACTIVE, at=DAY3)

    done = settle(reopened, LearnerCompletion(100, latest=DAY4, first=DAY4))

    assert (done.status, done.completed_by, done.completed_at) == (COMPLETED, "learner", DAY2)


def test_staff_setting_active_on_what_never_completed_reopens_nothing() -> None:
    """GIVEN a DROPPED enrollment at 50 % never completed, WHEN staff set ACTIVE, THEN no reopening
    is recorded, and the learner's completion later completes it."""
    active = staff_sets(enrollment(DROPPED, percent=50), ACTIVE)

    assert (active.status, active.reopened_at) == (ACTIVE, None)
    assert settle(active, ALL_DONE).status == COMPLETED


def test_staff_may_set_any_status_and_the_same_status_changes_nothing() -> None:
    current = enrollment()
    assert staff_sets(current, ACTIVE) is current
    suspended = staff_sets(current, EnrollmentStatus.SUSPENDED)
    assert (suspended.status, suspended.version, suspended.updated_at) == (EnrollmentStatus.SUSPENDED, 4, DAY2)


# -------------------------------------------------------------------------- the learner's return
def test_a_learners_return_gives_back_a_completion_that_stands() -> None:
    """GIVEN the learner completed, then dropped (defect 2a), WHEN they come back (ACTIVE), THEN it
    is COMPLETED again, as it was: same completedAt and completedBy."""
    dropped = learner_sets(settle(enrollment(percent=100), ALL_DONE), DROPPED, at=DAY2)

    back = learner_sets(dropped, ACTIVE)

    assert (back.status, back.completed_at, back.completed_by, back.updated_at) == (COMPLETED, DAY1, "learner", DAY3)


def test_completion_stays_sticky_across_a_return_after_lessons_were_added() -> None:
    """GIVEN the learner completed, a lesson was added (50 %), and they dropped, WHEN they come back,
    THEN it is COMPLETED (completion is sticky)."""
    done = settle(enrollment(), ALL_DONE).model_copy(update={"progress": EnrollmentProgress(percent=50)})

    assert learner_sets(learner_sets(done, DROPPED), ACTIVE).status == COMPLETED


def test_a_return_at_100_percent_never_completed_completes_it_as_the_learners() -> None:
    """GIVEN a DROPPED enrollment at 100 % never completed, WHEN the learner comes back on day 3,
    THEN it is their completion, dated day 3."""
    back = learner_sets(enrollment(DROPPED, percent=100), ACTIVE)

    assert (back.status, back.completed_by, back.completed_at) == (COMPLETED, "learner", DAY3)


def test_a_return_below_100_or_after_a_reopening_is_active() -> None:
    """GIVEN a DROPPED enrollment at 50 %, or one staff reopened (then the learner dropped), WHEN the
    learner comes back, THEN it is ACTIVE."""
    assert learner_sets(enrollment(DROPPED, percent=50), ACTIVE).status == ACTIVE
    reopened = staff_sets(settle(enrollment(percent=100), ALL_DONE), ACTIVE)

    assert learner_sets(learner_sets(reopened, DROPPED), ACTIVE).status == ACTIVE


# ----------------------------------------------------------------------- re-enrolling after delete
def test_a_new_enrollment_of_a_learner_whose_lessons_are_all_complete_completes_at_the_first_date() -> None:
    """GIVEN a new enrollment (after a delete) of a learner whose kept records are all complete since
    day 1, WHEN the summarizer settles it, THEN it is COMPLETED by the learner, completedAt day 1."""
    new = enrollment(status=ACTIVE).model_copy(update={"id": "e2", "enrolled_at": DAY3, "updated_at": DAY3})

    done = settle(new, ALL_DONE)

    assert (done.status, done.completed_at, done.completed_by) == (COMPLETED, DAY1, "learner")
