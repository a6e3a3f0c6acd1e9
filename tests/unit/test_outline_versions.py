"""Outline versions (docs/architecture.md, "Outline versions"): the summarizer reads no course item on
a completion, yet no summary is computed against an outline older than one a learner's summary or
enrollment was made against, and an outline change reaches every learner.

Each `Environment` is one execution environment of the summarizer, with its own outline cache and a
clock the test moves."""

from typing import Any

import pytest

from lms.models.catalog import Lesson
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.repositories.courses import CourseRepository
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import SummaryRepository
from lms.services.summaries.reading import OUTLINE_REVALIDATE_S, Outlines
from lms.services.summaries.recompute import SummaryRecomputer
from tests.conftest import SEED, SeededCourse

COURSE, LEARNER = SEED["course"], SEED["learner"]
ADDED = Lesson(id="01jd0000000000000000000009", title="Added", position=0, required=True)


class Environment:
    def __init__(self, seeded: SeededCourse) -> None:
        self.now = 0.0
        self.head_reads = 0
        courses = CourseRepository(seeded.courses._table)
        original = courses.get_versioned_head

        def counted(course_id: str, *, consistent: bool = True) -> Any:
            self.head_reads += 1
            return original(course_id, consistent=consistent)

        courses.get_versioned_head = counted  # type: ignore[method-assign]
        table = seeded.courses._table
        self.summaries = SummaryRepository(table)
        self.recompute = SummaryRecomputer(
            Outlines(courses, clock=lambda: self.now), ProgressRepository(table), self.summaries
        )

    def run(self, *lessons: str, fresh: bool = False) -> None:
        """Recompute the learner, as for stream records of these lessons (read from the table)."""
        changed: dict[str, Any] = {LEARNER: dict.fromkeys(lessons)}
        outcome = self.recompute.recompute_learners(COURSE, changed, "test", fresh=fresh)[LEARNER]
        assert not isinstance(outcome, Exception), outcome


def required_lessons(seeded: SeededCourse) -> tuple[int, int]:
    """The learner's summary: required lessons, and the outline version it was computed against."""
    stored = seeded.summaries.get(LEARNER, COURSE)
    assert stored is not None
    assert stored.marks is not None
    return stored.summary.required_lessons, stored.marks.outline


def add_lesson(seeded: SeededCourse) -> None:
    seeded.courses.append_lesson(COURSE, SEED["module_2"], ADDED, "2026-11-26T11:00:00.000Z")


@pytest.fixture
def enrolled(seeded: SeededCourse) -> SeededCourse:
    seeded.enroll()
    return seeded


def test_completions_read_no_course_item_within_the_interval(enrolled: SeededCourse) -> None:
    """GIVEN an environment whose outline is cached, WHEN completions arrive within the interval,
    THEN the course head is not read; after the interval, once."""
    worker = Environment(enrolled)
    worker.run()
    reads = worker.head_reads
    enrolled.complete(SEED["lesson_1"], SEED["module_1"], SEED["progress_1"], SEED["at"])
    worker.run(SEED["lesson_1"])
    worker.run(SEED["lesson_1"])
    assert worker.head_reads == reads

    worker.now += OUTLINE_REVALIDATE_S
    worker.run()
    assert worker.head_reads == reads + 1


def test_a_stale_environment_reloads_instead_of_writing_over_a_newer_outlines_summary(enrolled: SeededCourse) -> None:
    """GIVEN two environments with the outline cached at version 1, WHEN a lesson is added and the
    fan-out (checked against the head) recomputes the learner, THEN the other environment, still
    within its interval, sees a summary made on version 2 and reloads: the summary keeps 3 lessons."""
    stale, fanout = Environment(enrolled), Environment(enrolled)
    stale.run()
    fanout.run()
    add_lesson(enrolled)

    fanout.run(fresh=True)
    assert required_lessons(enrolled) == (3, 2)
    enrolled.complete(SEED["lesson_1"], SEED["module_1"], SEED["progress_1"], SEED["at"])
    stale.run(SEED["lesson_1"])

    assert required_lessons(enrolled) == (3, 2)
    stored = enrolled.summaries.get(LEARNER, COURSE)
    assert stored is not None
    assert stored.summary.completed_lessons == 1


def test_a_fanout_landing_between_a_stale_read_and_its_write_wins(enrolled: SeededCourse) -> None:
    """GIVEN an environment that read the learner's version-1 summary, WHEN the fan-out writes the
    version-2 summary before it writes, THEN its write is refused (the summary's item version); its
    retry reads the newer summary, reloads, computes on version 2 and finds nothing left to write."""
    stale, fanout = Environment(enrolled), Environment(enrolled)
    stale.run()
    enrolled.complete(SEED["lesson_1"], SEED["module_1"], SEED["progress_1"], SEED["at"])
    add_lesson(enrolled)
    real_save = stale.summaries.save
    attempts: list[int] = []

    def fanout_first(course_id: str, writes: list[Any], now: str) -> None:
        attempts.append(writes[0].marks.outline)
        if len(attempts) == 1:
            fanout.run(fresh=True)
        real_save(course_id, writes, now)

    stale.summaries.save = fanout_first  # type: ignore[method-assign]
    stale.run(SEED["lesson_1"])

    assert attempts == [1]  # computed on the cached outline, refused; the fan-out's result stands
    assert required_lessons(enrolled) == (3, 2)
    stored = enrolled.summaries.get(LEARNER, COURSE)
    assert stored is not None
    assert stored.summary.completed_lessons == 1


def test_an_enrollment_made_after_an_outline_change_gets_a_summary_on_the_new_outline(
    seeded: SeededCourse,
) -> None:
    """GIVEN an environment with version 1 cached, WHEN a lesson is added and a learner then enrolls
    (the enrollment records version 2), THEN the learner's first summary is computed on version 2
    even within the interval (a fan-out enumerating the course's index may not see them yet)."""
    worker = Environment(seeded)
    seeded.enroll("learner-0", "01jd0000000000000000000100")
    worker.recompute.recompute_learners(COURSE, {"learner-0": {}}, "test")
    add_lesson(seeded)
    head = seeded.courses.get_versioned_head(COURSE)
    assert head is not None
    at = SEED["at"]
    seeded.enrollments.create(
        Enrollment(
            id=SEED["enrollment"],
            user_id=LEARNER,
            course_id=COURSE,
            status=EnrollmentStatus.ACTIVE,
            enrolled_at=at,
            updated_at=at,
            enrolled_by=LEARNER,
            version=1,
        ),
        outline_version=head.outline_version,
    )

    worker.run()

    assert required_lessons(seeded) == (3, 2)
