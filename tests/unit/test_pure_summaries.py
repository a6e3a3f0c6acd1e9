"""The summary rules as pure functions: an outline's lesson bitmaps, applying records to a learner's
progress, `summarize`, what a summary means for the enrollment and for the course aggregate."""

from lms.models.catalog import Course, Lesson, Module
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.models.progress import LastAccessed, Progress, ProgressStatus
from lms.models.summaries import Contribution
from lms.services.summaries.rules import (
    LearnerProgress,
    Outline,
    contribution,
    enrollment_change,
    summarize,
)

AT = "2030-01-01T00:00:00.000Z"
# Module m1: a (required), b (optional), c (required); module m2: d (required); module m3: empty.
COURSE = Course(
    id="c1",
    title="Course",
    instructor_ids=[],
    lesson_count=4,
    required_lesson_count=3,
    modules=[
        Module(
            id="m1",
            title="One",
            position=1,
            lessons=[
                Lesson(id="a", title="A", position=1, required=True),
                Lesson(id="b", title="B", position=2, required=False),
                Lesson(id="c", title="C", position=3, required=True),
            ],
        ),
        Module(id="m2", title="Two", position=2, lessons=[Lesson(id="d", title="D", position=1, required=True)]),
        Module(id="m3", title="Three", position=3),
    ],
    created_at=AT,
    updated_at=AT,
)
OUTLINE = Outline(COURSE, 1)


def record(lesson_id: str, *, completed_at: str | None = None, viewed_at: str = AT) -> Progress:
    return Progress(
        id=f"p-{lesson_id}",
        user_id="u1",
        course_id="c1",
        module_id="m1",
        lesson_id=lesson_id,
        status=ProgressStatus.COMPLETED if completed_at else ProgressStatus.IN_PROGRESS,
        view_count=1,
        time_spent_seconds=0,
        last_viewed_at=viewed_at,
        completed_at=completed_at,
        updated_at=completed_at or viewed_at,
    )


def enrollment(status: EnrollmentStatus = EnrollmentStatus.ACTIVE) -> Enrollment:
    return Enrollment(
        id="e1", user_id="u1", course_id="c1", status=status, enrolled_at=AT, updated_at=AT, enrolled_by="u1", version=3
    )


def test_an_outline_bitmap_names_the_same_lessons_back() -> None:
    """Given the outline, when a set of lessons is written as a bitmap and read back, then the same
    lessons come back, in any outline position."""
    assert OUTLINE.lessons_in(OUTLINE.bitmap({"a", "d"})) == {"a", "d"}
    assert OUTLINE.lessons_in(OUTLINE.bitmap(set())) == set()


def test_records_apply_as_their_current_state() -> None:
    """Given a learner who completed a and c, when c's record comes back IN_PROGRESS and a record of
    a lesson no longer in the outline arrives, then c is no longer completed, the unknown lesson
    counts for nothing, and the last access and applied-through time are the newest seen."""
    progress = LearnerProgress().apply(OUTLINE, [record("a", completed_at=AT), record("c", completed_at=AT)])

    progress.apply(OUTLINE, [record("c", viewed_at="2030-01-02T00:00:00.000Z"), record("gone", viewed_at="2030-01-03")])

    assert (progress.completed, progress.viewed) == ({"a"}, {"a", "c"})
    assert progress.last_accessed == LastAccessed(lesson_id="c", at="2030-01-02T00:00:00.000Z")
    assert progress.applied_through == "2030-01-03"


def test_progress_kept_as_marks_reads_back_the_same() -> None:
    """Given a learner's progress, when it is stored as marks and read back, then the same lessons
    are completed and viewed, with the same latest completion."""
    progress = LearnerProgress().apply(OUTLINE, [record("a", completed_at=AT), record("b")])
    summary = summarize("u1", OUTLINE, progress, None)

    again = LearnerProgress.from_marks(OUTLINE, progress.marks(OUTLINE), summary)

    assert (again.completed, again.viewed, again.latest_completion) == ({"a"}, {"a", "b"}, AT)


def test_summarize_counts_required_lessons_per_module_and_points_to_the_next_one() -> None:
    """Given a learner who completed a and the optional b, when summarized, then one of three required
    lessons is done (33 %), module m1 is half done, m3 (no lessons) is 0 of 0, and the next lesson is
    c, the first required one not completed, in outline order."""
    progress = LearnerProgress().apply(OUTLINE, [record("a", completed_at=AT), record("b", completed_at=AT)])

    summary = summarize("u1", OUTLINE, progress, None)

    assert (summary.percent, summary.completed_lessons, summary.required_lessons) == (33, 1, 3)
    assert [(m.module_id, m.completed_lessons, m.required_lessons, m.percent) for m in summary.modules] == [
        ("m1", 1, 2, 50),
        ("m2", 0, 1, 0),
        ("m3", 0, 0, 0),
    ]
    assert (summary.next_lesson_id, summary.viewed_lessons, summary.completed_at) == ("c", 2, None)


def test_completion_is_dated_by_the_last_required_lesson_and_sticks() -> None:
    """Given a learner who completed every required lesson, the last on day 3, when summarized, then
    the course is complete on day 3; when a lesson is later reopened, then it is still complete on
    day 3 (completion is sticky)."""
    done = [record("a", completed_at="day 1"), record("c", completed_at="day 3"), record("d", completed_at="day 2")]
    complete = summarize("u1", OUTLINE, LearnerProgress().apply(OUTLINE, done), None)

    reopened = summarize("u1", OUTLINE, LearnerProgress().apply(OUTLINE, done[:2]), complete)

    assert (complete.percent, complete.completed_at, complete.next_lesson_id) == (100, "day 3", None)
    assert (reopened.percent, reopened.completed_at, reopened.next_lesson_id) == (66, "day 3", "d")


def test_the_enrollment_completes_only_once_and_only_when_active() -> None:
    """Given a complete summary, when applied to an ACTIVE enrollment, then it completes it at the
    summary's date; to a SUSPENDED one, then only its progress changes; without an enrollment, then
    nothing is written."""
    done = [record(lesson, completed_at=AT) for lesson in ("a", "c", "d")]
    progress = LearnerProgress().apply(OUTLINE, done)
    summary = summarize("u1", OUTLINE, progress, None)

    active = enrollment_change(enrollment(), summary, progress)
    suspended = enrollment_change(enrollment(EnrollmentStatus.SUSPENDED), summary, progress)

    assert active is not None
    assert active.completed is not None
    assert suspended is not None
    assert (active.completed.completed_at, active.completed.completed_by) == (AT, "u1")
    assert (active.progress.percent, active.progress.completed_lessons) == (100, 3)
    assert (suspended.completed, suspended.progress.percent) == (None, 100)
    assert enrollment_change(None, summary, progress) is None


def test_a_learner_contributes_by_the_status_the_write_leaves() -> None:
    """Given an enrollment this write completes, when its contribution is taken, then it counts as
    enrolled and completed (not active) with its percent; without an enrollment, then nothing."""
    done = [record(lesson, completed_at=AT) for lesson in ("a", "c", "d")]
    progress = LearnerProgress().apply(OUTLINE, done)
    change = enrollment_change(enrollment(), summarize("u1", OUTLINE, progress, None), progress)

    assert contribution(change) == Contribution(enrolled=1, active=0, completed=1, percent=100)
    assert contribution(None).is_zero


def test_contributions_add_and_subtract_to_the_aggregate_difference() -> None:
    """Given what a learner counted before and counts now, when the difference is taken, then it is
    what the aggregate must move by, and no change at all is zero."""
    before = Contribution(enrolled=1, active=1, completed=0, percent=40)
    now = Contribution(enrolled=1, active=0, completed=1, percent=100)

    assert now.minus(before) == Contribution(enrolled=0, active=-1, completed=1, percent=60)
    assert before.plus(now.minus(before)) == now
    assert now.minus(now).is_zero


def test_the_enrollment_a_summary_records_is_stored_compactly_and_read_back_as_it_was() -> None:
    """The enrollment is stored with the summary as one string, the learner's own id left out where it
    is the author; it reads back equal, and builds the enrollment with the summary's progress."""
    from lms.models.enrollments import EnrollmentProgress
    from lms.models.summaries import SeenEnrollment
    from lms.repositories.summaries import _pack_enrollment, _unpack_enrollment

    own = SeenEnrollment("e1", 3, EnrollmentStatus.COMPLETED, AT, "u1", AT, AT, "u1", None, 2)
    marked = SeenEnrollment("e1", 4, EnrollmentStatus.ACTIVE, AT, "admin", AT, AT, "inst", AT, 2)
    fresh = SeenEnrollment("e2", 1, EnrollmentStatus.ACTIVE, AT, "u1", AT)

    assert _pack_enrollment(own, "u1") == f'["e1",3,"COMPLETED","{AT}","{AT}",2,"","{AT}",""]'
    assert _pack_enrollment(None, "u1") == "[]"
    odd = SeenEnrollment("e3", 2, EnrollmentStatus.DROPPED, AT, 'a "quoted", spaced id', AT, reopened_at=AT)
    for seen in (own, marked, fresh, odd):
        assert _unpack_enrollment(_pack_enrollment(seen, "u1"), "u1") == seen
    assert _unpack_enrollment("[]", "u1") is None
    progress = EnrollmentProgress(percent=50, completed_lessons=1, required_lessons=2)
    enrollment = marked.enrollment("u1", "c1", progress)
    assert SeenEnrollment.of(enrollment, 2) == marked
    assert (enrollment.completed_by, enrollment.enrolled_by, enrollment.progress) == ("inst", "admin", progress)
