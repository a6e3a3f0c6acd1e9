"""The progress rules as pure functions: `record_activity` and `apply_update`, no table, no clock."""

import pytest

from lms.errors import ForbiddenError
from lms.models.catalog import LessonRef
from lms.models.progress import Progress, ProgressRecord, ProgressStatus, ProgressUpdate
from lms.services.progress import apply_update, record_activity

LESSON = LessonRef(lesson_id="l1", course_id="c1", module_id="m1", required=True)
FIRST, LATER, LAST = "2030-01-01T00:00:00.000Z", "2030-01-01T00:01:00.000Z", "2030-01-01T00:02:00.000Z"


def activity(action: str = "view", **fields: object) -> ProgressRecord:
    return ProgressRecord.model_validate({"lessonId": "l1", "action": action, **fields})


def viewed_once() -> Progress:
    return record_activity(None, LESSON, "u1", activity(timeSpentSeconds=30, position=5), FIRST, "p1")


def test_a_first_view_makes_a_record_in_progress_with_the_id_given() -> None:
    """Given no record, when the learner views the lesson, then a record with the given id and the
    lesson's place exists, IN_PROGRESS, with one view, the time spent, the position, and `now` as
    first and last view."""
    record = viewed_once()

    assert (record.id, record.user_id, record.course_id, record.module_id) == ("p1", "u1", "c1", "m1")
    assert (record.status, record.view_count, record.time_spent_seconds, record.position) == (
        ProgressStatus.IN_PROGRESS,
        1,
        30,
        5,
    )
    assert record.first_viewed_at == record.last_viewed_at == record.updated_at == FIRST
    assert record.completed_at is None


def test_a_later_view_adds_up_and_keeps_the_first_view_and_the_id() -> None:
    """Given a record, when the learner views again without a position, then views and time add up,
    the position and first view stay, the last view moves, and the new id offered is not taken."""
    record = record_activity(viewed_once(), LESSON, "u1", activity(timeSpentSeconds=10), LATER, "unused")

    assert (record.id, record.view_count, record.time_spent_seconds, record.position) == ("p1", 2, 40, 5)
    assert (record.first_viewed_at, record.last_viewed_at) == (FIRST, LATER)


def test_a_completion_is_a_view_and_is_dated_once() -> None:
    """Given a record, when the learner completes the lesson twice, then it is COMPLETED from the
    first completion on, both count as views, and completedAt keeps the first one's time."""
    completed = record_activity(viewed_once(), LESSON, "u1", activity("complete"), LATER, "unused")
    again = record_activity(completed, LESSON, "u1", activity("complete"), LAST, "unused")

    assert (completed.status, completed.completed_at, completed.view_count) == (ProgressStatus.COMPLETED, LATER, 2)
    assert (again.status, again.completed_at, again.view_count, again.last_viewed_at) == (
        ProgressStatus.COMPLETED,
        LATER,
        3,
        LAST,
    )


def test_an_update_that_changes_nothing_returns_the_record_itself() -> None:
    """Given a record, when an update sets what it already holds, then the same object comes back
    (the service then writes nothing) and updatedAt does not move."""
    current = viewed_once()

    unchanged = apply_update(current, ProgressUpdate.model_validate({"position": 5}), False, LATER)

    assert unchanged is current


def test_an_update_replaces_the_total_time_and_a_learner_may_complete() -> None:
    """Given an IN_PROGRESS record, when the learner sets the time and completes it, then the time
    is replaced (not added), it is COMPLETED at `now`, and updatedAt is `now`."""
    update = ProgressUpdate.model_validate({"timeSpentSeconds": 7, "status": "COMPLETED"})

    changed = apply_update(viewed_once(), update, False, LATER)

    assert (changed.time_spent_seconds, changed.status) == (7, ProgressStatus.COMPLETED)
    assert changed.completed_at == changed.updated_at == LATER


def test_only_staff_reopen_a_completed_lesson() -> None:
    """Given a COMPLETED record, when a learner reopens it, then ForbiddenError; when staff do, then
    it is IN_PROGRESS again and its completion date is cleared."""
    completed = record_activity(viewed_once(), LESSON, "u1", activity("complete"), LATER, "unused")
    reopen = ProgressUpdate.model_validate({"status": "IN_PROGRESS"})

    with pytest.raises(ForbiddenError):
        apply_update(completed, reopen, False, LAST)
    reopened = apply_update(completed, reopen, True, LAST)

    assert (reopened.status, reopened.completed_at, reopened.updated_at) == (ProgressStatus.IN_PROGRESS, None, LAST)
