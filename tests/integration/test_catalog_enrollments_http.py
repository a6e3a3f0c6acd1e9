"""A client that knows only API.md and the dev JWT settings can use every catalog and enrollment
route over real HTTP: the local gateway, the template's authorizer and handlers, DynamoDB Local.

Every test makes its own users (uuid-based subs) and courses, since the database lives for the session.
"""

import functools
import re
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.conftest import Lms, User

pytestmark = pytest.mark.integration

ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"


def _in_parallel(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def _statuses(responses: list[requests.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def _my_enrollments(lms: Lms, learner: User) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = lms.expect(200, lms.api.get("/enrollments", learner.token))["items"]
    return items


def _first_cursor(lms: Lms, learner: User) -> str:
    cursor: str = lms.expect(200, lms.api.get("/enrollments", learner.token, params={"limit": 2}))["nextCursor"]
    return cursor


def _all_pages(lms: Lms, reader: User, path: str, limit: int) -> list[list[dict[str, Any]]]:
    """Follow nextCursor from the first page until it is null; every page's items."""
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = lms.expect(200, lms.api.get(path, reader.token, params=params))
        pages.append(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 20, "pagination does not end"


# ---------------------------------------------------------------------- catalog


def test_an_instructor_creates_a_course_whose_outline_keeps_the_given_order(lms: Lms) -> None:
    """Given an instructor, when they POST a course with modules and lessons, then it is 201 with the
    outline in the order sent (positions from 1), they are an instructor of it, and GET returns it."""
    teacher, reader = lms.user("teacher", "instructor"), lms.user("reader")
    body = {
        "title": "Algebra",
        "description": "Numbers and letters",
        "capacity": 30,
        "modules": [
            {"title": "Basics", "lessons": [{"title": "Sets"}, {"title": "Extra reading", "required": False}]},
            {"title": "Equations", "lessons": [{"title": "Linear"}]},
        ],
    }

    created = lms.expect(201, lms.api.post("/courses", teacher.token, json=body))

    assert (created["title"], created["description"], created["capacity"]) == ("Algebra", "Numbers and letters", 30)
    assert created["instructorIds"] == [teacher.id]
    assert (created["lessonCount"], created["requiredLessonCount"]) == (3, 2)
    assert [(m["title"], m["position"]) for m in created["modules"]] == [("Basics", 1), ("Equations", 2)]
    lessons = [
        (lesson["title"], lesson["position"], lesson["required"]) for m in created["modules"] for lesson in m["lessons"]
    ]
    assert lessons == [("Sets", 1, True), ("Extra reading", 2, False), ("Linear", 1, True)]
    assert created["createdAt"] == created["updatedAt"]
    assert lms.expect(200, lms.api.get(f"/courses/{created['id']}", reader.token)) == created


def test_a_student_may_read_an_outline_but_not_create_or_edit_a_course(lms: Lms) -> None:
    teacher, student = lms.user("teacher", "instructor"), lms.user("student")
    course = lms.create_course(teacher, 1)

    assert lms.api.get(f"/courses/{course['id']}", student.token).status_code == 200
    lms.problem(lms.api.post("/courses", student.token, json={"title": "Mine"}), 403)
    lms.problem(lms.api.post(f"/courses/{course['id']}/modules", student.token, json={"title": "M"}), 403)


def test_an_instructor_appends_modules_and_lessons_and_deletes_a_lesson(lms: Lms) -> None:
    """Given a course with one module of one lesson, when its instructor appends a module, two lessons
    to it and deletes one, then each is placed last, `required` defaults to true, and the outline says so."""
    teacher = lms.user("teacher", "instructor")
    course = lms.create_course(teacher, 1)
    path = f"/courses/{course['id']}"

    module = lms.expect(201, lms.api.post(f"{path}/modules", teacher.token, json={"title": "Later"}))
    first = lms.expect(201, lms.api.post(f"{path}/modules/{module['id']}/lessons", teacher.token, json={"title": "A"}))
    optional = {"title": "B", "required": False}
    second = lms.expect(201, lms.api.post(f"{path}/modules/{module['id']}/lessons", teacher.token, json=optional))

    assert module == {"id": module["id"], "courseId": course["id"], "title": "Later", "position": 2}
    assert first == {
        "id": first["id"],
        "courseId": course["id"],
        "moduleId": module["id"],
        "title": "A",
        "position": 1,
        "required": True,
    }
    assert (second["position"], second["required"]) == (2, False)

    assert lms.api.delete(f"{path}/lessons/{first['id']}", teacher.token).status_code == 204

    outline = lms.expect(200, lms.api.get(path, teacher.token))
    assert [[lesson["title"] for lesson in m["lessons"]] for m in outline["modules"]] == [["Lesson 1.1"], ["B"]]
    assert (outline["lessonCount"], outline["requiredLessonCount"]) == (2, 1)
    lms.problem(lms.api.delete(f"{path}/lessons/{first['id']}", teacher.token), 404)
    lms.problem(lms.api.post(f"{path}/modules/{uuid.uuid4().hex}/lessons", teacher.token, json={"title": "X"}), 404)


def test_a_client_follows_each_201s_location_to_what_it_created(lms: Lms) -> None:
    """Given an instructor's new course, module and lesson and a learner's enrollment, each 201's
    Location is where the resource is read (course, enrollment) or addressed (a lesson's DELETE)."""
    teacher, student = lms.user("teacher", "instructor"), lms.user("learner")

    course = lms.api.post("/courses", teacher.token, json={"title": "Located"})
    module = lms.api.post(f"{course.headers['Location']}/modules", teacher.token, json={"title": "M"})
    lesson_path = f"/courses/{course.json()['id']}/modules/{module.json()['id']}/lessons"
    lesson = lms.api.post(lesson_path, teacher.token, json={"title": "L"})
    enrollment = lms.api.post("/enrollments", student.token, json={"courseId": course.json()["id"]})

    assert [r.status_code for r in (course, module, lesson, enrollment)] == [201] * 4
    assert lms.expect(200, lms.api.get(course.headers["Location"], student.token))["title"] == "Located"
    assert module.headers["Location"] == f"{course.headers['Location']}/modules/{module.json()['id']}"
    assert lms.api.delete(lesson.headers["Location"], teacher.token).status_code == 204
    assert lms.expect(200, lms.api.get(enrollment.headers["Location"], student.token))["id"] == enrollment.json()["id"]


# ---------------------------------------------------------------------- enrollments


def test_a_student_enrolls_themselves_and_a_second_attempt_is_a_409_naming_the_enrollment(lms: Lms) -> None:
    teacher, student = lms.user("teacher", "instructor"), lms.user()
    course = lms.create_course(teacher, 2)

    enrollment = lms.enroll(student, course["id"])
    duplicate = lms.api.post("/enrollments", student.token, json={"courseId": course["id"]})

    assert enrollment["userId"] == student.id
    assert enrollment["courseId"] == course["id"]
    assert enrollment["enrolledBy"] == student.id
    assert (enrollment["status"], enrollment["version"], enrollment["completedAt"]) == ("ACTIVE", 1, None)
    assert enrollment["progress"] == {"percent": 0, "completedLessons": 0, "requiredLessons": 2}
    assert enrollment["enrolledAt"] == enrollment["updatedAt"]
    assert re.match(ISO_UTC, enrollment["enrolledAt"])
    assert lms.problem(duplicate, 409)["enrollmentId"] == enrollment["id"]


def test_enrolling_in_an_unknown_course_is_a_404(lms: Lms) -> None:
    response = lms.api.post("/enrollments", lms.user().token, json={"courseId": uuid.uuid4().hex})

    lms.problem(response, 404)


def test_a_dropped_enrollment_is_reactivated_by_enrolling_again(lms: Lms) -> None:
    """Given an ACTIVE enrollment, when the owner PATCHes it with a stale If-Match, then 409 and nothing
    changes; with the right version it is DROPPED; a new POST /enrollments brings back the same id, 200."""
    teacher, student = lms.user("teacher", "instructor"), lms.user()
    enrollment = lms.enroll(student, lms.create_course(teacher, 1)["id"])
    path = f"/enrollments/{enrollment['id']}"

    stale = lms.api.patch(path, student.token, json={"status": "DROPPED"}, headers={"If-Match": "7"})
    dropped = lms.api.patch(path, student.token, json={"status": "DROPPED"}, headers={"If-Match": "1"})
    again = lms.api.post("/enrollments", student.token, json={"courseId": enrollment["courseId"]})

    lms.problem(stale, 409)
    assert (lms.expect(200, dropped)["status"], dropped.json()["version"]) == ("DROPPED", 2)
    reactivated = lms.expect(200, again)
    assert (reactivated["id"], reactivated["status"], reactivated["version"]) == (enrollment["id"], "ACTIVE", 3)


def test_an_enrollment_is_visible_to_its_owner_and_course_instructor_and_hidden_from_others(lms: Lms) -> None:
    teacher, owner, other = lms.user("teacher", "instructor"), lms.user("owner"), lms.user("other")
    enrollment = lms.enroll(owner, lms.create_course(teacher, 1)["id"])
    path = f"/enrollments/{enrollment['id']}"

    assert lms.expect(200, lms.api.get(path, owner.token)) == enrollment
    assert lms.expect(200, lms.api.get(path, teacher.token))["id"] == enrollment["id"]
    lms.problem(lms.api.get(path, other.token), 404)
    lms.problem(lms.api.get(path, lms.user("stranger", "instructor").token), 404)


@pytest.fixture(scope="module")
def learner_in_five_courses(lms: Lms) -> tuple[User, set[str]]:
    teacher, learner = lms.user("teacher", "instructor"), lms.user("paged")
    return learner, {lms.enroll(learner, lms.create_course(teacher, 1)["id"])["id"] for _ in range(5)}


def test_listing_my_enrollments_two_at_a_time_returns_each_exactly_once(
    lms: Lms, learner_in_five_courses: tuple[User, set[str]]
) -> None:
    learner, enrollment_ids = learner_in_five_courses

    pages = _all_pages(lms, learner, "/enrollments", limit=2)

    listed = [item["id"] for page in pages for item in page]
    assert sorted(listed) == sorted(enrollment_ids)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert {item["userId"] for page in pages for item in page} == {learner.id}


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda cursor: ("A" if cursor[0] != "A" else "B") + cursor[1:], id="payload-changed"),
        pytest.param(lambda cursor: cursor[:-2], id="signature-cut"),
        pytest.param(lambda cursor: "not-a-cursor", id="garbage"),
    ],
)
def test_a_tampered_cursor_is_a_400_problem(
    lms: Lms, learner_in_five_courses: tuple[User, set[str]], tamper: Callable[[str], str]
) -> None:
    learner, _ = learner_in_five_courses
    cursor = _first_cursor(lms, learner)

    response = lms.api.get("/enrollments", learner.token, params={"limit": 2, "cursor": tamper(cursor)})

    lms.problem(response, 400)


def test_another_users_cursor_is_a_400_and_reveals_nothing(
    lms: Lms, learner_in_five_courses: tuple[User, set[str]]
) -> None:
    learner, _ = learner_in_five_courses
    cursor = _first_cursor(lms, learner)

    response = lms.api.get("/enrollments", lms.user("thief").token, params={"limit": 2, "cursor": cursor})

    lms.problem(response, 400)


def test_a_course_instructor_lists_the_course_enrollments_and_a_student_may_not(lms: Lms) -> None:
    teacher = lms.user("teacher", "instructor")
    course = lms.create_course(teacher, 1)
    learners = [lms.user(f"learner{n}") for n in range(3)]
    enrolled = {lms.enroll(learner, course["id"])["id"] for learner in learners}
    path = f"/enrollments/course/{course['id']}"

    listed = [item["id"] for page in _all_pages(lms, teacher, path, limit=2) for item in page]

    assert sorted(listed) == sorted(enrolled)
    lms.problem(lms.api.get(path, learners[0].token), 403)


def test_a_deleted_enrollment_is_gone_from_every_read(lms: Lms) -> None:
    teacher, student = lms.user("teacher", "instructor"), lms.user()
    enrollment = lms.enroll(student, lms.create_course(teacher, 1)["id"])
    path = f"/enrollments/{enrollment['id']}"

    assert lms.api.delete(path, student.token).status_code == 204

    lms.problem(lms.api.get(path, student.token), 404)
    lms.problem(lms.api.delete(path, student.token), 404)
    assert _my_enrollments(lms, student) == []
    course_pages = _all_pages(lms, teacher, f"/enrollments/course/{enrollment['courseId']}", 20)
    assert [item for page in course_pages for item in page] == []


# ---------------------------------------------------------------------- error bodies

_TOO_LARGE = {"title": "Big", "description": "x" * 70_000}


@pytest.mark.parametrize("path", ["/courses", "/enrollments", "/progress"])
@pytest.mark.parametrize(
    ("send", "status"),
    [
        pytest.param({"data": b'{"title": ', "headers": {"Content-Type": "application/json"}}, 400, id="malformed"),
        pytest.param({"json": _TOO_LARGE}, 413, id="over-64KiB"),
        pytest.param(
            {"data": b'{"title": ' + b"9" * 4_301 + b"}", "headers": {"Content-Type": "application/json"}},
            400,
            id="integer-of-4301-digits",
        ),
    ],
)
def test_an_unreadable_body_is_a_problem_without_a_stack_trace(
    lms: Lms, path: str, send: dict[str, Any], status: int
) -> None:
    response = lms.api.request("POST", path, lms.user("sender", "instructor").token, **send)

    lms.problem(response, status)


def test_the_size_limit_is_64_KiB_of_body(lms: Lms) -> None:  # noqa: N802 - the unit's spelling
    teacher = lms.user("teacher", "instructor")
    envelope = len(b'{"title": "T", "description": ""}')
    just_over = {"title": "T", "description": "d" * (64 * 1024 - envelope + 1)}

    lms.problem(lms.api.post("/courses", teacher.token, json=just_over), 413)


def test_json_declared_in_any_case_is_json(lms: Lms) -> None:
    """Media types compare case-insensitively (RFC 9110, section 8.3.1)."""
    teacher, headers = lms.user("teacher", "instructor"), {"Content-Type": "APPLICATION/JSON; charset=UTF-8"}
    response = lms.api.post("/courses", teacher.token, data=b'{"title": "T"}', headers=headers)

    assert lms.expect(201, response)["title"] == "T"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/courses", {"title": "T", "colour": "red"}, "colour"),
        ("/enrollments", {"courseId": "c1", "user": "someone"}, "user"),
        ("/progress", {"lessonId": "l1", "action": "view", "seconds": 3}, "seconds"),
    ],
)
def test_an_unknown_field_is_a_422_naming_where_it_is(lms: Lms, path: str, body: dict[str, Any], field: str) -> None:
    response = lms.api.post(path, lms.user("sender", "instructor").token, json=body)

    errors = lms.problem(response, 422)["errors"]
    assert {"location": "body", "field": field} in [{"location": e["location"], "field": e["field"]} for e in errors]


# ---------------------------------------------------------------------- concurrency and idempotency


def test_ten_parallel_enrollments_of_one_learner_create_exactly_one(lms: Lms) -> None:
    """Given one learner and one course, when ten POST /enrollments race, then exactly one is 201 and
    the nine others are 409 naming that enrollment, and the learner has one enrollment."""
    teacher, student = lms.user("teacher", "instructor"), lms.user("racer")
    course_id = lms.create_course(teacher, 1)["id"]
    enroll = functools.partial(lms.api.post, "/enrollments", student.token, json={"courseId": course_id})

    responses = _in_parallel([enroll] * 10)

    assert _statuses(responses) == {201: 1, 409: 9}
    created = next(r.json() for r in responses if r.status_code == 201)
    assert {lms.problem(r, 409)["enrollmentId"] for r in responses if r.status_code == 409} == {created["id"]}
    assert [e["id"] for e in _my_enrollments(lms, student)] == [created["id"]]


def test_a_course_of_capacity_three_admits_three_of_ten_parallel_learners(lms: Lms) -> None:
    teacher = lms.user("teacher", "instructor")
    course_id = lms.create_course(teacher, 1, capacity=3)["id"]
    learners = [lms.user(f"crowd{n}") for n in range(10)]

    responses = _in_parallel(
        [
            lambda learner=learner: lms.api.post("/enrollments", learner.token, json={"courseId": course_id})
            for learner in learners
        ]
    )

    assert _statuses(responses) == {201: 3, 409: 7}
    for rejected in (r for r in responses if r.status_code == 409):
        lms.problem(rejected, 409)
    admitted = {r.json()["userId"] for r in responses if r.status_code == 201}
    listed = [item for page in _all_pages(lms, teacher, f"/enrollments/course/{course_id}", 20) for item in page]
    assert {e["userId"] for e in listed} == admitted
    assert len(listed) == 3


def test_a_retry_with_the_same_idempotency_key_returns_the_first_response(lms: Lms) -> None:
    teacher, student = lms.user("teacher", "instructor"), lms.user("retrier")
    course_id = lms.create_course(teacher, 1)["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}

    first = lms.api.post("/enrollments", student.token, json={"courseId": course_id}, headers=key)
    retry = lms.api.post("/enrollments", student.token, json={"courseId": course_id}, headers=key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"] == f"/enrollments/{first.json()['id']}"
    assert len(_my_enrollments(lms, student)) == 1


def test_reusing_an_idempotency_key_with_another_body_is_rejected(lms: Lms) -> None:
    teacher, student = lms.user("teacher", "instructor"), lms.user("reuser")
    first_course, second_course = (lms.create_course(teacher, 1)["id"] for _ in range(2))
    key = {"Idempotency-Key": uuid.uuid4().hex}

    lms.expect(201, lms.api.post("/enrollments", student.token, json={"courseId": first_course}, headers=key))
    reused = lms.api.post("/enrollments", student.token, json={"courseId": second_course}, headers=key)

    lms.problem(reused, 422)
    assert [e["courseId"] for e in _my_enrollments(lms, student)] == [first_course]
