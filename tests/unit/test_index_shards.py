"""A course's enrollments and progress records are indexed under keys.INDEX_SHARDS `gsi1` partition
keys: lists and the fan-out read them all."""

from typing import Any

import pytest

from lms import keys
from lms.cursors import CursorCodec
from lms.models.catalog import Lesson
from lms.models.enrollments import EnrollmentStatus
from lms.models.progress import ProgressStatus
from lms.pagination import PageRequest
from lms.repositories.dynamo import READS_PER_PAGE, Table
from lms.repositories.enrollments import EnrollmentRepository
from lms.repositories.progress import ProgressRepository
from tests.conftest import (
    INSTRUCTOR,
    SEED,
    TEST_ENV,
    ApiHarness,
    SeededCourse,
    StreamHarness,
    assert_problem,
    create_course,
    enroll,
    list_course,
    ok,
    recorded,
    tampered,
)

COURSE = SEED["course"]


def _one_per_shard() -> list[str]:
    by_shard: dict[int, str] = {}
    for n in range(1000):
        by_shard.setdefault(keys.index_shard(f"learner-{n}"), f"learner-{n}")
    return sorted(by_shard.values())


LEARNERS = _one_per_shard()  # one learner in every shard


class CountingClient:
    """The DynamoDB client, recording every Query it is asked to make and how many items each read."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.queries: list[dict[str, Any]] = []
        self.scanned: list[int] = []

    def query(self, **kwargs: Any) -> Any:
        self.queries.append(kwargs)
        response = self._client.query(**kwargs)
        self.scanned.append(response.get("ScannedCount", 0))
        return response

    def clear(self) -> None:
        self.queries.clear()
        self.scanned.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def partitions_read(client: CountingClient) -> list[str]:
    return [query["ExpressionAttributeValues"][":pk"]["S"] for query in client.queries]


@pytest.fixture
def counting(dynamodb: Any) -> CountingClient:
    return CountingClient(dynamodb)


@pytest.fixture
def crowd(seeded: SeededCourse) -> SeededCourse:
    """LEARNERS enrolled in the seeded course, each with a completed lesson record."""
    for n, learner in enumerate(LEARNERS):
        seeded.enroll(learner, f"01jd0000000000000000001{n:03d}")
        seeded.complete(SEED["lesson_1"], SEED["module_1"], f"01jd0000000000000000002{n:03d}", SEED["at"], learner)
    return seeded


def every_page(fetch: Any, limit: int, client: CountingClient) -> tuple[list[Any], int]:
    """Every item of a list, following the last key until None; what each page reads is bounded:
    at most READS_PER_PAGE times the page size, and one call per partition beyond that."""
    items: list[Any] = []
    start: dict[str, Any] | None = None
    for pages in range(1, 200):
        client.clear()
        page = fetch(PageRequest(limit, start))
        assert sum(client.scanned) <= READS_PER_PAGE * limit
        assert len(client.queries) <= keys.INDEX_SHARDS + READS_PER_PAGE
        assert len(page.items) <= limit
        items += page.items
        start = page.last_key
        if start is None:
            return items, pages
    raise AssertionError("pagination did not end")


# ------------------------------------------------------------------------------------------- keys
def test_a_learners_items_share_one_shard_and_learners_spread_over_all_of_them() -> None:
    shards = {keys.index_shard(learner) for learner in (f"user-{n}" for n in range(400))}

    assert shards == set(range(keys.INDEX_SHARDS))
    shard = keys.index_shard("learner-7")
    assert keys.enrollment_index("learner-7", "c1")["gsi1pk"] == f"COURSE#c1#ENROLLMENTS#{shard}"
    assert keys.progress_index("learner-7", "c1", "l1")["gsi1pk"] == f"COURSE#c1#PROGRESS#{shard}"
    assert keys.progress_index("learner-7", "c1", "l2")["gsi1pk"] == f"COURSE#c1#PROGRESS#{shard}"


def test_the_shard_is_a_stable_function_of_the_user_key_not_of_the_process() -> None:
    """Python's hash() of a str changes with every process, and a changed function would strand
    every stored item in a shard no longer read: the shards of these users are pinned."""
    assert {user: keys.index_shard(user) for user in ("student-1", "a#b", "learner-7")} == {
        "student-1": 0,
        "a#b": 14,
        "learner-7": 15,
    }
    assert keys.course_progress_partitions("c1", "a#b") == ["COURSE#c1#PROGRESS#14"]
    assert keys.course_enrollments_partitions("c1") == [f"COURSE#c1#ENROLLMENTS#{n}" for n in range(16)]


# ------------------------------------------------------------------------------ course-wide lists
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_a_courses_enrollments_paged_across_shards_hold_every_learner_exactly_once(
    crowd: SeededCourse, counting: CountingClient, limit: int
) -> None:
    repository = EnrollmentRepository(Table(counting, TEST_ENV["TABLE_NAME"]))

    items, pages = every_page(lambda page: repository.list_for_course(COURSE, None, page), limit, counting)

    assert sorted(e.user_id for e in items) == sorted(LEARNERS)
    if limit >= len(LEARNERS):
        assert pages == 1  # empty shards cost a call each, never a page: a small course comes whole


@pytest.mark.parametrize("limit", [1, 100])
def test_a_courses_progress_paged_across_shards_holds_every_record_exactly_once(
    crowd: SeededCourse, counting: CountingClient, limit: int
) -> None:
    repository = ProgressRepository(Table(counting, TEST_ENV["TABLE_NAME"]))
    crowd.complete(SEED["lesson_2"], SEED["module_2"], "01jd0000000000000000003000", SEED["at"], LEARNERS[3])

    items, _ = every_page(lambda page: repository.list_for_course(COURSE, None, None, page), limit, counting)

    expected = [(u, SEED["lesson_1"]) for u in LEARNERS] + [(LEARNERS[3], SEED["lesson_2"])]
    assert sorted((p.user_id, p.lesson_id) for p in items) == sorted(expected)


def test_a_status_filter_applies_across_every_shard(crowd: SeededCourse, counting: CountingClient) -> None:
    current = crowd.enrollments.get(LEARNERS[5], COURSE)
    assert current is not None
    dropped_now = current.model_copy(update={"status": EnrollmentStatus.DROPPED, "version": current.version + 1})
    crowd.enrollments.change_status(current, dropped_now, 0, None)
    repository = EnrollmentRepository(Table(counting, TEST_ENV["TABLE_NAME"]))

    dropped, _ = every_page(
        lambda page: repository.list_for_course(COURSE, EnrollmentStatus.DROPPED, page), 2, counting
    )
    progress = ProgressRepository(Table(counting, TEST_ENV["TABLE_NAME"]))
    in_progress, _ = every_page(
        lambda page: progress.list_for_course(COURSE, None, ProgressStatus.IN_PROGRESS, page), 5, counting
    )

    assert [e.user_id for e in dropped] == [LEARNERS[5]]
    assert in_progress == []


def test_one_learners_records_are_read_from_their_shard_only(crowd: SeededCourse, counting: CountingClient) -> None:
    repository = ProgressRepository(Table(counting, TEST_ENV["TABLE_NAME"]))

    page = repository.list_for_course(COURSE, LEARNERS[9], None, PageRequest(20, None))

    assert [(p.user_id, p.lesson_id) for p in page.items] == [(LEARNERS[9], SEED["lesson_1"])]
    assert page.last_key is None
    assert partitions_read(counting) == [f"COURSE#{COURSE}#PROGRESS#{keys.index_shard(LEARNERS[9])}"]


def test_the_fanout_reads_full_pages_across_shards(crowd: SeededCourse, counting: CountingClient) -> None:
    """A fan-out segment is exactly one page of learners, so its pages are filled whatever it takes."""
    repository = EnrollmentRepository(Table(counting, TEST_ENV["TABLE_NAME"]))

    first = repository.list_for_course(COURSE, None, PageRequest(12, None), full_pages=True)
    rest = repository.list_for_course(COURSE, None, PageRequest(12, first.last_key), full_pages=True)

    assert (len(first.items), len(rest.items), rest.last_key) == (12, len(LEARNERS) - 12, None)
    assert {e.user_id for e in first.items + rest.items} == set(LEARNERS)


# -------------------------------------------------------------------------------------- fan-out
def test_a_lesson_added_reaches_learners_in_every_shard(
    crowd: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments of 7 learners over learners in all 16 shards: every summary follows the new outline,
    and the aggregate still counts each learner once."""
    monkeypatch.setattr("lms.services.summaries.fanout.LEARNERS_PER_SEGMENT", 7)
    stream.drain()
    crowd.courses.append_lesson(
        COURSE,
        SEED["module_2"],
        Lesson(id="01jd0000000000000000000009", title="DynamoDB Streams", position=0, required=True),
        "2026-11-26T11:00:00.000Z",
    )

    stream.drain(rounds=20)

    summaries = {learner: crowd.summaries.get(learner, COURSE) for learner in LEARNERS}
    assert {learner for learner, s in summaries.items() if s is None or s.summary.required_lessons != 3} == set()
    assert {keys.index_shard(learner) for learner in LEARNERS} == set(range(keys.INDEX_SHARDS))
    assert crowd.summaries.get_aggregate(COURSE).enrolled == len(LEARNERS)


def test_a_learner_enrolling_during_a_fanout_pushes_nobody_out_of_its_segment(
    crowd: SeededCourse, stream: StreamHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given segments of 4 scheduled for a lesson added, when a learner enrolls inside the second
    segment's range before it runs, then every learner still follows the new outline: a segment runs
    to the next one's start, not for a count, so the learner at that start is not skipped."""
    monkeypatch.setattr("lms.services.summaries.fanout.LEARNERS_PER_SEGMENT", 4)
    stream.drain()
    in_order = [
        e.user_id
        for e in crowd.enrollments.list_for_course(COURSE, None, PageRequest(100, None), full_pages=True).items
    ]
    crowd.courses.append_lesson(
        COURSE,
        SEED["module_2"],
        Lesson(id="01jd0000000000000000000009", title="DynamoDB Streams", position=0, required=True),
        "2026-11-26T11:00:00.000Z",
    )
    stream.deliver(stream.pending())  # the fan-out: segment 0 recomputed, segments 1-3 scheduled
    # A learner who sorts just before the sixth (in the second segment, in that learner's shard).
    shard = keys.index_shard(in_order[5])
    newcomer = next(f"aaa-{n}" for n in range(1000) if keys.index_shard(f"aaa-{n}") == shard)
    crowd.enroll(newcomer, "01jd0000000000000000003000")

    stream.drain(rounds=20)

    behind = [u for u in in_order if (s := crowd.summaries.get(u, COURSE)) is None or s.summary.required_lessons != 3]
    assert behind == []


# ------------------------------------------------------------------------------------- over HTTP
@pytest.fixture
def big_class(api: ApiHarness) -> str:
    course = create_course(api)
    for n in range(8):
        learner = {"user": f"pupil-{n}", "roles": "student"}
        enroll(api, course.id, learner)
        recorded(api, course.lesson(0), caller=learner)
    return course.id


def test_staff_page_through_a_course_across_shards_with_signed_cursors(api: ApiHarness, big_class: str) -> None:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(40):
        body = ok(list_course(api, big_class, INSTRUCTOR, limit="3", **({"cursor": cursor} if cursor else {})))
        seen += [item["userId"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert_problem(list_course(api, big_class, INSTRUCTOR, limit="3", cursor=tampered(cursor)), 400)

    assert sorted(seen) == sorted(f"pupil-{n}" for n in range(8))


@pytest.mark.parametrize(
    "position",
    [
        {"shard": keys.INDEX_SHARDS + 1},
        {"shard": -1},
        {"shard": "3"},
        {"shard": True},
        {"shard": 2, "key": "x"},
        {"gsi1pk": "COURSE#c#PROGRESS#0", "gsi1sk": "USER#u#l", "pk": "USER#u", "sk": "PROGRESS#l"},
    ],
    ids=["past-the-last", "negative", "string", "bool", "key-not-a-map", "bare-last-evaluated-key"],
)
def test_a_signed_cursor_naming_no_shard_is_400_not_500(
    api: ApiHarness, big_class: str, position: dict[str, Any]
) -> None:
    """Only our own cursors are signed; should one ever carry a bad position, it is a client error."""
    module = api.module("list_course_progress")
    fingerprint = CursorCodec.fingerprint("list_course_progress", INSTRUCTOR["user"], big_class, None, None)
    cursor = module.cursors.encode(position, fingerprint)

    assert_problem(list_course(api, big_class, INSTRUCTOR, limit="3", cursor=cursor), 400)
