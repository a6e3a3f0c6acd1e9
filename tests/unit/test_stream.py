"""The stream summarizer on the events in events/: INSERT, MODIFY, REMOVE and catalog changes."""

import copy
from typing import Any

import pytest

from lms import keys
from lms.models.catalog import Lesson
from lms.stream import TableStreamRecord
from tests.conftest import SEED, SeededCourse, StreamHarness, load_event

COURSE = SEED["course"]
LEARNER = SEED["learner"]


def records(name: str) -> list[dict[str, Any]]:
    return load_event(f"summarize_progress_{name}.json")["Records"]


def summary_of(seeded: SeededCourse, user_id: str = LEARNER) -> dict[str, Any]:
    stored = seeded.summaries.get(user_id, COURSE)
    assert stored is not None, f"no summary for {user_id}"
    return stored.summary.model_dump(by_alias=True)


def aggregate_of(seeded: SeededCourse) -> dict[str, Any]:
    return seeded.summaries.get_aggregate(COURSE).model_dump(by_alias=True)


@pytest.fixture
def learner_halfway(seeded: SeededCourse, stream: StreamHarness) -> SeededCourse:
    """Given an enrolled learner who completed the first of two required lessons."""
    seeded.enroll()
    seeded.complete(SEED["lesson_1"], SEED["module_1"], SEED["progress_1"], SEED["at"])
    stream.pending()  # the test delivers the recorded events itself
    return seeded


def test_insert_records_build_the_learner_summary_and_the_aggregate(
    learner_halfway: SeededCourse, stream: StreamHarness
) -> None:
    """When the enrollment and a completion arrive, the summary, enrollment progress and aggregate follow."""
    assert stream.deliver(records("insert")) == {"batchItemFailures": []}

    summary = summary_of(learner_halfway)
    assert summary["percent"] == 50
    assert (summary["completedLessons"], summary["requiredLessons"], summary["viewedLessons"]) == (1, 2, 1)
    assert [(m["moduleId"], m["percent"]) for m in summary["modules"]] == [
        (SEED["module_1"], 100),
        (SEED["module_2"], 0),
    ]
    assert summary["nextLessonId"] == SEED["lesson_2"]
    assert summary["lastAccessed"] == {"lessonId": SEED["lesson_1"], "at": SEED["at"]}
    assert summary["completedAt"] is None
    enrollment = learner_halfway.enrollments.get(LEARNER, COURSE)
    assert enrollment is not None
    assert enrollment.progress.model_dump(by_alias=True) == {
        "percent": 50,
        "completedLessons": 1,
        "requiredLessons": 2,
    }
    aggregate = aggregate_of(learner_halfway)
    assert (aggregate["enrolled"], aggregate["active"], aggregate["completed"]) == (1, 1, 0)
    assert aggregate["averagePercent"] == 50


def test_the_same_batch_delivered_twice_changes_nothing(learner_halfway: SeededCourse, stream: StreamHarness) -> None:
    batch = records("insert")
    stream.deliver(batch)
    first = (summary_of(learner_halfway), aggregate_of(learner_halfway))

    assert stream.deliver(copy.deepcopy(batch)) == {"batchItemFailures": []}

    assert (summary_of(learner_halfway), aggregate_of(learner_halfway)) == first


def test_completing_the_last_required_lesson_completes_the_enrollment_once(
    learner_halfway: SeededCourse, stream: StreamHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    stream.deliver(records("insert"))
    finished_at = "2026-11-26T10:20:00.000Z"
    learner_halfway.complete(SEED["lesson_2"], SEED["module_2"], SEED["progress_2"], finished_at)
    capsys.readouterr()

    assert stream.deliver(records("modify")) == {"batchItemFailures": []}

    enrollment = learner_halfway.enrollments.get(LEARNER, COURSE)
    assert enrollment is not None
    assert (enrollment.status, enrollment.completed_at, enrollment.version) == ("COMPLETED", finished_at, 2)
    assert summary_of(learner_halfway)["completedAt"] == finished_at
    assert summary_of(learner_halfway)["nextLessonId"] is None
    aggregate = aggregate_of(learner_halfway)
    assert (aggregate["enrolled"], aggregate["active"], aggregate["completed"]) == (1, 0, 1)
    emitted = capsys.readouterr().out
    assert '"LessonCompleted":[1.0]' in emitted
    assert '"CourseCompleted":[1.0]' in emitted


def test_removing_the_enrollment_keeps_the_summary_and_leaves_the_aggregate(
    learner_halfway: SeededCourse, stream: StreamHarness
) -> None:
    stream.deliver(records("insert"))
    enrollment = learner_halfway.enrollments.get(LEARNER, COURSE)
    assert enrollment is not None
    learner_halfway.enrollments.delete(enrollment)
    stream.pending()

    assert stream.deliver(records("remove")) == {"batchItemFailures": []}

    assert summary_of(learner_halfway)["percent"] == 50
    aggregate = aggregate_of(learner_halfway)
    assert (aggregate["enrolled"], aggregate["active"], aggregate["averagePercent"]) == (0, 0, 0)


def test_a_poison_record_fails_alone_while_the_others_are_applied(
    learner_halfway: SeededCourse, stream: StreamHarness
) -> None:
    batch = records("insert")
    poison = copy.deepcopy(batch[1])
    del poison["dynamodb"]["NewImage"]["courseId"]
    poison["dynamodb"]["SequenceNumber"] = "000000000000000000150"

    response = stream.deliver([batch[0], poison, batch[1]])

    assert response == {"batchItemFailures": [{"itemIdentifier": "000000000000000000150"}]}
    assert summary_of(learner_halfway)["percent"] == 50


def test_records_for_one_learner_are_coalesced_into_one_recompute(
    learner_halfway: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler_module = stream.module
    calls: list[tuple[str, str]] = []
    original = handler_module.summaries.recompute_learner

    def counting(user_id: str, course_id: str, cause: str) -> Any:
        calls.append((user_id, course_id))
        return original(user_id, course_id, cause)

    monkeypatch.setattr(handler_module.summaries, "recompute_learner", counting)
    batch = records("insert") * 3

    assert stream.deliver(batch) == {"batchItemFailures": []}

    assert calls == [(LEARNER, COURSE)]


def recompute_job(dynamodb: Any) -> dict[str, Any] | None:
    key = {name: {"S": value} for name, value in keys.course_recompute(COURSE).items()}
    item: dict[str, Any] | None = dynamodb.get_item(TableName="lms-dev", Key=key).get("Item")
    return item


def test_a_lesson_added_recomputes_every_learner_a_page_at_a_time(
    seeded: SeededCourse, stream: StreamHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 5 learners and pages of 2, with no time left after each page, the work continues
    through the table's stream until every learner is recomputed."""
    monkeypatch.setattr("lms.services.summaries.LEARNERS_PER_PAGE", 2)
    learners = [f"learner-{n}" for n in range(5)]
    for n, learner in enumerate(learners):
        seeded.enroll(learner, f"01jd00000000000000000001{n:02d}")
    stream.drain()
    seeded.courses.append_lesson(
        COURSE,
        SEED["module_2"],
        Lesson(id="01jd0000000000000000000009", title="DynamoDB Streams", position=0, required=True),
        "2026-11-26T11:00:00.000Z",
    )
    stream.pending()

    assert stream.deliver(records("lesson_added")) == {"batchItemFailures": []}
    recomputed = [u for u in learners if summary_of(seeded, u)["requiredLessons"] == 3]
    assert len(recomputed) == 2
    continuation = recompute_job(dynamodb)
    assert continuation is not None
    assert "cursor" in continuation

    stream.drain()

    assert all(summary_of(seeded, u)["requiredLessons"] == 3 for u in learners)
    assert recompute_job(dynamodb) is None


@pytest.mark.parametrize("name", ["insert", "modify", "remove", "lesson_added"])
def test_every_stream_event_parses_with_the_summarizer_record_model(name: str) -> None:
    parsed = [TableStreamRecord.model_validate(record) for record in records(name)]
    assert all((r.dynamodb.NewImage or r.dynamodb.OldImage) is not None for r in parsed)
    assert all(r.dynamodb.StreamViewType == "NEW_AND_OLD_IMAGES" for r in parsed)
