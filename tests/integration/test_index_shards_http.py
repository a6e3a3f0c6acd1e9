"""A course's enrollments and progress records indexed under 16 `gsi1` shards, over HTTP through the
local runtime and DynamoDB Local."""

from typing import Any

import pytest

from lms import keys
from tests.integration.conftest import Lms, User
from tests.integration.test_progress_http import Classroom

pytestmark = pytest.mark.integration


class ShardedRoom(Classroom):
    """A Classroom that remembers its learners, in the order they joined."""

    def join(self, label: str = "learner", learner: User | None = None) -> User:
        joined = super().join(label, learner)
        self.learners = [*getattr(self, "learners", []), joined]
        return joined


@pytest.fixture(scope="module")
def room(lms: Lms) -> ShardedRoom:
    """A course with a learner in every index shard, each of whom completed the first of two lessons."""
    room = ShardedRoom(lms, 2)
    shards = {keys.index_shard(room.learner.id)}
    while len(shards) < keys.INDEX_SHARDS:
        candidate = lms.user("sharded")
        if keys.index_shard(candidate.id) not in shards:
            shards.add(keys.index_shard(candidate.id))
            room.join(learner=candidate)
    for learner in room.learners:
        lms.complete(learner, room.lessons[0])
    for learner in room.learners:
        lms.wait_for_summary(room.teacher, room.id, lambda s: s["percent"] == 50, user_id=learner.id)
    return room


def _walk(lms: Lms, reader: User, path: str, limit: int, **params: str) -> list[dict[str, Any]]:
    """Every item, following nextCursor until null; pages may come short, never long."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(60):
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        page = lms.expect(200, lms.api.get(path, reader.token, params=query))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_the_rooms_learners_hold_every_shard(room: ShardedRoom) -> None:
    assert {keys.index_shard(learner.id) for learner in room.learners} == set(range(keys.INDEX_SHARDS))


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_staff_list_every_record_of_the_course_exactly_once(lms: Lms, room: ShardedRoom, limit: int) -> None:
    records = _walk(lms, room.teacher, f"/progress/course/{room.id}", limit)

    assert sorted((r["userId"], r["lessonId"]) for r in records) == sorted(
        (learner.id, room.lessons[0]) for learner in room.learners
    )


@pytest.mark.parametrize("limit", [2, 100])
def test_staff_list_every_enrollment_of_the_course_exactly_once(lms: Lms, room: ShardedRoom, limit: int) -> None:
    enrollments = _walk(lms, room.teacher, f"/enrollments/course/{room.id}", limit)

    assert sorted(e["id"] for e in enrollments) == sorted(room.enrollment_ids.values())
    assert _walk(lms, room.teacher, f"/enrollments/course/{room.id}", 5, status="DROPPED") == []
    assert len(_walk(lms, room.teacher, f"/enrollments/course/{room.id}", 5, status="ACTIVE")) == len(room.learners)


@pytest.mark.parametrize("which", [0, 5])
def test_one_learners_records_are_found_with_user_id_in_one_page(lms: Lms, room: ShardedRoom, which: int) -> None:
    learner = room.learners[which]
    path = f"/progress/course/{room.id}"

    staff_view = lms.expect(200, lms.api.get(path, room.teacher.token, params={"userId": learner.id}))
    own_view = lms.expect(200, lms.api.get(path, learner.token))

    for page in (staff_view, own_view):
        assert [(r["userId"], r["lessonId"]) for r in page["items"]] == [(learner.id, room.lessons[0])]
        assert page["nextCursor"] is None


def test_a_tampered_cursor_in_the_middle_of_the_shards_is_a_400(lms: Lms, room: ShardedRoom) -> None:
    path = f"/progress/course/{room.id}"
    cursor = None
    for _ in range(4):  # a cursor a few shards in
        cursor = lms.expect(
            200, lms.api.get(path, room.teacher.token, params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        )["nextCursor"]
        assert cursor
    payload, signature = cursor.split(".")
    forged = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"

    lms.problem(lms.api.get(path, room.teacher.token, params={"limit": 1, "cursor": forged}), 400)


def test_a_lesson_added_reaches_the_learners_of_every_shard(lms: Lms, room: ShardedRoom) -> None:
    room.add_lesson()

    for learner in room.learners:
        summary = lms.wait_for_summary(
            room.teacher, room.id, lambda s: s["requiredLessons"] == 3, user_id=learner.id, timeout=30
        )
        assert summary["completedLessons"] == 1
