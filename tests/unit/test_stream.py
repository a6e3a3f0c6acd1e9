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
    learner_halfway.enrollments.delete(enrollment, counted_by=None)
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
    calls: list[tuple[str, list[str]]] = []
    recompute = handler_module.summarizer.recompute
    original = recompute.recompute_learners

    def counting(course_id: str, changed: dict[str, set[str]], cause: str, **options: Any) -> Any:
        calls.append((course_id, sorted(changed)))
        return original(course_id, changed, cause, **options)

    monkeypatch.setattr(recompute, "recompute_learners", counting)
    batch = records("insert") * 3

    assert stream.deliver(batch) == {"batchItemFailures": []}

    assert calls == [(COURSE, [LEARNER])]


def segment_items(dynamodb: Any, count: int) -> list[dict[str, Any] | None]:
    found = []
    for n in range(1, count + 1):
        key = {name: {"S": value} for name, value in keys.course_fanout_segment(COURSE, n).items()}
        found.append(dynamodb.get_item(TableName="lms-dev", Key=key).get("Item"))
    return found


def test_a_lesson_added_fans_out_in_segments_that_each_read_the_outline_once_per_container(
    seeded: SeededCourse, stream: StreamHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 5 learners and segments of 2, a lesson added makes the summarizer recompute the first
    segment and schedule the other two as items in their own partitions; their stream records
    bring every learner up to date, and the outline is read once, not once per learner."""
    monkeypatch.setattr("lms.services.summaries.fanout.LEARNERS_PER_SEGMENT", 2)
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
    outline_reads: list[str] = []
    courses = stream.module.summarizer.recompute._outlines._courses
    original = courses.get_versioned_outline
    monkeypatch.setattr(courses, "get_versioned_outline", lambda c: outline_reads.append(c) or original(c))

    assert stream.deliver(records("lesson_added")) == {"batchItemFailures": []}
    assert sum(summary_of(seeded, u)["requiredLessons"] == 3 for u in learners) == 2
    scheduled = segment_items(dynamodb, 2)
    first, second = scheduled
    assert first is not None
    assert second is not None
    # Each segment ends where the next starts; the last runs to the end of the course's learners.
    assert (first.get("until"), second.get("until")) == (second["cursor"], None)

    stream.drain()

    assert all(summary_of(seeded, u)["requiredLessons"] == 3 for u in learners)
    assert segment_items(dynamodb, 2) == [None, None]
    assert outline_reads == [COURSE]
    assert aggregate_of(seeded)["enrolled"] == 5


def test_a_write_gone_stale_is_recomputed_alone_while_the_rest_of_its_transaction_is_stored(
    seeded: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When one learner's summary changed between read and write, only that learner is read and
    computed again; the other learners of the same transaction are stored as they were."""
    from lms.repositories.summaries import WritesRejectedError

    for n in range(3):
        seeded.enroll(f"learner-{n}", f"01jd00000000000000000001{n:02d}")
    repository = stream.module.summarizer.recompute._summaries
    original = repository.save
    sent: list[list[str]] = []

    def first_one_stale(course_id: str, writes: list[Any], now: str) -> None:
        sent.append([w.summary.user_id for w in writes])
        if len(sent) == 1:
            raise WritesRejectedError({"learner-0"}, conflicted=False)
        original(course_id, writes, now)

    monkeypatch.setattr(repository, "save", first_one_stale)

    stream.drain()

    assert sent == [["learner-0", "learner-1", "learner-2"], ["learner-1", "learner-2"], ["learner-0"]]
    assert all(summary_of(seeded, f"learner-{n}")["requiredLessons"] == 2 for n in range(3))
    assert aggregate_of(seeded)["enrolled"] == 3


def test_the_aggregate_is_spread_over_shards_and_read_as_their_sum(
    seeded: SeededCourse, stream: StreamHarness, dynamodb: Any
) -> None:
    """Learners summarised one batch at a time add to random shards; the aggregate read sums them."""
    for n in range(12):
        seeded.enroll(f"learner-{n}", f"01jd00000000000000000001{n:02d}")
        stream.drain()
    shard_keys = keys.course_aggregate_shards(COURSE)
    items = [
        dynamodb.get_item(TableName="lms-dev", Key={k: {"S": v} for k, v in key.items()}).get("Item")
        for key in shard_keys
    ]
    written = [item for item in items if item]

    assert len(written) > 1
    assert sum(int(item["enrolled"]["N"]) for item in written) == 12
    assert aggregate_of(seeded)["enrolled"] == 12


@pytest.mark.parametrize("name", ["insert", "modify", "remove", "lesson_added", "fanout_segment"])
def test_every_stream_event_parses_with_the_summarizer_record_model(name: str) -> None:
    parsed = [TableStreamRecord.model_validate(record) for record in records(name)]
    assert all((r.dynamodb.NewImage or r.dynamodb.OldImage) is not None for r in parsed)
    assert all(r.dynamodb.StreamViewType == "NEW_AND_OLD_IMAGES" for r in parsed)


def test_an_image_newer_than_the_summary_is_applied_as_delivered_and_a_replay_is_read_again(
    learner_halfway: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-order records are applied from their images (no read of the record); the same records
    delivered again are older than what the summary reflects, so they are read from the table."""
    stream.deliver(records("insert"))
    learner_halfway.complete(SEED["lesson_2"], SEED["module_2"], SEED["progress_2"], "2026-11-26T10:20:00.000Z")
    repository = stream.module.summarizer.recompute._summaries
    original = repository.read_learners
    records_read: list[dict[str, set[str]]] = []

    def spying(course_id: str, user_ids: list[str], lessons: dict[str, set[str]], **options: Any) -> Any:
        if lessons:
            records_read.append(lessons)
        return original(course_id, user_ids, lessons, **options)

    monkeypatch.setattr(repository, "read_learners", spying)
    modify = records("modify")

    assert stream.deliver(modify) == {"batchItemFailures": []}
    assert records_read == []
    assert summary_of(learner_halfway)["percent"] == 100

    assert stream.deliver(copy.deepcopy(modify)) == {"batchItemFailures": []}
    assert records_read == [{LEARNER: {SEED["lesson_2"]}}]
    assert summary_of(learner_halfway)["percent"] == 100


def test_each_record_is_parsed_once_and_a_failure_is_reported_for_its_records_only(
    learner_halfway: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch of the recorded INSERTs and one segment item without a segment (the summarizer
    never writes one), when it is delivered, then every record is parsed once, the learner's work is
    done, and only the odd record is a batch item failure."""
    odd = copy.deepcopy(records("fanout_segment")[0])
    del odd["dynamodb"]["NewImage"]["segment"]
    odd["dynamodb"]["SequenceNumber"] = "000000000000000000900"
    batch = [*records("insert"), odd]
    parsed: list[str] = []
    original = TableStreamRecord.model_validate

    def counting(raw: dict[str, Any], *args: Any, **kwargs: Any) -> TableStreamRecord:
        parsed.append(raw["dynamodb"]["SequenceNumber"])
        return original(raw, *args, **kwargs)

    monkeypatch.setattr(TableStreamRecord, "model_validate", counting)

    assert stream.deliver(batch) == {"batchItemFailures": [{"itemIdentifier": "000000000000000000900"}]}
    assert sorted(parsed) == sorted(r["dynamodb"]["SequenceNumber"] for r in batch)
    assert summary_of(learner_halfway)["percent"] == 50


def test_a_view_that_moves_only_the_summary_checks_the_enrollment_without_writing_it(
    learner_halfway: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a summarised learner, when they view a lesson they have not completed, then the summary
    counts the view, and the transaction only checks the enrollment's version (its progress did not
    move): no write, no index copy, no stream record."""
    from lms.models.progress import Progress, ProgressStatus

    stream.deliver(records("insert"))
    table = stream.module.summarizer.recompute._summaries._table
    original = table.transact
    sent: list[dict[str, Any]] = []

    def spying(actions: dict[str, Any]) -> None:
        sent.append(actions)
        original(actions)

    monkeypatch.setattr(table, "transact", spying)
    at = "2026-11-26T10:30:00.000Z"
    view = Progress(
        id=SEED["progress_2"],
        user_id=LEARNER,
        course_id=COURSE,
        module_id=SEED["module_2"],
        lesson_id=SEED["lesson_2"],
        status=ProgressStatus.IN_PROGRESS,
        view_count=1,
        time_spent_seconds=30,
        first_viewed_at=at,
        last_viewed_at=at,
        updated_at=at,
    )
    learner_halfway.progress.save(view, 0, require_enrollment=True)

    stream.drain()

    summary = summary_of(learner_halfway)
    assert (summary["viewedLessons"], summary["percent"]) == (2, 50)
    assert summary["lastAccessed"] == {"lessonId": SEED["lesson_2"], "at": at}
    assert [list(actions[f"enrollment {LEARNER}"]) for actions in sent] == [["ConditionCheck"]]
