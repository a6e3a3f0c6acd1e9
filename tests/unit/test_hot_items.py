"""No item per course on a learner's hot paths (issue 16, "Scale"), and one course's records of a
learner as one key range (defect 7)."""

from typing import Any

import pytest

from lms.identity import Identity, Role
from lms.models.progress import Progress, ProgressStatus
from lms.repositories.dynamo import Table
from lms.services.summaries.reading import SummaryReader
from tests.conftest import SEED, ApiHarness, SeededCourse, StreamHarness, create_course, enroll

COURSE, LEARNER = SEED["course"], SEED["learner"]


def head_item(dynamodb: Any, course_id: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(
        TableName="lms-dev", Key={"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}}
    )["Item"]
    return item


def test_an_uncapped_course_takes_enrollments_without_writing_its_head(api: ApiHarness, dynamodb: Any) -> None:
    """GIVEN a course without a capacity, WHEN a learner enrolls, drops and comes back, THEN the
    course head is never written (its counts come from the sharded aggregate)."""
    course = create_course(api)
    before = head_item(dynamodb, course.id)

    enrollment = enroll(api, course.id)
    api.call(
        "update_enrollment",
        user="student-1",
        roles="student",
        path={"id": enrollment["id"]},
        body={"status": "DROPPED"},
    )
    assert api.call("create_enrollment", user="student-1", roles="student", body={"courseId": course.id}).status == 200

    assert head_item(dynamodb, course.id) == before
    assert "seatsTaken" not in before


def test_a_learners_own_stored_summary_is_read_without_the_course_head(
    seeded: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a learner whose summary the stream stored, WHEN they read it, THEN only their summary
    item is read: no course head, no outline."""
    seeded.enroll()
    stream.drain()
    reader = SummaryReader(seeded.courses, seeded.progress, seeded.summaries)
    table: Table = seeded.courses._table
    reads: list[Any] = []
    monkeypatch.setattr(table, "get", lambda key, **kw: reads.append(key) or Table.get(table, key, **kw))
    monkeypatch.setattr(table, "batch_get", lambda *a, **kw: pytest.fail("batch read"))
    monkeypatch.setattr(table, "query_all", lambda *a, **kw: pytest.fail("query"))

    summary = reader.read(Identity(LEARNER, frozenset({Role.STUDENT})), COURSE, None)

    assert summary.course_id == COURSE
    assert reads == [{"pk": f"USER#{LEARNER}", "sk": f"SUMMARY#{COURSE}"}]


def test_a_rebuild_reads_only_the_courses_own_records(seeded: SeededCourse, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a learner with records in another course, WHEN their records of this course are read
    (a rebuild, a summary computed on read), THEN the Query returns this course's records only."""
    seeded.enroll()
    seeded.complete(SEED["lesson_1"], SEED["module_1"], SEED["progress_1"], SEED["at"])
    for n in range(5):  # records elsewhere: written as POST /progress would, without an enrollment check
        elsewhere = Progress(
            id=f"01jd00000000000000000002{n:02d}",
            user_id=LEARNER,
            course_id="01jd0000000000000000000099",
            module_id="m",
            lesson_id=f"01jd00000000000000000003{n:02d}",
            status=ProgressStatus.COMPLETED,
            view_count=1,
            time_spent_seconds=1,
            updated_at=SEED["at"],
        )
        seeded.progress.save(elsewhere, 0, require_enrollment=False)
    table: Table = seeded.progress._table
    returned: list[int] = []
    original = Table.query_all

    def counted(*args: Any, **kwargs: Any) -> list[Any]:
        items = original(table, *args, **kwargs)
        returned.append(len(items))
        return items

    monkeypatch.setattr(table, "query_all", counted)

    records = seeded.progress.for_course(LEARNER, COURSE)

    assert list(records) == [SEED["lesson_1"]]
    assert returned == [1]
