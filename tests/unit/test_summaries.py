"""Learner summaries and course aggregates, through the routes and the table stream.

Every write goes through the handlers; `stream.drain()` then delivers the table's stream records to
the summarizer, and GET /progress/course/{courseId}/summary reads what it stored.

The course (OUTLINE from tests/conftest.py) in outline order, index: lesson (module):
  0 Pages (Storage, required) 1 Extra reading (Storage, optional) 2 Logs (Storage, required)
  3 Joins (Queries, required); module Extras has no lessons. Three required lessons.
"""

from typing import Any

import pytest

from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    OTHER_INSTRUCTOR,
    OTHER_STUDENT,
    STUDENT,
    THIRD_STUDENT,
    ApiHarness,
    Course,
    Reply,
    SteppingClock,
    StreamHarness,
    assert_problem,
    create_course,
    enroll,
    ok,
    recorded,
)

# (completedLessons, requiredLessons, percent) of the modules Storage, Queries, Extras.
NOTHING_DONE = [(0, 2, 0), (0, 1, 0), (0, 0, 0)]


# ------------------------------------------------------------------------------------------ helpers
def summary(api: ApiHarness, course_id: str, caller: dict[str, str] = STUDENT, **query: str) -> Reply:
    return api.call("get_progress_summary", **caller, path={"courseId": course_id}, query=query or None)


def summary_of(api: ApiHarness, course_id: str, caller: dict[str, str] = STUDENT, **query: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(summary(api, course_id, caller, **query))
    return body


def enrollment_of(api: ApiHarness, enrollment_id: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(api.call("get_enrollment", **ADMIN, path={"id": enrollment_id}))
    return body


def complete(api: ApiHarness, course: Course, *indexes: int, caller: dict[str, str] = STUDENT) -> list[dict[str, Any]]:
    return [recorded(api, course.lesson(index), "complete", caller) for index in indexes]


def modules_of(body: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [(m["completedLessons"], m["requiredLessons"], m["percent"]) for m in body["modules"]]


def add_lesson(api: ApiHarness, course: Course, module_index: int, required: bool) -> str:
    path = {"courseId": course.id, "moduleId": course.module_ids[module_index]}
    reply = api.call("create_lesson", **INSTRUCTOR, path=path, body={"title": "Added later", "required": required})
    lesson_id: str = ok(reply, 201)["id"]
    return lesson_id


def delete_lesson(api: ApiHarness, course: Course, index: int) -> None:
    path = {"courseId": course.id, "lessonId": course.lesson(index)}
    assert api.call("delete_lesson", **INSTRUCTOR, path=path).status == 204


def aggregate_of(api: ApiHarness, course_id: str, caller: dict[str, str] = INSTRUCTOR) -> dict[str, Any]:
    body = summary_of(api, course_id, caller)
    assert set(body) == {"courseId", "enrolled", "active", "completed", "expired", "averagePercent", "updatedAt"}
    return body


def counts(aggregate: dict[str, Any]) -> tuple[int, int, int, float]:
    return aggregate["enrolled"], aggregate["active"], aggregate["completed"], aggregate["averagePercent"]


@pytest.fixture
def enrollment(api: ApiHarness, stepping_clock: SteppingClock) -> tuple[Course, dict[str, Any]]:
    """The OUTLINE course with STUDENT enrolled, and STUDENT's enrollment."""
    created = create_course(api)
    return created, enroll(api, created.id)


# ------------------------------------------------------------------------------- learner summary
def test_before_the_stream_computes_a_summary_the_read_computes_it_with_the_same_rules(
    api: ApiHarness,
    stream: StreamHarness,
    course: Course,
) -> None:
    """Given a learner who completed and viewed lessons that the stream has not processed yet, when
    the learner reads the summary, then it is computed from the records with the stream's rules (not
    zeros), is not stored (updatedAt null), and equals what the stream then stores."""
    complete(api, course, 0, 3)
    recorded(api, course.lesson(1))

    on_read = summary_of(api, course.id)

    assert on_read["userId"] == "student-1"
    assert on_read["courseId"] == course.id
    assert (on_read["percent"], on_read["completedLessons"], on_read["requiredLessons"]) == (66, 2, 3)
    assert on_read["viewedLessons"] == 3
    assert modules_of(on_read) == [(1, 2, 50), (1, 1, 100), (0, 0, 0)]
    assert on_read["nextLessonId"] == course.lesson(2)
    assert on_read["lastAccessed"]["lessonId"] == course.lesson(1)
    assert (on_read["completedAt"], on_read["updatedAt"]) == (None, None)
    stream.drain()
    stored = summary_of(api, course.id)
    assert stored["updatedAt"]
    assert {**stored, "updatedAt": None} == on_read


def test_before_any_activity_the_summary_read_lists_the_modules_and_the_first_lesson(
    api: ApiHarness,
    course: Course,
) -> None:
    body = summary_of(api, course.id)

    assert modules_of(body) == NOTHING_DONE
    assert (body["percent"], body["completedLessons"], body["requiredLessons"], body["viewedLessons"]) == (0, 0, 3, 0)
    assert body["nextLessonId"] == course.lesson(0)
    assert (body["lastAccessed"], body["completedAt"], body["updatedAt"]) == (None, None, None)


def test_after_enrolling_the_summary_lists_every_module_and_points_at_the_first_lesson(
    api: ApiHarness,
    stream: StreamHarness,
    course: Course,
) -> None:
    stream.drain()

    body = summary_of(api, course.id)

    assert [m["moduleId"] for m in body["modules"]] == course.module_ids
    assert modules_of(body) == NOTHING_DONE
    assert (body["percent"], body["completedLessons"], body["requiredLessons"]) == (0, 0, 3)
    assert body["nextLessonId"] == course.lesson(0)
    assert body["updatedAt"]


@pytest.mark.parametrize(
    ("completed", "percent", "next_index", "modules"),
    [
        pytest.param((0,), 33, 2, [(1, 2, 50), (0, 1, 0), (0, 0, 0)], id="first-of-three-floors-to-33"),
        pytest.param((2,), 33, 0, [(1, 2, 50), (0, 1, 0), (0, 0, 0)], id="next-is-earliest-open-lesson"),
        pytest.param((3,), 33, 0, [(0, 2, 0), (1, 1, 100), (0, 0, 0)], id="later-module-first"),
        pytest.param((1,), 0, 0, NOTHING_DONE, id="optional-lesson-does-not-count"),
        pytest.param((0, 1), 33, 2, [(1, 2, 50), (0, 1, 0), (0, 0, 0)], id="optional-skipped-as-next"),
        pytest.param((0, 3), 66, 2, [(1, 2, 50), (1, 1, 100), (0, 0, 0)], id="two-of-three-floors-to-66"),
        pytest.param((0, 2, 3), 100, None, [(2, 2, 100), (1, 1, 100), (0, 0, 0)], id="all-required-done"),
    ],
)
def test_summary_counts_required_completions_floors_the_percent_and_finds_the_next_lesson(
    api: ApiHarness,
    stream: StreamHarness,
    course: Course,
    completed: tuple[int, ...],
    percent: int,
    next_index: int | None,
    modules: list[tuple[int, int, int]],
) -> None:
    """Given some lessons completed (in any order), when the stream settles, then percent is
    floor(100 x required done / required), optional lessons count as viewed but not as completed,
    modules are summarised in outline order, and nextLessonId is the first open required lesson."""
    complete(api, course, *completed)
    stream.drain()

    body = summary_of(api, course.id)

    assert body["percent"] == percent
    assert body["completedLessons"] == sum(1 for index in completed if course.required[index])
    assert body["requiredLessons"] == 3
    assert body["viewedLessons"] == len(completed)
    assert [m["moduleId"] for m in body["modules"]] == course.module_ids
    assert modules_of(body) == modules
    assert body["nextLessonId"] == (None if next_index is None else course.lesson(next_index))


def test_viewed_lessons_and_last_accessed_follow_the_learners_views(
    api: ApiHarness,
    stream: StreamHarness,
    course: Course,
) -> None:
    """Views count once per lesson (optional ones too); lastAccessed is the most recently viewed lesson
    with its lastViewedAt, even when that is a lesson viewed before."""
    recorded(api, course.lesson(1))
    complete(api, course, 0)
    latest = recorded(api, course.lesson(3))
    stream.drain()

    body = summary_of(api, course.id)
    assert (body["viewedLessons"], body["completedLessons"]) == (3, 1)
    assert body["lastAccessed"] == {"lessonId": course.lesson(3), "at": latest["lastViewedAt"]}

    revisit = recorded(api, course.lesson(1))
    stream.drain()

    body = summary_of(api, course.id)
    assert body["viewedLessons"] == 3
    assert body["lastAccessed"] == {"lessonId": course.lesson(1), "at": revisit["lastViewedAt"]}


def test_summary_is_maintained_by_the_stream_not_computed_on_read(
    api: ApiHarness,
    stream: StreamHarness,
    course: Course,
) -> None:
    stream.drain()
    settled = summary_of(api, course.id)
    complete(api, course, 0)

    assert summary_of(api, course.id) == settled  # not caught up until the stream delivers
    stream.drain()
    assert summary_of(api, course.id)["percent"] == 33


def test_course_without_required_lessons_stays_at_zero_percent_and_never_completes(
    api: ApiHarness, stream: StreamHarness, stepping_clock: SteppingClock
) -> None:
    optional = create_course(
        api, {"title": "Electives", "modules": [{"title": "M", "lessons": [{"title": "L", "required": False}]}]}
    )
    enrolled = enroll(api, optional.id)
    complete(api, optional, 0)
    stream.drain()

    body = summary_of(api, optional.id)

    assert (body["percent"], body["completedLessons"], body["requiredLessons"]) == (0, 0, 0)
    assert (body["viewedLessons"], body["nextLessonId"], body["completedAt"]) == (1, None, None)
    assert modules_of(body) == [(0, 0, 0)]
    assert enrollment_of(api, enrolled["id"])["status"] == "ACTIVE"


# ---------------------------------------------------------------------------------------- completion
def test_partial_progress_is_copied_to_the_enrollment_which_stays_active(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    course, enrolled = enrollment
    complete(api, course, 0, 3)
    stream.drain()

    body = enrollment_of(api, enrolled["id"])

    assert body["progress"] == {"percent": 66, "completedLessons": 2, "requiredLessons": 3}
    assert (body["status"], body["completedAt"]) == ("ACTIVE", None)
    assert summary_of(api, course.id)["completedAt"] is None


def test_reaching_100_percent_completes_the_summary_and_the_enrollment(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    """Given every required lesson completed (the optional one skipped), when the stream settles, then
    the summary's completedAt is the moment the last required lesson was completed, and the
    enrollment is COMPLETED at that moment with the final progress and a new version."""
    course, enrolled = enrollment
    *_, last = complete(api, course, 3, 0, 2)
    stream.drain()

    body = summary_of(api, course.id)
    assert (body["percent"], body["nextLessonId"]) == (100, None)
    assert body["completedAt"] == last["completedAt"]
    after = enrollment_of(api, enrolled["id"])
    assert after["status"] == "COMPLETED"
    assert after["completedAt"] == last["completedAt"]
    assert after["progress"] == {"percent": 100, "completedLessons": 3, "requiredLessons": 3}
    assert after["version"] > enrolled["version"]


@pytest.mark.parametrize(("required", "percent", "required_lessons"), [(True, 75, 4), (False, 100, 3)])
def test_completion_is_sticky_when_a_lesson_is_added_later(
    api: ApiHarness,
    stream: StreamHarness,
    enrollment: tuple[Course, dict[str, Any]],
    required: bool,
    percent: int,
    required_lessons: int,
) -> None:
    """Given a completed course, when the instructor adds a lesson, then every learner's summary
    follows without anyone asking: a required lesson lowers the percent and becomes the next lesson,
    but neither the summary's nor the enrollment's completion is undone or moved."""
    course, enrolled = enrollment
    complete(api, course, 0, 2, 3)
    stream.drain()
    completed = enrollment_of(api, enrolled["id"])

    added = add_lesson(api, course, 1, required)
    stream.drain()

    body = summary_of(api, course.id)
    assert (body["percent"], body["completedLessons"], body["requiredLessons"]) == (percent, 3, required_lessons)
    assert body["nextLessonId"] == (added if required else None)
    assert body["completedAt"] == completed["completedAt"]
    after = enrollment_of(api, enrolled["id"])
    assert (after["status"], after["completedAt"]) == ("COMPLETED", completed["completedAt"])
    assert after["progress"] == {"percent": percent, "completedLessons": 3, "requiredLessons": required_lessons}


def test_completing_a_lesson_added_after_completion_returns_to_100_with_the_original_date(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    course, enrolled = enrollment
    complete(api, course, 0, 2, 3)
    stream.drain()
    first_completion = summary_of(api, course.id)["completedAt"]
    added = add_lesson(api, course, 2, required=True)
    stream.drain()

    recorded(api, added, "complete")  # a COMPLETED enrollment may still record progress
    stream.drain()

    body = summary_of(api, course.id)
    assert (body["percent"], body["completedLessons"], body["requiredLessons"]) == (100, 4, 4)
    assert body["completedAt"] == first_completion
    assert enrollment_of(api, enrolled["id"])["completedAt"] == first_completion


# ------------------------------------------------------------ the completion rule on every path
@pytest.fixture
def one_clock(api: ApiHarness, stepping_clock: SteppingClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The enrollment handlers on the progress handlers' clock: a reopening and the completions
    around it are ordered as they happen."""
    from lms import container

    service = container.enrollment_service(clock=stepping_clock)
    api.wire(monkeypatch, "enrollments", service, "update_enrollment", "create_enrollment")


def set_status(api: ApiHarness, enrollment_id: str, status: str, caller: dict[str, str] = STUDENT) -> dict[str, Any]:
    body: dict[str, Any] = ok(
        api.call("update_enrollment", **caller, path={"id": enrollment_id}, body={"status": status})
    )
    return body


def completed_ids(api: ApiHarness, course: Course) -> tuple[list[str], list[str]]:
    """The COMPLETED enrollments by `?status=COMPLETED`: the course's (staff), and the learner's own."""
    query = {"status": "COMPLETED"}
    staff = ok(api.call("list_course_enrollments", **INSTRUCTOR, path={"courseId": course.id}, query=query))
    own = ok(api.call("list_enrollments", **STUDENT, query=query))
    return [item["id"] for item in staff["items"]], [item["id"] for item in own["items"]]


def test_a_completed_learner_who_drops_and_comes_back_is_completed_again(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], one_clock: None
) -> None:
    """GIVEN a learner who completed the course (counted completed), WHEN they drop it and come back
    (PATCH ACTIVE), THEN the answer and the stored enrollment are COMPLETED with the first
    completedAt, the aggregate counts them completed, not active, and `?status=COMPLETED` finds them
    (defect 2a)."""
    course, enrolled = enrollment
    complete(api, course, 0, 2, 3)
    stream.drain()
    first = enrollment_of(api, enrolled["id"])
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 100)
    set_status(api, enrolled["id"], "DROPPED")
    stream.drain()
    assert counts(aggregate_of(api, course.id)) == (1, 0, 0, 100)

    back = set_status(api, enrolled["id"], "ACTIVE")
    stream.drain()

    assert (back["status"], back["completedAt"], back["completedBy"]) == (
        "COMPLETED",
        first["completedAt"],
        "student-1",
    )
    assert enrollment_of(api, enrolled["id"])["status"] == "COMPLETED"
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 100)
    assert completed_ids(api, course) == ([enrolled["id"]], [enrolled["id"]])


def test_a_completed_learner_who_drops_and_enrolls_again_is_completed_again(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], one_clock: None
) -> None:
    """GIVEN a learner who completed the course and dropped it, WHEN they POST /enrollments again,
    THEN the same enrollment comes back (200) COMPLETED with the first completedAt. (moto's stream
    loses the writes after a cancelled transaction; the aggregate on this path is checked over HTTP
    on DynamoDB Local, tests/integration/test_progress_http.py.)"""
    course, enrolled = enrollment
    complete(api, course, 0, 2, 3)
    stream.drain()
    first = enrollment_of(api, enrolled["id"])
    set_status(api, enrolled["id"], "DROPPED")

    back = ok(api.call("create_enrollment", **STUDENT, body={"courseId": course.id}))

    assert (back["id"], back["status"], back["completedAt"]) == (enrolled["id"], "COMPLETED", first["completedAt"])
    assert enrollment_of(api, enrolled["id"])["status"] == "COMPLETED"


def test_staff_completed_then_active_then_the_learner_completing_everything_completes_it(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], one_clock: None
) -> None:
    """GIVEN staff set a learner's enrollment COMPLETED at 0 %, then ACTIVE, WHEN the learner
    completes every required lesson, THEN it is COMPLETED by the learner, completedAt still the
    staff's first marking, counted completed, and found by `?status=COMPLETED` (defect 2b)."""
    course, enrolled = enrollment
    marked = set_status(api, enrolled["id"], "COMPLETED", INSTRUCTOR)
    assert (marked["completedBy"], marked["progress"]["percent"]) == ("inst-1", 0)
    reopened = set_status(api, enrolled["id"], "ACTIVE", INSTRUCTOR)
    assert (reopened["status"], reopened["reopenedAt"]) == ("ACTIVE", reopened["updatedAt"])
    stream.drain()
    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 0)

    complete(api, course, 0, 2, 3)
    stream.drain()

    after = enrollment_of(api, enrolled["id"])
    assert (after["status"], after["completedBy"], after["reopenedAt"]) == ("COMPLETED", "student-1", None)
    assert after["completedAt"] == marked["completedAt"]
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 100)
    assert completed_ids(api, course) == ([enrolled["id"]], [enrolled["id"]])


def test_staff_reopening_a_completion_holds_until_the_learners_next_completion(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], one_clock: None
) -> None:
    """GIVEN a learner who completed everything, WHEN staff set ACTIVE, THEN it stays ACTIVE at 100 %
    (the stream does not complete it again, nor does the learner's drop and return); WHEN staff reset
    a lesson and the learner completes it again, THEN it is COMPLETED, completedAt the first."""
    course, enrolled = enrollment
    complete(api, course, 0, 2, 3)
    stream.drain()
    first = enrollment_of(api, enrolled["id"])["completedAt"]

    set_status(api, enrolled["id"], "ACTIVE", INSTRUCTOR)
    stream.drain()
    set_status(api, enrolled["id"], "DROPPED")
    set_status(api, enrolled["id"], "ACTIVE")
    stream.drain()

    held = enrollment_of(api, enrolled["id"])
    assert (held["status"], held["progress"]["percent"]) == ("ACTIVE", 100)
    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 100)

    progress_id = complete(api, course, 2)[0]["id"]
    ok(api.call("update_progress", **INSTRUCTOR, path={"id": progress_id}, body={"status": "IN_PROGRESS"}))
    stream.drain()
    complete(api, course, 2)
    stream.drain()

    again = enrollment_of(api, enrolled["id"])
    assert (again["status"], again["completedAt"], again["reopenedAt"]) == ("COMPLETED", first, None)
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 100)


def test_re_enrolling_after_a_delete_with_every_lesson_complete_is_completed(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], one_clock: None
) -> None:
    """GIVEN a learner who completed the course and whose enrollment was deleted, WHEN they enroll
    again, THEN the new enrollment completes (the learner's own), at the first completion's date."""
    course, enrolled = enrollment
    complete(api, course, 0, 2, 3)
    stream.drain()
    first = enrollment_of(api, enrolled["id"])["completedAt"]
    assert api.call("delete_enrollment", **STUDENT, path={"id": enrolled["id"]}).status == 204

    again = enroll(api, course.id)
    stream.drain()

    after = enrollment_of(api, again["id"])
    assert (after["status"], after["completedAt"], after["completedBy"]) == ("COMPLETED", first, "student-1")
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 100)


@pytest.mark.parametrize(
    ("done", "deleted", "percent", "completed_lessons", "next_index", "status"),
    [
        pytest.param((0,), 2, 50, 1, 3, "ACTIVE", id="open-lesson-deleted-33-to-50"),
        pytest.param((0, 3), 2, 100, 2, None, "COMPLETED", id="last-open-lesson-deleted-completes"),
        pytest.param((0,), 0, 0, 0, 2, "ACTIVE", id="completed-lesson-deleted-no-longer-counts"),
        pytest.param((0,), 1, 33, 1, 2, "ACTIVE", id="optional-lesson-deleted-changes-nothing"),
    ],
)
def test_deleting_a_lesson_recomputes_every_learners_summary(
    api: ApiHarness,
    stream: StreamHarness,
    enrollment: tuple[Course, dict[str, Any]],
    done: tuple[int, ...],
    deleted: int,
    percent: int,
    completed_lessons: int,
    next_index: int | None,
    status: str,
) -> None:
    course, enrolled = enrollment
    complete(api, course, *done)
    stream.drain()

    delete_lesson(api, course, deleted)
    stream.drain()

    body = summary_of(api, course.id)
    required_left = 3 - course.required[deleted]
    assert (body["percent"], body["completedLessons"], body["requiredLessons"]) == (
        percent,
        completed_lessons,
        required_left,
    )
    assert body["nextLessonId"] == (None if next_index is None else course.lesson(next_index))
    assert body["viewedLessons"] == len(done) - (deleted in done)
    after = enrollment_of(api, enrolled["id"])
    assert after["status"] == status
    assert after["progress"] == {
        "percent": percent,
        "completedLessons": completed_lessons,
        "requiredLessons": required_left,
    }


# -------------------------------------------------------------------------------- who reads what
@pytest.fixture
def three_learners(api: ApiHarness, stream: StreamHarness, course: Course) -> Course:
    """STUDENT completed every required lesson (100, COMPLETED), OTHER_STUDENT one of three (33),
    THIRD_STUDENT only viewed the optional lesson (0); the stream has settled."""
    enroll(api, course.id, OTHER_STUDENT)
    enroll(api, course.id, THIRD_STUDENT)
    complete(api, course, 0, 2, 3)
    complete(api, course, 0, caller=OTHER_STUDENT)
    recorded(api, course.lesson(1), caller=THIRD_STUDENT)
    stream.drain()
    return course


@pytest.mark.parametrize("staff", [INSTRUCTOR, ADMIN], ids=["course-instructor", "admin"])
def test_staff_without_user_id_get_the_course_aggregate(
    api: ApiHarness, three_learners: Course, staff: dict[str, str]
) -> None:
    """enrolled 3; active 2 (the completed learner is not active); completed 1;
    averagePercent (100 + 33 + 0) / 3 = 44.33."""
    body = aggregate_of(api, three_learners.id, staff)

    assert body["courseId"] == three_learners.id
    assert counts(body) == (3, 2, 1, 44.33)
    assert body["updatedAt"]
    learners = [
        summary_of(api, three_learners.id, staff, userId=user) for user in ("student-1", "student-2", "student-3")
    ]
    assert round(sum(learner["percent"] for learner in learners) / 3, 2) == body["averagePercent"]


@pytest.mark.parametrize("staff", [INSTRUCTOR, ADMIN], ids=["course-instructor", "admin"])
@pytest.mark.parametrize("learner", [STUDENT, OTHER_STUDENT, THIRD_STUDENT], ids=["s1", "s2", "s3"])
def test_staff_with_user_id_get_exactly_what_the_learner_sees(
    api: ApiHarness, three_learners: Course, staff: dict[str, str], learner: dict[str, str]
) -> None:
    assert summary_of(api, three_learners.id, staff, userId=learner["user"]) == summary_of(
        api, three_learners.id, learner
    )


def test_learner_may_name_themselves_but_not_another_learner(api: ApiHarness, three_learners: Course) -> None:
    assert summary_of(api, three_learners.id, userId="student-1") == summary_of(api, three_learners.id)
    assert_problem(summary(api, three_learners.id, userId="student-2"), 403)


def test_instructor_of_another_course_reads_no_aggregate_and_no_one_elses_summary(
    api: ApiHarness, three_learners: Course
) -> None:
    """Not staff of this course: a student there, never enrolled: no aggregate, no summary (404),
    no one else's (403)."""
    assert_problem(summary(api, three_learners.id, OTHER_INSTRUCTOR), 404)
    assert_problem(summary(api, three_learners.id, OTHER_INSTRUCTOR, userId="student-1"), 403)


def test_a_learner_never_enrolled_in_the_course_gets_404_not_zeros(api: ApiHarness, three_learners: Course) -> None:
    """Given a course with learners, when a student who never enrolled reads their summary of it
    (plainly or naming themselves), then 404, as for any resource they have no part in."""
    outsider = {"user": "student-9", "roles": "student"}

    assert_problem(summary(api, three_learners.id, outsider), 404)
    assert_problem(summary(api, three_learners.id, outsider, userId="student-9"), 404)


@pytest.mark.parametrize("status", ["DROPPED", "SUSPENDED", "COMPLETED"])
def test_a_learner_enrolled_in_any_status_still_reads_their_summary(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], status: str
) -> None:
    """Given a learner at 33 % whose enrollment staff set to DROPPED, SUSPENDED or COMPLETED, when
    they read their summary (before and after the stream ran), then it is theirs, 200."""
    course, enrolled = enrollment
    complete(api, course, 0)
    ok(api.call("update_enrollment", **INSTRUCTOR, path={"id": enrolled["id"]}, body={"status": status}))

    assert summary_of(api, course.id)["percent"] == 33
    stream.drain()
    assert summary_of(api, course.id)["percent"] == 33


def test_after_deleting_the_enrollment_the_summary_is_404_until_the_learner_enrolls_again(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    """Given a learner at 33 % whose enrollment is deleted (its progress kept), when they read their
    summary, then 404 (the enrollment is gone from every read); once they enroll again, at once
    (before the stream ran) and after, their summary is back at 33 %."""
    course, enrolled = enrollment
    complete(api, course, 0)
    stream.drain()
    assert api.call("delete_enrollment", **STUDENT, path={"id": enrolled["id"]}).status == 204
    stream.drain()

    assert_problem(summary(api, course.id), 404)

    enroll(api, course.id)
    assert summary_of(api, course.id)["percent"] == 33
    stream.drain()
    assert summary_of(api, course.id)["percent"] == 33


def test_staff_asking_for_someone_never_enrolled_get_zeros(api: ApiHarness, three_learners: Course) -> None:
    body = summary_of(api, three_learners.id, INSTRUCTOR, userId="nobody")

    assert (body["userId"], body["percent"], body["completedLessons"], body["requiredLessons"]) == ("nobody", 0, 0, 3)


@pytest.mark.parametrize("caller", [STUDENT, INSTRUCTOR, ADMIN], ids=["student", "instructor", "admin"])
def test_summary_of_an_unknown_course_is_404(
    api: ApiHarness,
    course: Course,
    caller: dict[str, str],
) -> None:
    assert_problem(summary(api, "no-such-course", caller), 404)


def test_aggregate_before_the_stream_ran_is_all_zeros(api: ApiHarness, course: Course) -> None:
    assert counts(aggregate_of(api, course.id)) == (0, 0, 0, 0)


# ---------------------------------------------------------------- deleted enrollments, re-enrolling
def test_deleting_an_enrollment_keeps_progress_drops_the_learner_from_the_aggregate_and_resumes_on_return(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    """Given two learners at 66% and 33%, when the first one's enrollment is deleted, then the
    aggregate counts only the second; the first one's lesson records are kept, and on re-enrolling
    their summary and new enrollment show 66% again and the aggregate counts them again."""
    course, enrolled = enrollment
    enroll(api, course.id, OTHER_STUDENT)
    complete(api, course, 0, 3)
    complete(api, course, 2, caller=OTHER_STUDENT)
    stream.drain()
    assert counts(aggregate_of(api, course.id)) == (2, 2, 0, 49.5)

    assert api.call("delete_enrollment", **STUDENT, path={"id": enrolled["id"]}).status == 204
    stream.drain()

    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 33)
    kept = ok(api.call("list_progress", **STUDENT))["items"]
    assert {(item["lessonId"], item["status"]) for item in kept} == {
        (course.lesson(0), "COMPLETED"),
        (course.lesson(3), "COMPLETED"),
    }

    returned = enroll(api, course.id)
    stream.drain()

    assert summary_of(api, course.id)["percent"] == 66
    assert enrollment_of(api, returned["id"])["progress"] == {
        "percent": 66,
        "completedLessons": 2,
        "requiredLessons": 3,
    }
    assert counts(aggregate_of(api, course.id)) == (2, 2, 0, 49.5)


# ---------------------------------------------------------------------------- duplicate delivery
def snapshot(api: ApiHarness, course: Course, enrollment_id: str) -> list[dict[str, Any]]:
    """Everything the summarizer writes, as the API shows it (updatedAt included)."""
    return [
        summary_of(api, course.id),
        summary_of(api, course.id, OTHER_STUDENT),
        aggregate_of(api, course.id),
        enrollment_of(api, enrollment_id),
    ]


@pytest.mark.parametrize("order", ["same-order", "reversed"])
def test_delivering_the_same_records_twice_changes_nothing(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], order: str
) -> None:
    """Given a batch of stream records (enrollments, views, completions) delivered once, when the same
    batch is delivered again (as is, or in reverse order), then every summary, the aggregate and the
    enrollment are byte-for-byte the same, updatedAt included, and the summarizer's own writes do not
    wake it."""
    course, enrolled = enrollment
    enroll(api, course.id, OTHER_STUDENT)
    complete(api, course, 0, 2, 3)
    recorded(api, course.lesson(1))
    complete(api, course, 0, caller=OTHER_STUDENT)
    records = stream.pending()
    assert stream.deliver(records) == {"batchItemFailures": []}
    first = snapshot(api, course, enrolled["id"])
    assert first[0]["percent"] == 100
    assert first[3]["status"] == "COMPLETED"

    again = records if order == "same-order" else records[::-1]
    assert stream.deliver(again) == {"batchItemFailures": []}

    assert snapshot(api, course, enrolled["id"]) == first
    assert stream.pending() == []


def test_an_old_batch_redelivered_after_newer_writes_changes_nothing(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    course, enrolled = enrollment
    enroll(api, course.id, OTHER_STUDENT)
    complete(api, course, 0)
    old = stream.pending()
    assert stream.deliver(old) == {"batchItemFailures": []}
    complete(api, course, 2, caller=OTHER_STUDENT)
    complete(api, course, 3)
    stream.drain()
    settled = snapshot(api, course, enrolled["id"])

    assert stream.deliver(old) == {"batchItemFailures": []}

    assert snapshot(api, course, enrolled["id"]) == settled
    assert counts(settled[2]) == (2, 2, 0, 49.5)


# ------------------------------------------------------------- the enrollment a summary records
# A summary records its learner's enrollment as its transaction left it, so a recompute reads one
# item per learner; each write is conditioned on that enrollment's id and version
# (lms.services.summaries.recompute says why that is exact). These tests race the two.
def entity_of(record: dict[str, Any]) -> str:
    image = record["dynamodb"].get("NewImage") or record["dynamodb"]["OldImage"]
    entity: str = image["entity"]["S"]
    return entity


def split(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The progress records, and the others (enrollments)."""
    progress = [r for r in records if entity_of(r) == "PROGRESS"]
    return progress, [r for r in records if entity_of(r) != "PROGRESS"]


@pytest.fixture
def enrollment_reads(stream: StreamHarness, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The learners whose enrollment the summarizer reads (a key of each read, in order)."""
    table = stream.module.summarizer.recompute._summaries._table
    original = table.batch_get
    read: list[str] = []

    def spying(key_list: list[dict[str, str]], **options: Any) -> list[dict[str, Any]]:
        read.extend(key["pk"] for key in key_list if key["sk"].startswith("ENROLLMENT#"))
        return original(key_list, **options)

    monkeypatch.setattr(table, "batch_get", spying)
    return read


def recorded_enrollment(stream: StreamHarness, course_id: str, user_id: str = "student-1") -> Any:
    stored = stream.module.summarizer.recompute._summaries.get(user_id, course_id)
    assert stored is not None
    assert stored.knows_enrollment
    return stored.enrollment


def test_a_progress_record_reads_the_summary_not_the_enrollment_it_records(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], enrollment_reads: list[str]
) -> None:
    """GIVEN a summarised learner, WHEN they complete a lesson, THEN the summarizer reads their summary
    and not their enrollment, and still writes the enrollment's progress."""
    course, enrolled = enrollment
    stream.drain()
    assert enrollment_reads == ["USER#student-1"]  # the enrollment's own record: read
    assert recorded_enrollment(stream, course.id).id == enrolled["id"]

    complete(api, course, 0)
    stream.drain()

    assert enrollment_reads == ["USER#student-1"]
    assert enrollment_of(api, enrolled["id"])["progress"]["percent"] == 33
    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 33)


def test_staff_marking_completed_before_the_stream_sees_it_cancels_a_write_made_on_the_old_enrollment(
    api: ApiHarness,
    stream: StreamHarness,
    enrollment: tuple[Course, dict[str, Any]],
    enrollment_reads: list[str],
    one_clock: None,
) -> None:
    """GIVEN a summarised learner, WHEN they complete a lesson and staff mark the enrollment COMPLETED
    and the progress record is processed before the enrollment's, THEN the write made on the
    enrollment the summary recorded is cancelled (its version moved), the learner is recomputed with
    the enrollment read, and summary, enrollment and aggregate are exact at every step."""
    course, enrolled = enrollment
    complete(api, course, 0)
    stream.drain()
    reads_before = len(enrollment_reads)
    complete(api, course, 2)
    marked = set_status(api, enrolled["id"], "COMPLETED", INSTRUCTOR)
    progress, enrollments = split(stream.pending())
    assert progress
    assert enrollments

    assert stream.deliver(progress) == {"batchItemFailures": []}

    assert len(enrollment_reads) == reads_before + 1  # read after the cancelled write
    after = enrollment_of(api, enrolled["id"])
    assert (after["status"], after["completedBy"], after["version"]) == ("COMPLETED", "inst-1", marked["version"])
    assert after["progress"]["percent"] == 66
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 66)
    assert recorded_enrollment(stream, course.id).version == marked["version"]

    assert stream.deliver(enrollments) == {"batchItemFailures": []}
    assert enrollment_of(api, enrolled["id"]) == after
    assert counts(aggregate_of(api, course.id)) == (1, 0, 1, 66)


def test_a_deleted_and_recreated_enrollment_at_the_same_version_is_not_the_one_the_summary_records(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]], enrollment_reads: list[str]
) -> None:
    """GIVEN a summarised learner whose enrollment (version 1) is deleted and created again (a new id,
    version 1 again), WHEN a completion is processed before the enrollment's records, THEN the write
    made on the recorded enrollment is cancelled by its id, and the new enrollment gets the progress."""
    course, enrolled = enrollment
    complete(api, course, 0)
    stream.drain()
    assert enrollment_of(api, enrolled["id"])["version"] == 1
    assert api.call("delete_enrollment", **STUDENT, path={"id": enrolled["id"]}).status == 204
    again = enroll(api, course.id)
    assert (again["id"] != enrolled["id"], again["version"]) == (True, 1)
    complete(api, course, 2)
    reads_before = len(enrollment_reads)
    progress, enrollments = split(stream.pending())

    assert stream.deliver(progress) == {"batchItemFailures": []}

    assert len(enrollment_reads) == reads_before + 1
    assert recorded_enrollment(stream, course.id).id == again["id"]
    assert enrollment_of(api, again["id"])["progress"]["percent"] == 66
    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 66)
    assert stream.deliver(enrollments) == {"batchItemFailures": []}
    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 66)


def test_an_enrollment_change_that_moves_nothing_else_is_still_recorded_in_the_summary(
    api: ApiHarness, stream: StreamHarness, enrollment: tuple[Course, dict[str, Any]]
) -> None:
    """GIVEN a learner who dropped the course, WHEN staff suspend them (the aggregate counts both
    alike), THEN the summary is written all the same: it records the enrollment as it now is."""
    course, enrolled = enrollment
    set_status(api, enrolled["id"], "DROPPED")
    stream.drain()
    summarised = summary_of(api, course.id)
    assert recorded_enrollment(stream, course.id).status == "DROPPED"

    suspended = set_status(api, enrolled["id"], "SUSPENDED", INSTRUCTOR)
    stream.drain()

    recorded = recorded_enrollment(stream, course.id)
    assert (recorded.status, recorded.version) == ("SUSPENDED", suspended["version"])
    assert {k: v for k, v in summary_of(api, course.id).items() if k != "updatedAt"} == {
        k: v for k, v in summarised.items() if k != "updatedAt"
    }
    assert counts(aggregate_of(api, course.id)) == (1, 0, 0, 0)


def test_a_summary_written_before_summaries_recorded_the_enrollment_reads_it_and_records_it(
    api: ApiHarness,
    stream: StreamHarness,
    enrollment: tuple[Course, dict[str, Any]],
    enrollment_reads: list[str],
    dynamodb: Any,
) -> None:
    """GIVEN a summary item without the enrollment (as an earlier release wrote them), WHEN the
    learner completes a lesson, THEN the enrollment is read and the summary records it from then on."""
    from tests.conftest import TEST_ENV

    course, enrolled = enrollment
    stream.drain()
    dynamodb.update_item(
        TableName=TEST_ENV["TABLE_NAME"],
        Key={"pk": {"S": "USER#student-1"}, "sk": {"S": f"SUMMARY#{course.id}"}},
        UpdateExpression="REMOVE enrollment",
    )
    reads_before = len(enrollment_reads)

    complete(api, course, 0)
    stream.drain()
    complete(api, course, 2)
    stream.drain()

    assert len(enrollment_reads) == reads_before + 1  # the first time only
    assert recorded_enrollment(stream, course.id).id == enrolled["id"]
    assert counts(aggregate_of(api, course.id)) == (1, 1, 0, 66)
