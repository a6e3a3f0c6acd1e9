"""Lesson progress routes (POST/GET/PATCH /progress...), driven through the handlers over moto.

The course with lessons, the enrolled learner, the recording calls and the stepping clock are shared
with test_summaries.py: see tests/conftest.py and tests/unit/conftest.py.
"""

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    OTHER_INSTRUCTOR,
    OTHER_STUDENT,
    STUDENT,
    ApiHarness,
    Course,
    Reply,
    SteppingClock,
    assert_problem,
    create_course,
    enroll,
    list_course,
    ok,
    record,
    recorded,
    tampered,
)


# ------------------------------------------------------------------------------------------ helpers
def get_progress(api: ApiHarness, progress_id: str, caller: dict[str, str] = STUDENT) -> Reply:
    return api.call("get_progress", **caller, path={"id": progress_id})


def patch_progress(api: ApiHarness, progress_id: str, body: Any, caller: dict[str, str] = STUDENT) -> Reply:
    return api.call("update_progress", **caller, path={"id": progress_id}, body=body)


def list_mine(api: ApiHarness, caller: dict[str, str] = STUDENT, **query: str) -> Reply:
    return api.call("list_progress", **caller, query=query or None)


def owners_and_lessons(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(item["userId"], item["lessonId"]) for item in items}


def set_enrollment_status(api: ApiHarness, enrollment_id: str, status: str, caller: dict[str, str] = ADMIN) -> None:
    ok(api.call("update_enrollment", **caller, path={"id": enrollment_id}, body={"status": status}))


# --------------------------------------------------------------------------------- POST /progress
def test_first_view_creates_an_in_progress_record_with_one_view(api: ApiHarness, course: Course) -> None:
    """Given an enrolled learner, when they first view a lesson, then the record is created (201) with
    one view, both view times equal, no completion, and the lesson's course and module."""
    reply = record(api, course.lesson(0))

    body = ok(reply, 201)
    assert reply.headers.get("Content-Type") == "application/json"
    assert body["userId"] == "student-1"
    assert (body["courseId"], body["moduleId"], body["lessonId"]) == (course.id, course.module_ids[0], course.lesson(0))
    assert body["status"] == "IN_PROGRESS"
    assert body["viewCount"] == 1
    assert body["timeSpentSeconds"] == 0
    assert body["position"] is None
    assert body["firstViewedAt"] == body["lastViewedAt"] == body["updatedAt"]
    assert body["firstViewedAt"].endswith("Z")
    assert body["completedAt"] is None
    assert body["id"]


def test_second_view_is_200_counts_up_and_moves_only_last_viewed_at(api: ApiHarness, course: Course) -> None:
    first = recorded(api, course.lesson(0))

    reply = record(api, course.lesson(0))

    second = ok(reply, 200)
    assert second["viewCount"] == 2
    assert second["firstViewedAt"] == first["firstViewedAt"]
    assert second["lastViewedAt"] > first["lastViewedAt"]
    assert second["id"] == first["id"]


def test_record_id_is_stable_across_writes_and_readable(api: ApiHarness, course: Course) -> None:
    """Views, a completion and a later view all answer with the same id, and GET by id returns the
    latest state."""
    ids = {recorded(api, course.lesson(0), action)["id"] for action in ("view", "complete", "view", "complete")}

    assert len(ids) == 1
    latest = ok(get_progress(api, ids.pop()))
    assert latest["viewCount"] == 4
    assert latest["status"] == "COMPLETED"


def test_time_spent_adds_up_and_position_is_the_last_one_sent(api: ApiHarness, course: Course) -> None:
    """Given a series of views with and without timeSpentSeconds and position, then time accumulates
    and position is the last value sent (an omitted position keeps the previous one)."""
    sent = [
        ({"timeSpentSeconds": 30, "position": 10}, 30, 10),
        ({"timeSpentSeconds": 45}, 75, 10),
        ({"position": 5}, 75, 5),
        ({"timeSpentSeconds": 0, "position": 0}, 75, 0),
        ({}, 75, 0),
        ({"timeSpentSeconds": 86_400}, 86_475, 0),
    ]
    for fields, total, position in sent:
        body = recorded(api, course.lesson(0), **fields)
        assert (body["timeSpentSeconds"], body["position"]) == (total, position), fields


def test_complete_is_also_a_view_and_sets_completed_at(api: ApiHarness, course: Course) -> None:
    viewed = recorded(api, course.lesson(0), timeSpentSeconds=10)

    completed = ok(record(api, course.lesson(0), "complete", timeSpentSeconds=5, position=99))

    assert completed["status"] == "COMPLETED"
    assert completed["completedAt"] == completed["lastViewedAt"]
    assert completed["lastViewedAt"] > viewed["lastViewedAt"]
    assert completed["viewCount"] == 2
    assert (completed["timeSpentSeconds"], completed["position"]) == (15, 99)
    assert completed["firstViewedAt"] == viewed["firstViewedAt"]


def test_completing_an_unseen_lesson_creates_a_completed_record(api: ApiHarness, course: Course) -> None:
    body = ok(record(api, course.lesson(0), "complete"), 201)

    assert body["status"] == "COMPLETED"
    assert body["viewCount"] == 1
    assert body["completedAt"] == body["firstViewedAt"] == body["lastViewedAt"]


@pytest.mark.parametrize("later", ["view", "complete"])
def test_a_later_write_never_moves_completed_at_nor_reopens_the_lesson(
    api: ApiHarness, course: Course, later: str
) -> None:
    first = recorded(api, course.lesson(0), "complete")

    after = recorded(api, course.lesson(0), later)

    assert after["status"] == "COMPLETED"
    assert after["completedAt"] == first["completedAt"]
    assert after["lastViewedAt"] > first["lastViewedAt"]
    assert after["viewCount"] == 2


def test_unknown_lesson_is_404(api: ApiHarness, course: Course) -> None:
    assert_problem(record(api, "no-such-lesson"), 404)


def test_progress_for_a_deleted_lesson_is_404(api: ApiHarness, course: Course) -> None:
    """Given a lesson the learner has viewed, when the instructor deletes it, then further progress on
    it is 404 (the lesson no longer exists)."""
    recorded(api, course.lesson(2))
    path = {"courseId": course.id, "lessonId": course.lesson(2)}
    assert api.call("delete_lesson", **INSTRUCTOR, path=path).status == 204

    assert_problem(record(api, course.lesson(2)), 404)
    assert_problem(record(api, course.lesson(2), "complete"), 404)


def test_learner_never_enrolled_is_403_and_nothing_is_stored(api: ApiHarness, course: Course) -> None:
    assert_problem(record(api, course.lesson(0), caller=OTHER_STUDENT), 403)

    assert ok(list_mine(api, OTHER_STUDENT))["items"] == []


@pytest.mark.parametrize("status", ["DROPPED", "SUSPENDED"])
def test_learner_without_an_active_enrollment_is_403_and_the_record_is_unchanged(
    api: ApiHarness, stepping_clock: SteppingClock, status: str
) -> None:
    """Given a learner who viewed a lesson and whose enrollment then became DROPPED (or SUSPENDED),
    when they record more progress, then it is 403 and the stored record is as before."""
    course = create_course(api)
    enrollment = enroll(api, course.id)
    before = recorded(api, course.lesson(0))
    set_enrollment_status(api, enrollment["id"], status)

    assert_problem(record(api, course.lesson(0)), 403)
    assert_problem(record(api, course.lesson(1), "complete"), 403)

    assert ok(list_mine(api))["items"] == [before]


def test_learner_whose_enrollment_was_deleted_is_403(api: ApiHarness, stepping_clock: SteppingClock) -> None:
    course = create_course(api)
    enrollment = enroll(api, course.id)
    assert api.call("delete_enrollment", **STUDENT, path={"id": enrollment["id"]}).status == 204

    assert_problem(record(api, course.lesson(0)), 403)


def test_learner_with_a_completed_enrollment_may_still_record_progress(
    api: ApiHarness, stepping_clock: SteppingClock
) -> None:
    """A COMPLETED enrollment is not ACTIVE, but completion is sticky and lessons may be added later,
    so the learner keeps access to the course (as Canvas and Open edX do)."""
    course = create_course(api)
    set_enrollment_status(api, enroll(api, course.id)["id"], "COMPLETED")

    assert ok(record(api, course.lesson(0)), 201)["viewCount"] == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"action": "skip"}, "action", id="action-unknown"),
        pytest.param({"action": "VIEW"}, "action", id="action-wrong-case"),
        pytest.param({"action": None}, "action", id="action-null"),
        pytest.param({"timeSpentSeconds": -1}, "timeSpentSeconds", id="time-negative"),
        pytest.param({"timeSpentSeconds": 86_401}, "timeSpentSeconds", id="time-over-a-day"),
        pytest.param({"timeSpentSeconds": "10"}, "timeSpentSeconds", id="time-as-string"),
        pytest.param({"timeSpentSeconds": 1.5}, "timeSpentSeconds", id="time-fraction"),
        pytest.param({"position": -1}, "position", id="position-negative"),
        pytest.param({"position": 2**31}, "position", id="position-over-32-bits"),
        pytest.param({"position": 10**40}, "position", id="position-10e40"),
        pytest.param({"position": 2**200}, "position", id="position-2e200"),
        pytest.param({"position": 10**130}, "position", id="position-beyond-dynamodb"),
        pytest.param({"timeSpentSeconds": 10**40}, "timeSpentSeconds", id="time-10e40"),
        pytest.param({"lessonId": ""}, "lessonId", id="lesson-empty"),
        pytest.param({"lessonId": 7}, "lessonId", id="lesson-as-number"),
        pytest.param({"userId": "student-2"}, "userId", id="unknown-field-userId"),
        pytest.param({"status": "COMPLETED"}, "status", id="unknown-field-status"),
    ],
)
def test_invalid_record_body_is_422_naming_the_field_and_stores_nothing(
    api: ApiHarness, course: Course, fields: dict[str, Any], field: str
) -> None:
    body = {"lessonId": course.lesson(0), "action": "view", **fields}

    problem = assert_problem(api.call("record_progress", **STUDENT, body=body), 422)

    assert any(entry["location"] == "body" and entry["field"] == field for entry in problem["errors"]), problem
    assert ok(list_mine(api))["items"] == []


def test_the_largest_position_is_stored(api: ApiHarness, course: Course) -> None:
    assert ok(record(api, course.lesson(0), position=2**31 - 1), 201)["position"] == 2**31 - 1


@pytest.mark.parametrize("fields", [{"position": 10**40}, {"position": 2**31}, {"timeSpentSeconds": 10**130}])
def test_a_number_out_of_bounds_in_a_patch_is_422_and_changes_nothing(
    api: ApiHarness, course: Course, fields: dict[str, Any]
) -> None:
    progress = ok(record(api, course.lesson(0), position=7), 201)

    problem = assert_problem(patch_progress(api, progress["id"], fields), 422)

    assert [entry["field"] for entry in problem["errors"]] == list(fields)
    assert ok(get_progress(api, progress["id"])) == progress


@pytest.mark.parametrize("missing", ["lessonId", "action"])
def test_record_body_missing_a_required_field_is_422(api: ApiHarness, course: Course, missing: str) -> None:
    body = {"lessonId": course.lesson(0), "action": "view"}
    del body[missing]

    problem = assert_problem(api.call("record_progress", **STUDENT, body=body), 422)

    assert [entry["field"] for entry in problem["errors"]] == [missing]


@pytest.mark.parametrize("raw", ['{"lessonId": ', "not json", "[1, 2"])
def test_malformed_json_is_400(api: ApiHarness, course: Course, raw: str) -> None:
    assert_problem(api.call("record_progress", **STUDENT, raw_body=raw), 400)


# ------------------------------------------------------------------------------------ concurrency
# Not with threads: moto rolls a cancelled TransactWriteItems back by restoring a copy of the whole
# table, which erases what other threads committed meanwhile (13 of 20 parallel views survived). So
# the stale-read race is staged deterministically here; 20 truly parallel views against DynamoDB
# Local belong to the integration suite.
class CompetingWrites:
    """A ProgressService over the real table whose repository lets another request land just before
    each of its first `racers` conditional writes: the stale-read race, made deterministic."""

    def __init__(self, racers: int, race: Callable[[], Any]) -> None:
        from lms import container
        from lms.repositories.courses import CourseRepository
        from lms.repositories.progress import ProgressRepository
        from lms.services.progress import ProgressService

        table = container.table()
        self.races_left = racers

        outer = self

        class RacingRepository(ProgressRepository):
            def save(self, changed: Any, expected_version: int, **options: Any) -> None:
                if outer.races_left:
                    outer.races_left -= 1
                    race()
                super().save(changed, expected_version, **options)

        self.service = ProgressService(RacingRepository(table), CourseRepository(table))


def student_identity() -> Any:
    from lms.identity import Identity, Role

    return Identity(user_id=STUDENT["user"], roles=frozenset({Role.STUDENT}))


@pytest.mark.parametrize("existing", [False, True], ids=["first-write-races", "update-races"])
def test_a_view_that_read_a_stale_record_retries_and_loses_nothing(
    api: ApiHarness, course: Course, existing: bool
) -> None:
    """Given a write whose read is overtaken by another view (before the record exists, or after),
    when it saves, then its conditional write fails, it re-reads and retries: both views count, both
    times add up, and there is still one record with one id."""
    from lms.models.progress import ProgressRecord

    lesson = course.lesson(0)
    if existing:
        recorded(api, lesson, timeSpentSeconds=1)
    competitor: list[dict[str, Any]] = []
    racing = CompetingWrites(1, lambda: competitor.append(recorded(api, lesson, timeSpentSeconds=7)))
    activity = ProgressRecord.model_validate({"lessonId": lesson, "action": "view", "timeSpentSeconds": 5})

    outcome = racing.service.record(student_identity(), activity)

    assert racing.races_left == 0
    assert len(competitor) == 1
    assert outcome.created is False  # the competitor created it (or it existed)
    stored = ok(list_mine(api))["items"]
    assert len(stored) == 1
    assert stored[0]["id"] == outcome.progress.id == competitor[0]["id"]
    assert stored[0]["viewCount"] == 2 + existing
    assert stored[0]["timeSpentSeconds"] == 12 + existing


def test_a_completion_racing_a_view_keeps_the_completion_and_both_views(api: ApiHarness, course: Course) -> None:
    from lms.models.progress import ProgressRecord

    lesson = course.lesson(0)
    recorded(api, lesson)
    racing = CompetingWrites(3, lambda: recorded(api, lesson))

    outcome = racing.service.record(
        student_identity(), ProgressRecord.model_validate({"lessonId": lesson, "action": "complete"})
    )

    assert racing.races_left == 0  # lost three times in a row, then won
    stored = ok(list_mine(api))["items"][0]
    assert stored["viewCount"] == 5
    assert stored["status"] == "COMPLETED"
    assert stored["completedAt"] == outcome.progress.completed_at


def test_a_patch_that_read_a_stale_record_retries_and_keeps_the_concurrent_view(
    api: ApiHarness, course: Course
) -> None:
    from lms.models.progress import ProgressUpdate

    progress_id = recorded(api, course.lesson(0))["id"]
    racing = CompetingWrites(1, lambda: recorded(api, course.lesson(0), timeSpentSeconds=3))

    updated = racing.service.update(student_identity(), progress_id, ProgressUpdate.model_validate({"position": 42}))

    assert racing.races_left == 0
    stored = ok(get_progress(api, progress_id))
    assert stored == updated.model_dump(by_alias=True, mode="json")
    assert (stored["viewCount"], stored["timeSpentSeconds"], stored["position"]) == (2, 3, 42)


# ---------------------------------------------------------------------------------- GET /progress
@pytest.fixture
def two_courses(api: ApiHarness, course: Course) -> tuple[Course, Course]:
    """STUDENT has records in two courses (two in the first, one completed in the second);
    OTHER_STUDENT has one in the first."""
    second = create_course(api, {"title": "Networks", "modules": [{"title": "M", "lessons": [{"title": "TCP"}]}]})
    enroll(api, second.id)
    enroll(api, course.id, OTHER_STUDENT)
    recorded(api, course.lesson(0))
    recorded(api, course.lesson(1))
    recorded(api, second.lesson(0), "complete")
    recorded(api, course.lesson(0), caller=OTHER_STUDENT)
    return course, second


def test_list_returns_only_the_callers_records_across_courses(
    api: ApiHarness, two_courses: tuple[Course, Course]
) -> None:
    first, second = two_courses

    body = ok(list_mine(api))

    assert owners_and_lessons(body["items"]) == {
        ("student-1", first.lesson(0)),
        ("student-1", first.lesson(1)),
        ("student-1", second.lesson(0)),
    }
    assert body["nextCursor"] is None
    assert owners_and_lessons(ok(list_mine(api, OTHER_STUDENT))["items"]) == {("student-2", first.lesson(0))}


@pytest.mark.parametrize(("status", "expected"), [("IN_PROGRESS", 2), ("COMPLETED", 1)])
def test_list_filters_by_status(
    api: ApiHarness, two_courses: tuple[Course, Course], status: str, expected: int
) -> None:
    items = ok(list_mine(api, status=status))["items"]

    assert len(items) == expected
    assert {item["status"] for item in items} == {status}


@pytest.mark.parametrize("status", ["DONE", "completed", ""])
def test_list_with_an_unknown_status_is_400(api: ApiHarness, course: Course, status: str) -> None:
    assert_problem(list_mine(api, status=status), 400)


def test_admin_lists_another_users_records_with_user_id(api: ApiHarness, two_courses: tuple[Course, Course]) -> None:
    items = ok(list_mine(api, ADMIN, userId="student-2"))["items"]

    assert owners_and_lessons(items) == {("student-2", two_courses[0].lesson(0))}


@pytest.mark.parametrize("caller", [OTHER_STUDENT, INSTRUCTOR], ids=["student", "course-instructor"])
def test_non_admin_asking_for_another_users_records_is_403(
    api: ApiHarness, two_courses: tuple[Course, Course], caller: dict[str, str]
) -> None:
    assert_problem(list_mine(api, caller, userId="student-1"), 403)


def test_passing_ones_own_user_id_is_allowed(api: ApiHarness, two_courses: tuple[Course, Course]) -> None:
    assert len(ok(list_mine(api, userId="student-1"))["items"]) == 3


def walk_pages(fetch: Callable[..., Reply], limit: str = "1", **query: str) -> list[dict[str, Any]]:
    """Every item, at most `limit` per page, following nextCursor until it is null (a course's list
    reads its index shards a few at a time: pages may come short)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(40):
        body = ok(fetch(limit=limit, **query, **({"cursor": cursor} if cursor else {})))
        assert len(body["items"]) <= int(limit)
        items += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def every_page(fetch: Callable[..., Reply]) -> list[dict[str, Any]]:
    """Every item of a listing with the default page size."""
    return walk_pages(fetch, limit="20")


def test_list_pages_with_limit_one_until_next_cursor_is_null(
    api: ApiHarness, two_courses: tuple[Course, Course]
) -> None:
    paged = walk_pages(lambda **query: list_mine(api, **query))

    assert len(paged) == 3
    assert sorted(item["id"] for item in paged) == sorted(item["id"] for item in ok(list_mine(api))["items"])


@pytest.mark.parametrize(
    "replay",
    [
        pytest.param(lambda api, cursor: list_mine(api, limit="1", cursor=tampered(cursor)), id="tampered"),
        pytest.param(lambda api, cursor: list_mine(api, limit="1", cursor=cursor[:-3]), id="truncated"),
        pytest.param(lambda api, cursor: list_mine(api, limit="1", cursor="garbage"), id="garbage"),
        pytest.param(
            lambda api, cursor: list_mine(api, limit="1", cursor=cursor, status="COMPLETED"), id="other-filter"
        ),
        pytest.param(lambda api, cursor: list_mine(api, OTHER_STUDENT, limit="1", cursor=cursor), id="other-caller"),
        pytest.param(
            lambda api, cursor: list_mine(api, ADMIN, limit="1", cursor=cursor, userId="student-1"), id="admin-replay"
        ),
    ],
)
def test_a_cursor_that_was_altered_or_belongs_to_another_query_is_400(
    api: ApiHarness, two_courses: tuple[Course, Course], replay: Callable[[ApiHarness, str], Reply]
) -> None:
    cursor = ok(list_mine(api, limit="1"))["nextCursor"]
    assert cursor

    assert_problem(replay(api, cursor), 400)


# ----------------------------------------------------------------------- GET /progress/course/{id}
@pytest.fixture
def classroom(api: ApiHarness, course: Course) -> Course:
    """STUDENT (two records), OTHER_STUDENT (one completed) and OTHER_INSTRUCTOR, enrolled as a
    learner (one record), all in `course`; STUDENT also has a record in another course."""
    enroll(api, course.id, OTHER_STUDENT)
    enroll(api, course.id, OTHER_INSTRUCTOR)
    recorded(api, course.lesson(0))
    recorded(api, course.lesson(3))
    recorded(api, course.lesson(0), "complete", caller=OTHER_STUDENT)
    recorded(api, course.lesson(2), caller=OTHER_INSTRUCTOR)
    elsewhere = create_course(api, {"title": "Elsewhere", "modules": [{"title": "M", "lessons": [{"title": "L"}]}]})
    enroll(api, elsewhere.id)
    recorded(api, elsewhere.lesson(0))
    return course


def everyone_in(course: Course) -> set[tuple[str, str]]:
    return {
        ("student-1", course.lesson(0)),
        ("student-1", course.lesson(3)),
        ("student-2", course.lesson(0)),
        ("inst-2", course.lesson(2)),
    }


def test_student_sees_only_their_own_records_in_the_course(api: ApiHarness, classroom: Course) -> None:
    items = ok(list_course(api, classroom.id))["items"]

    assert owners_and_lessons(items) == {("student-1", classroom.lesson(0)), ("student-1", classroom.lesson(3))}


@pytest.mark.parametrize("staff", [INSTRUCTOR, ADMIN], ids=["course-instructor", "admin"])
def test_staff_see_every_learners_records_in_the_course(
    api: ApiHarness, classroom: Course, staff: dict[str, str]
) -> None:
    assert owners_and_lessons(every_page(lambda **query: list_course(api, classroom.id, staff, **query))) == (
        everyone_in(classroom)
    )


@pytest.mark.parametrize("staff", [INSTRUCTOR, ADMIN], ids=["course-instructor", "admin"])
@pytest.mark.parametrize("learner", ["student-1", "student-2", "nobody"])
def test_staff_see_one_learners_records_with_user_id(
    api: ApiHarness, classroom: Course, staff: dict[str, str], learner: str
) -> None:
    items = ok(list_course(api, classroom.id, staff, userId=learner))["items"]

    assert owners_and_lessons(items) == {entry for entry in everyone_in(classroom) if entry[0] == learner}


def test_a_crafted_sub_never_shows_under_another_learner(api: ApiHarness, course: Course) -> None:
    """Unencoded, learner `a#b`'s records (USER#a#b#<lesson>) would match learner `a`'s prefix USER#a#."""
    plain, crafted = {"user": "a", "roles": "student"}, {"user": "a#b", "roles": "student"}
    for learner in (plain, crafted):
        enroll(api, course.id, learner)
        recorded(api, course.lesson(0), caller=learner)

    for learner in (plain, crafted):
        items = ok(list_course(api, course.id, INSTRUCTOR, userId=learner["user"]))["items"]
        assert owners_and_lessons(items) == {(learner["user"], course.lesson(0))}


def test_staff_filter_the_course_by_status(api: ApiHarness, classroom: Course) -> None:
    items = every_page(lambda **query: list_course(api, classroom.id, INSTRUCTOR, status="COMPLETED", **query))

    assert owners_and_lessons(items) == {("student-2", classroom.lesson(0))}


def test_instructor_of_another_course_sees_only_their_own_records_like_a_student(
    api: ApiHarness, classroom: Course
) -> None:
    items = ok(list_course(api, classroom.id, OTHER_INSTRUCTOR))["items"]

    assert owners_and_lessons(items) == {("inst-2", classroom.lesson(2))}
    assert_problem(list_course(api, classroom.id, OTHER_INSTRUCTOR, userId="student-1"), 403)


def test_student_asking_for_another_learner_in_the_course_is_403(api: ApiHarness, classroom: Course) -> None:
    assert_problem(list_course(api, classroom.id, userId="student-2"), 403)


@pytest.mark.parametrize("caller", [STUDENT, INSTRUCTOR, ADMIN], ids=["student", "instructor", "admin"])
def test_course_list_for_an_unknown_course_is_404(api: ApiHarness, course: Course, caller: dict[str, str]) -> None:
    assert_problem(list_course(api, "no-such-course", caller), 404)


def test_course_list_pages_across_learners_and_rejects_a_cursor_from_another_course(
    api: ApiHarness, classroom: Course
) -> None:
    paged = walk_pages(lambda **query: list_course(api, classroom.id, INSTRUCTOR, **query))

    assert owners_and_lessons(paged) == everyone_in(classroom)
    assert len(paged) == 4
    cursor = ok(list_course(api, classroom.id, INSTRUCTOR, limit="1"))["nextCursor"]
    assert_problem(list_course(api, classroom.id, INSTRUCTOR, limit="1", cursor=tampered(cursor)), 400)
    assert_problem(list_course(api, classroom.id, ADMIN, limit="1", cursor=cursor), 400)


@pytest.mark.parametrize("status", ["FINISHED", "in_progress"])
def test_course_list_with_an_unknown_status_is_400(api: ApiHarness, course: Course, status: str) -> None:
    assert_problem(list_course(api, course.id, INSTRUCTOR, status=status), 400)


# ------------------------------------------------------------------------------ GET /progress/{id}
@pytest.fixture
def viewed(api: ApiHarness, course: Course) -> dict[str, Any]:
    """STUDENT's record of the first lesson, and OTHER_STUDENT enrolled alongside."""
    enroll(api, course.id, OTHER_STUDENT)
    return recorded(api, course.lesson(0), timeSpentSeconds=12, position=3)


@pytest.mark.parametrize("caller", [STUDENT, INSTRUCTOR, ADMIN], ids=["owner", "course-instructor", "admin"])
def test_owner_course_instructor_and_admin_read_a_record(
    api: ApiHarness, viewed: dict[str, Any], caller: dict[str, str]
) -> None:
    assert ok(get_progress(api, viewed["id"], caller)) == viewed


@pytest.mark.parametrize("caller", [OTHER_STUDENT, OTHER_INSTRUCTOR], ids=["other-student", "other-instructor"])
def test_anyone_else_reading_a_record_gets_404(api: ApiHarness, viewed: dict[str, Any], caller: dict[str, str]) -> None:
    assert_problem(get_progress(api, viewed["id"], caller), 404)


@pytest.mark.parametrize("caller", [STUDENT, ADMIN], ids=["student", "admin"])
def test_unknown_progress_id_is_404(api: ApiHarness, course: Course, caller: dict[str, str]) -> None:
    assert_problem(get_progress(api, "01jd0000000000000000000099", caller), 404)


# ---------------------------------------------------------------------------- PATCH /progress/{id}
def test_owner_completes_a_lesson_by_patch(api: ApiHarness, viewed: dict[str, Any]) -> None:
    body = ok(patch_progress(api, viewed["id"], {"status": "COMPLETED"}))

    assert body["status"] == "COMPLETED"
    assert body["completedAt"] == body["updatedAt"]
    assert body["updatedAt"] > viewed["updatedAt"]
    assert (body["viewCount"], body["lastViewedAt"]) == (viewed["viewCount"], viewed["lastViewedAt"])
    assert ok(get_progress(api, viewed["id"])) == body


def test_completing_an_already_completed_lesson_keeps_completed_at(api: ApiHarness, course: Course) -> None:
    completed = recorded(api, course.lesson(0), "complete")

    body = ok(patch_progress(api, completed["id"], {"status": "COMPLETED"}))

    assert body == completed


def test_owner_may_not_reopen_a_completed_lesson_and_nothing_changes(api: ApiHarness, course: Course) -> None:
    completed = recorded(api, course.lesson(0), "complete")

    assert_problem(patch_progress(api, completed["id"], {"status": "IN_PROGRESS", "position": 7}), 403)

    assert ok(get_progress(api, completed["id"])) == completed


@pytest.mark.parametrize("staff", [INSTRUCTOR, ADMIN], ids=["course-instructor", "admin"])
def test_staff_reset_a_completed_lesson_which_clears_completed_at(
    api: ApiHarness, course: Course, staff: dict[str, str]
) -> None:
    completed = recorded(api, course.lesson(0), "complete")

    body = ok(patch_progress(api, completed["id"], {"status": "IN_PROGRESS"}, staff))

    assert body["status"] == "IN_PROGRESS"
    assert body["completedAt"] is None
    assert body["viewCount"] == completed["viewCount"]
    assert ok(get_progress(api, completed["id"])) == body
    again = recorded(api, course.lesson(0), "complete")
    assert again["completedAt"] > completed["completedAt"]


def test_setting_in_progress_on_an_unfinished_lesson_is_a_no_op_for_the_owner(
    api: ApiHarness, viewed: dict[str, Any]
) -> None:
    assert ok(patch_progress(api, viewed["id"], {"status": "IN_PROGRESS"})) == viewed


@pytest.mark.parametrize("caller", [STUDENT, INSTRUCTOR, ADMIN], ids=["owner", "course-instructor", "admin"])
def test_patch_replaces_time_spent_and_position(
    api: ApiHarness, viewed: dict[str, Any], caller: dict[str, str]
) -> None:
    body = ok(patch_progress(api, viewed["id"], {"timeSpentSeconds": 600, "position": 0}, caller))

    assert (body["timeSpentSeconds"], body["position"]) == (600, 0)
    assert (body["status"], body["viewCount"]) == ("IN_PROGRESS", 1)
    assert ok(get_progress(api, viewed["id"])) == body


@pytest.mark.parametrize("caller", [OTHER_STUDENT, OTHER_INSTRUCTOR], ids=["other-student", "other-instructor"])
def test_anyone_else_patching_a_record_gets_404_and_nothing_changes(
    api: ApiHarness, viewed: dict[str, Any], caller: dict[str, str]
) -> None:
    assert_problem(patch_progress(api, viewed["id"], {"status": "COMPLETED"}, caller), 404)

    assert ok(get_progress(api, viewed["id"])) == viewed


@pytest.mark.parametrize("status", ["DROPPED", "SUSPENDED"])
def test_learner_without_an_active_enrollment_may_not_patch_but_staff_still_may(
    api: ApiHarness, stepping_clock: SteppingClock, status: str
) -> None:
    """Given a learner whose enrollment is no longer active, when they PATCH their record, then it is
    403 and nothing changes (PATCH may not bypass POST's enrollment rule); the course instructor can
    still edit it."""
    course = create_course(api)
    enrollment = enroll(api, course.id)
    viewed = recorded(api, course.lesson(0))
    set_enrollment_status(api, enrollment["id"], status)

    assert_problem(patch_progress(api, viewed["id"], {"status": "COMPLETED"}), 403)
    assert_problem(patch_progress(api, viewed["id"], {"position": 4}), 403)

    assert ok(get_progress(api, viewed["id"])) == viewed
    assert ok(patch_progress(api, viewed["id"], {"position": 4}, INSTRUCTOR))["position"] == 4


def test_patching_an_unknown_record_is_404(api: ApiHarness, course: Course) -> None:
    assert_problem(patch_progress(api, "01jd0000000000000000000099", {"position": 1}), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"viewCount": 9}, "viewCount", id="unknown-field"),
        pytest.param({"completedAt": "2026-01-01T00:00:00.000Z"}, "completedAt", id="read-only-field"),
        pytest.param({"status": "DONE"}, "status", id="status-unknown"),
        pytest.param({"timeSpentSeconds": -1}, "timeSpentSeconds", id="time-negative"),
        pytest.param({"timeSpentSeconds": "60"}, "timeSpentSeconds", id="time-as-string"),
        pytest.param({"position": -1}, "position", id="position-negative"),
        pytest.param({"position": 2**31}, "position", id="position-over-32-bits"),
        pytest.param({"position": 10**40}, "position", id="position-10e40"),
        pytest.param({"position": 2**200}, "position", id="position-2e200"),
        pytest.param({"position": 10**130}, "position", id="position-beyond-dynamodb"),
        pytest.param({"timeSpentSeconds": 10**40}, "timeSpentSeconds", id="time-10e40"),
    ],
)
def test_invalid_patch_is_422_naming_the_field_and_nothing_changes(
    api: ApiHarness, viewed: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(patch_progress(api, viewed["id"], body), 422)

    assert any(entry["location"] == "body" and entry["field"] == field for entry in problem["errors"]), problem
    assert ok(get_progress(api, viewed["id"])) == viewed


def test_empty_patch_is_a_no_op_200(api: ApiHarness, viewed: dict[str, Any]) -> None:
    assert ok(patch_progress(api, viewed["id"], {})) == viewed
    assert ok(get_progress(api, viewed["id"])) == viewed


def test_malformed_patch_json_is_400(api: ApiHarness, viewed: dict[str, Any]) -> None:
    reply = api.call("update_progress", **STUDENT, path={"id": viewed["id"]}, raw_body="{status")

    assert_problem(reply, 400)
