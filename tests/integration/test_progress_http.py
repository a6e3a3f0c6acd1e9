"""Learner progress over real HTTP: lesson records, the stream-maintained summaries and aggregates,
and how enrollments follow them (completion, stickiness, resumption after re-enrolling).

Summaries are eventually consistent, so every read of one polls with a deadline (`lms.wait_for_summary`).
"""

import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.polling import poll_until
from tests.integration.conftest import SUMMARY_DEADLINE_SECONDS, Lms, User

pytestmark = pytest.mark.integration


class Classroom:
    """An instructor's fresh course and one learner enrolled in it (more may `join`)."""

    def __init__(self, lms: Lms, *lessons_per_module: int) -> None:
        self.lms = lms
        self.teacher = lms.user("teacher", "instructor")
        self.course = lms.create_course(self.teacher, *lessons_per_module)
        self.id = self.course["id"]
        self.lessons = lms.lesson_ids(self.course)
        self.enrollment_ids: dict[str, str] = {}
        self.learner = self.join()

    def join(self, label: str = "learner", learner: User | None = None) -> User:
        learner = learner or self.lms.user(label)
        self.enrollment_ids[learner.id] = self.lms.enroll(learner, self.id)["id"]
        return learner

    def enrollment_path(self, learner: User) -> str:
        return f"/enrollments/{self.enrollment_ids[learner.id]}"

    def wait_for_enrollment(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The learner's enrollment once the summarizer has brought it where `predicate` says."""
        path = self.enrollment_path(self.learner)
        enrollment: dict[str, Any] = poll_until(
            lambda: self.lms.expect(200, self.lms.api.get(path, self.learner.token)),
            predicate,
            timeout=SUMMARY_DEADLINE_SECONDS,
            interval=0.02,
            what=f"enrollment {path}",
        )
        return enrollment

    def wait_for_percent(self, percent: int) -> dict[str, Any]:
        return self.lms.wait_for_summary(self.learner, self.id, lambda s: s["percent"] == percent)

    def add_lesson(self, module: int = 0, required: bool = True) -> str:
        path = f"/courses/{self.id}/modules/{self.course['modules'][module]['id']}/lessons"
        body = {"title": "New", "required": required}
        return self.lms.expect(201, self.lms.api.post(path, self.teacher.token, json=body))["id"]

    def delete_lesson(self, lesson_id: str) -> None:
        response = self.lms.api.delete(f"/courses/{self.id}/lessons/{lesson_id}", self.teacher.token)
        assert response.status_code == 204, response.text


def _record(lms: Lms, learner: User, lesson_id: str, action: str = "view", **extra: Any) -> Any:
    return lms.api.post("/progress", learner.token, json={"lessonId": lesson_id, "action": action, **extra})


def test_the_first_view_creates_the_lesson_record_and_later_views_update_it(lms: Lms) -> None:
    room = Classroom(lms, 1)
    lesson = room.lessons[0]

    first = _record(lms, room.learner, lesson, timeSpentSeconds=30, position=5)
    second = _record(lms, room.learner, lesson, timeSpentSeconds=12)

    created, updated = lms.expect(201, first), lms.expect(200, second)
    assert created["id"] == updated["id"]
    assert first.headers["Location"] == f"/progress/{created['id']}"
    assert "Location" not in second.headers
    assert lms.expect(200, lms.api.get(first.headers["Location"], room.learner.token))["id"] == created["id"]
    assert (created["userId"], created["courseId"], created["lessonId"]) == (room.learner.id, room.id, lesson)
    assert created["moduleId"] == room.course["modules"][0]["id"]
    assert (created["status"], created["viewCount"], created["completedAt"]) == ("IN_PROGRESS", 1, None)
    assert (updated["viewCount"], updated["timeSpentSeconds"], updated["position"]) == (2, 42, 5)
    assert updated["firstViewedAt"] == created["firstViewedAt"]
    assert updated["lastViewedAt"] >= created["lastViewedAt"]


def test_completing_every_required_lesson_completes_the_summary_and_the_enrollment(lms: Lms) -> None:
    """Given a learner in a course of modules [A, B] and [C] plus an optional lesson, when they complete
    A, then B and C, then the summary follows (percents, next lesson, last access) and at 100 the
    enrollment is COMPLETED with completedAt, its progress 3/3."""
    room = Classroom(lms, 2, 1)
    a, b, c = room.lessons
    module_1, module_2 = (m["id"] for m in room.course["modules"])
    optional = room.add_lesson(module=1, required=False)

    done_a = lms.complete(room.learner, a)
    third = room.wait_for_percent(33)

    assert done_a["status"] == "COMPLETED"
    assert done_a["completedAt"] is not None
    assert (third["completedLessons"], third["requiredLessons"], third["viewedLessons"]) == (1, 3, 1)
    assert [(m["moduleId"], m["percent"]) for m in third["modules"]] == [(module_1, 50), (module_2, 0)]
    assert third["nextLessonId"] == b
    assert third["lastAccessed"] == {"lessonId": a, "at": done_a["lastViewedAt"]}
    assert third["completedAt"] is None

    lms.complete(room.learner, optional)
    lms.complete(room.learner, b)
    done_c = lms.complete(room.learner, c)
    full = room.wait_for_percent(100)

    assert (full["completedLessons"], full["requiredLessons"], full["viewedLessons"]) == (3, 3, 4)
    assert [m["percent"] for m in full["modules"]] == [100, 100]
    assert full["nextLessonId"] is None
    assert full["lastAccessed"] == {"lessonId": c, "at": done_c["lastViewedAt"]}
    assert full["completedAt"] is not None
    enrollment = room.wait_for_enrollment(lambda e: e["status"] == "COMPLETED")
    assert enrollment["completedAt"] is not None
    assert enrollment["progress"] == {"percent": 100, "completedLessons": 3, "requiredLessons": 3}


def test_twenty_parallel_views_of_one_lesson_count_twenty(lms: Lms) -> None:
    room = Classroom(lms, 1)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: _record(lms, room.learner, room.lessons[0]), range(20)))

    assert Counter(r.status_code for r in responses) == {201: 1, 200: 19}
    record = lms.expect(200, lms.api.get(f"/progress/{responses[0].json()['id']}", room.learner.token))
    assert record["viewCount"] == 20


def test_a_new_required_lesson_lowers_the_percent_but_completion_is_sticky(lms: Lms) -> None:
    room = Classroom(lms, 2)
    for lesson in room.lessons:
        lms.complete(room.learner, lesson)
    room.wait_for_percent(100)
    completed = room.wait_for_enrollment(lambda e: e["status"] == "COMPLETED")

    new_lesson = room.add_lesson()
    lowered = room.wait_for_percent(66)

    assert (lowered["requiredLessons"], lowered["nextLessonId"]) == (3, new_lesson)
    enrollment = room.wait_for_enrollment(lambda e: e["progress"]["percent"] == 66)
    assert (enrollment["status"], enrollment["completedAt"]) == ("COMPLETED", completed["completedAt"])


def test_deleting_lessons_raises_the_percent_and_can_complete_the_course(lms: Lms) -> None:
    room = Classroom(lms, 3)
    a, b, c = room.lessons
    lms.complete(room.learner, a)

    room.delete_lesson(c)
    half = room.wait_for_percent(50)
    room.delete_lesson(b)
    room.wait_for_percent(100)

    assert (half["completedLessons"], half["requiredLessons"], half["nextLessonId"]) == (1, 2, b)
    enrollment = room.wait_for_enrollment(lambda e: e["status"] == "COMPLETED")
    assert enrollment["progress"] == {"percent": 100, "completedLessons": 1, "requiredLessons": 1}


def test_the_course_aggregate_matches_a_count_by_hand(lms: Lms) -> None:
    """Given learners at 0 %, 33 % and 100 % and one whose enrollment was deleted, when the instructor
    reads the course summary, then it counts the three current enrollments: 2 active, 1 completed,
    average (0 + 33 + 100) / 3."""
    room = Classroom(lms, 3)
    idle, halfway, finisher, leaver = room.learner, room.join("halfway"), room.join("finisher"), room.join("leaver")
    lms.complete(halfway, room.lessons[0])
    for lesson in room.lessons:
        lms.complete(finisher, lesson)
    lms.complete(leaver, room.lessons[0])
    assert lms.api.delete(room.enrollment_path(leaver), leaver.token).status_code == 204
    percents = {idle.id: 0, halfway.id: 33, finisher.id: 100}
    expected = {
        "courseId": room.id,
        "enrolled": 3,
        "active": 2,
        "completed": 1,
        "averagePercent": round(sum(percents.values()) / len(percents), 2),
    }

    aggregate = lms.wait_for_summary(
        room.teacher, room.id, lambda s: {k: s.get(k) for k in expected} == expected, timeout=20
    )

    assert aggregate["updatedAt"] is not None
    for learner_id, percent in percents.items():
        assert lms.summary(room.teacher, room.id, user_id=learner_id)["percent"] == percent


def test_re_enrolling_after_a_delete_resumes_the_kept_progress(lms: Lms) -> None:
    room = Classroom(lms, 3)
    lms.complete(room.learner, room.lessons[0])
    room.wait_for_percent(33)

    assert lms.api.delete(room.enrollment_path(room.learner), room.learner.token).status_code == 204
    room.join(learner=room.learner)
    resumed = room.wait_for_enrollment(lambda e: e["progress"]["percent"] == 33)

    assert resumed["status"] == "ACTIVE"
    assert resumed["progress"] == {"percent": 33, "completedLessons": 1, "requiredLessons": 3}


def test_recording_progress_needs_an_active_enrollment_in_the_course(lms: Lms) -> None:
    room = Classroom(lms, 1)
    outsider = lms.user("outsider")
    drop = lms.api.patch(room.enrollment_path(room.learner), room.learner.token, json={"status": "DROPPED"})

    lms.problem(_record(lms, outsider, room.lessons[0]), 403)
    lms.expect(200, drop)
    lms.problem(_record(lms, room.learner, room.lessons[0], "complete"), 403)


def test_progress_on_an_unknown_lesson_is_a_404(lms: Lms) -> None:
    lms.problem(_record(lms, lms.user(), "no-such-lesson"), 404)


def test_a_learner_cannot_read_another_learners_summary_or_records(lms: Lms) -> None:
    room = Classroom(lms, 1)
    other = room.join("other")
    record = lms.expect(201, _record(lms, room.learner, room.lessons[0]))

    lms.problem(
        lms.api.get(f"/progress/course/{room.id}/summary", other.token, params={"userId": room.learner.id}), 403
    )
    lms.problem(lms.api.get(f"/progress/{record['id']}", other.token), 404)


def test_an_instructor_reset_reopens_a_lesson_and_the_summary_follows(lms: Lms) -> None:
    """Given a learner who completed one of two lessons, when the learner tries to reopen it, then 403;
    when the course's instructor resets it to IN_PROGRESS, then completedAt is cleared and the
    learner's summary drops back to 0 %."""
    room = Classroom(lms, 2)
    record = lms.complete(room.learner, room.lessons[0])
    room.wait_for_percent(50)
    path = f"/progress/{record['id']}"

    by_learner = lms.api.patch(path, room.learner.token, json={"status": "IN_PROGRESS"})
    by_teacher = lms.api.patch(path, room.teacher.token, json={"status": "IN_PROGRESS"})

    lms.problem(by_learner, 403)
    reset = lms.expect(200, by_teacher)
    assert (reset["status"], reset["completedAt"], reset["viewCount"]) == ("IN_PROGRESS", None, 1)
    summary = room.wait_for_percent(0)
    assert (summary["completedLessons"], summary["nextLessonId"]) == (0, room.lessons[0])


def test_summary_freshness_after_completing_a_lesson(lms: Lms, capsys: pytest.CaptureFixture[str]) -> None:
    """Measures (prints, does not judge: a busy machine slows it) how long after a completing POST the
    summary shows it; it must catch up every time (wait_for_summary's deadline guards against a hang)."""
    room = Classroom(lms, 10)
    delays = []
    for done, lesson in enumerate(room.lessons, start=1):
        lms.complete(room.learner, lesson)
        posted = time.perf_counter()
        lms.wait_for_summary(room.learner, room.id, lambda s, done=done: s["completedLessons"] == done)
        delays.append(time.perf_counter() - posted)

    p50 = statistics.median(delays)
    p95 = statistics.quantiles(delays, n=20, method="inclusive")[-1]
    with capsys.disabled():
        print(f"\nsummary freshness over {len(delays)} completions: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")


def test_a_lesson_added_reaches_every_learner_through_fan_out_segments_on_the_stream(
    lms: Lms, ddb: Any, table_name: str
) -> None:
    """Given 130 learners (more than one segment of 100), when a lesson is added, then every
    learner's summary counts it: the first segment in the invocation that saw the lesson, the rest
    through a segment item whose stream record the poller delivers, which is removed when done."""
    from lms import keys

    room = Classroom(lms, 1)
    with ThreadPoolExecutor(8) as pool:
        learners = [room.learner, *pool.map(lambda n: room.join(f"fan-{n}"), range(129))]
    lms.complete(room.learner, room.lessons[0])
    room.wait_for_percent(100)

    room.add_lesson()

    def summaries() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(learners), 100):
            batch = [keys.summary(u.id, room.id) for u in learners[start : start + 100]]
            request = {table_name: {"Keys": [{k: {"S": v} for k, v in key.items()} for key in batch]}}
            found += ddb.batch_get_item(RequestItems=request)["Responses"][table_name]
        return found

    settled = poll_until(
        summaries,
        lambda found: len(found) == 130 and all(s["requiredLessons"]["N"] == "2" for s in found),
        timeout=60,
        interval=0.25,
        what="130 summaries counting the new lesson",
    )
    assert sorted(int(s["percent"]["N"]) for s in settled) == [0] * 129 + [50]
    segment = {k: {"S": v} for k, v in keys.course_fanout_segment(room.id, 1).items()}
    assert poll_until(lambda: "Item" not in ddb.get_item(TableName=table_name, Key=segment), timeout=20)


# ----------------------------------------------------------- the completion rule (docs/API.md#completion)
def _aggregate_counts(room: Classroom, active: int, completed: int) -> dict[str, Any]:
    """The course aggregate once it counts one enrollment as `active` and `completed` say."""
    return room.lms.wait_for_summary(
        room.teacher, room.id, lambda s: (s["enrolled"], s["active"], s["completed"]) == (1, active, completed)
    )


def _completed_ids(room: Classroom) -> tuple[list[str], list[str]]:
    """`?status=COMPLETED`: the course's enrollments (its instructor), and the learner's own."""
    lms, query = room.lms, {"status": "COMPLETED"}
    staff = lms.expect(200, lms.api.get(f"/enrollments/course/{room.id}", room.teacher.token, params=query))
    own = lms.expect(200, lms.api.get("/enrollments", room.learner.token, params=query))
    return [e["id"] for e in staff["items"]], [e["id"] for e in own["items"]]


def _set_status(room: Classroom, status: str, caller: User) -> dict[str, Any]:
    response = room.lms.api.patch(room.enrollment_path(room.learner), caller.token, json={"status": status})
    return room.lms.expect(200, response)


@pytest.mark.parametrize("comes_back", ["patch-active", "post-again"])
def test_a_completed_learner_who_drops_and_comes_back_is_completed_again(lms: Lms, comes_back: str) -> None:
    """Given a learner who completed the course, when they drop it and come back (PATCH ACTIVE, or
    POST /enrollments again), then the enrollment is COMPLETED with its first completedAt, the
    aggregate counts it completed (not active) and `?status=COMPLETED` finds it (issue 16, defect 2a)."""
    room = Classroom(lms, 2)
    for lesson in room.lessons:
        lms.complete(room.learner, lesson)
    first = room.wait_for_enrollment(lambda e: e["status"] == "COMPLETED")
    _aggregate_counts(room, active=0, completed=1)
    _set_status(room, "DROPPED", room.learner)
    _aggregate_counts(room, active=0, completed=0)

    if comes_back == "patch-active":
        back = _set_status(room, "ACTIVE", room.learner)
    else:
        back = lms.expect(200, lms.api.post("/enrollments", room.learner.token, json={"courseId": room.id}))

    assert (back["id"], back["status"], back["completedAt"]) == (first["id"], "COMPLETED", first["completedAt"])
    _aggregate_counts(room, active=0, completed=1)
    assert _completed_ids(room) == ([first["id"]], [first["id"]])


def test_staff_completed_then_active_then_the_learner_completing_everything_completes_it(lms: Lms) -> None:
    """Given staff set a learner's enrollment COMPLETED at 0 %, then ACTIVE, when the learner completes
    every required lesson, then it is COMPLETED again, by the learner, completedAt the staff's first
    marking; the aggregate counts it completed and `?status=COMPLETED` finds it (issue 16, defect 2b)."""
    room = Classroom(lms, 2)
    marked = _set_status(room, "COMPLETED", room.teacher)
    assert (marked["completedBy"], marked["progress"]["percent"]) == (room.teacher.id, 0)
    reopened = _set_status(room, "ACTIVE", room.teacher)
    assert reopened["reopenedAt"] is not None
    _aggregate_counts(room, active=1, completed=0)

    for lesson in room.lessons:
        lms.complete(room.learner, lesson)

    done = room.wait_for_enrollment(lambda e: e["status"] == "COMPLETED")
    assert (done["completedBy"], done["completedAt"], done["reopenedAt"]) == (
        room.learner.id,
        marked["completedAt"],
        None,
    )
    assert done["progress"]["percent"] == 100
    _aggregate_counts(room, active=0, completed=1)
    assert _completed_ids(room) == ([done["id"]], [done["id"]])


def test_a_student_never_enrolled_in_a_course_reads_no_summary_of_it(lms: Lms) -> None:
    """Issue 16, defect 6: 404, not a summary of zeros; the enrolled learner reads theirs."""
    room = Classroom(lms, 1)
    outsider = lms.user("outsider")

    lms.problem(lms.api.get(f"/progress/course/{room.id}/summary", outsider.token), 404)
    assert lms.summary(room.learner, room.id)["percent"] == 0
