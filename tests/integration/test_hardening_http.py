"""Regression tests over real HTTP for what an audit and a black-box suite found (issue 7), and the
one-call enrollment check (issue 12): the local gateway, authorizer and handlers, DynamoDB Local."""

import json
from typing import Any

import pytest

from lms import keys
from tests.integration.conftest import Lms, User

pytestmark = pytest.mark.integration


def _enrollments(lms: Lms, reader: User, path: str = "/enrollments", **params: Any) -> list[dict[str, Any]]:
    page = lms.expect(200, lms.api.get(path, reader.token, params=params))
    assert page["nextCursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


# ----------------------------------------------------------------------------------- #2 suspension
def test_a_suspended_learner_cannot_escape_by_delete_then_post(lms: Lms) -> None:
    teacher, learner = lms.user("teacher", "instructor"), lms.user()
    course = lms.create_course(teacher, 1)
    enrollment = lms.enroll(learner, course["id"])
    lms.expect(200, lms.api.patch(f"/enrollments/{enrollment['id']}", teacher.token, json={"status": "SUSPENDED"}))

    lms.problem(lms.api.delete(f"/enrollments/{enrollment['id']}", learner.token), 403)
    lms.problem(lms.api.post("/enrollments", learner.token, json={"courseId": course["id"]}), 409)
    view = {"lessonId": lms.lesson_ids(course)[0], "action": "view"}
    lms.problem(lms.api.post("/progress", learner.token, json=view), 403)
    assert [e["status"] for e in _enrollments(lms, learner, courseId=course["id"])] == ["SUSPENDED"]


# ------------------------------------------------------------------------------ #3, #4, #5 bodies
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/courses"), ("POST", "/enrollments"), ("POST", "/progress"), ("PATCH", "/enrollments/e1")],
)
def test_deeply_nested_json_is_a_400_problem(lms: Lms, method: str, path: str) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    headers = {"Content-Type": "application/json"}
    response = lms.api.request(method, path, lms.user("sender", "admin").token, data=body, headers=headers)

    assert "nests deeper" in lms.problem(response, 400)["detail"]


@pytest.mark.parametrize("position", [10**40, 2**200, 10**130])
def test_a_number_dynamodb_cannot_store_is_a_422(lms: Lms, position: int) -> None:
    teacher, learner = lms.user("teacher", "instructor"), lms.user()
    course = lms.create_course(teacher, 1)
    lms.enroll(learner, course["id"])
    body = json.dumps({"lessonId": lms.lesson_ids(course)[0], "action": "view", "position": position})

    response = lms.api.request(
        "POST", "/progress", learner.token, data=body, headers={"Content-Type": "application/json"}
    )

    assert [e["field"] for e in lms.problem(response, 422)["errors"]] == ["position"]


@pytest.mark.parametrize(("size", "status"), [(64 * 1024, 415), (64 * 1024 + 1, 413)])
def test_the_64_KiB_limit_counts_the_bytes_sent_not_their_base64(lms: Lms, size: int, status: int) -> None:  # noqa: N802
    """A body that is not UTF-8 reaches the function base64-encoded (87,384 characters for 64 KiB)."""
    headers = {"Content-Type": "application/octet-stream"}
    response = lms.api.request("POST", "/courses", lms.user("s", "admin").token, data=b"\xff" * size, headers=headers)

    lms.problem(response, status)


# ----------------------------------------------------------------------------------------- #6 cursor
@pytest.mark.parametrize("cursor", ["c" * 2049, "not-a-cursor", "a.b.c"])
def test_every_bad_cursor_is_a_400(lms: Lms, cursor: str) -> None:
    response = lms.api.get("/enrollments", lms.user().token, params={"cursor": cursor})
    lms.problem(response, 400)


# ------------------------------------------------------------------------------- #7 outline limit
def test_the_largest_outline_is_created_within_the_timeout_and_a_larger_one_is_422(lms: Lms) -> None:
    teacher = lms.user("teacher", "instructor")
    course = lms.create_course(teacher, *[5] * 100)  # 100 modules x 5 lessons: the limit
    assert course["lessonCount"] == 500
    stored = lms.expect(200, lms.api.get(f"/courses/{course['id']}", teacher.token))
    assert len(lms.lesson_ids(stored)) == 500

    modules = [{"title": f"M{m}", "lessons": [{"title": "L"}] * 20} for m in range(100)]
    response = lms.api.post("/courses", teacher.token, json={"title": "Too big", "modules": modules})
    lms.problem(response, 422)


# --------------------------------------------------------------------------- #12 any sub is a user
@pytest.mark.parametrize("label", ["CN=Ann,OU=Staff", "José", "a#b c"])
def test_a_sub_outside_the_old_alphabet_enrolls_and_reads_its_own(lms: Lms, label: str) -> None:
    teacher, learner = lms.user("teacher", "instructor"), lms.user(label)
    course = lms.create_course(teacher, 1)

    enrollment = lms.enroll(learner, course["id"])

    assert enrollment["userId"] == learner.id
    assert _enrollments(lms, learner, courseId=course["id"]) == [enrollment]
    path = f"/enrollments/course/{course['id']}"
    assert _enrollments(lms, teacher, path, userId=learner.id) == [enrollment]


# ------------------------------------------------------------- issue 12: is this user enrolled here?
def test_a_learner_checks_their_enrollment_in_a_course_with_one_call(lms: Lms) -> None:
    teacher, learner, classmate = lms.user("teacher", "instructor"), lms.user(), lms.user("classmate")
    course, other = lms.create_course(teacher, 1), lms.create_course(teacher, 1)
    lms.enroll(classmate, course["id"])
    assert _enrollments(lms, learner, courseId=course["id"]) == []  # another user's never shows

    enrollment = lms.enroll(learner, course["id"])
    lms.enroll(learner, other["id"])

    assert _enrollments(lms, learner, courseId=course["id"]) == [enrollment]
    assert _enrollments(lms, learner, courseId=course["id"], status="ACTIVE") == [enrollment]
    assert _enrollments(lms, learner, courseId=course["id"], status="DROPPED") == []
    other_user = {"courseId": course["id"], "userId": classmate.id}
    lms.problem(lms.api.get("/enrollments", learner.token, params=other_user), 403)


def test_course_staff_check_one_learner_and_students_may_not(lms: Lms) -> None:
    teacher, learner, classmate = lms.user("teacher", "instructor"), lms.user(), lms.user("classmate")
    course = lms.create_course(teacher, 1)
    enrollment = lms.enroll(learner, course["id"])
    lms.enroll(classmate, course["id"])
    path = f"/enrollments/course/{course['id']}"

    assert _enrollments(lms, teacher, path, userId=learner.id) == [enrollment]
    assert _enrollments(lms, teacher, path, userId=learner.id, status="COMPLETED") == []
    assert _enrollments(lms, teacher, path, userId="nobody") == []
    lms.problem(lms.api.get(path, learner.token, params={"userId": learner.id}), 403)


# ------------------------------------------------------------------------- #13 bounded filtered reads
def test_a_rare_status_comes_in_short_pages_that_keep_a_cursor(lms: Lms) -> None:
    teacher = lms.user("teacher", "instructor")
    course = lms.create_course(teacher, 1)
    others = [lms.user() for _ in range(7)]
    for other in others:
        lms.enroll(other, course["id"])
    # Listed after the others: in a later index shard (past the first page's 3 partitions), or in the
    # same one and sorting after them.
    last = lms.user("zz")
    while keys.index_shard(last.id) < max(2, *(keys.index_shard(o.id) for o in others)):
        last = lms.user("zz")
    enrollment = lms.enroll(last, course["id"])
    patch = {"status": "SUSPENDED"}
    suspended = lms.expect(200, lms.api.patch(f"/enrollments/{enrollment['id']}", teacher.token, json=patch))

    path, params = f"/enrollments/course/{course['id']}", {"status": "SUSPENDED", "limit": 1}
    first = lms.expect(200, lms.api.get(path, teacher.token, params=params))
    assert (first["items"], first["nextCursor"] is not None) == ([], True)

    found, cursor, pages = [], first["nextCursor"], 1
    while cursor is not None:
        page = lms.expect(200, lms.api.get(path, teacher.token, params={**params, "cursor": cursor}))
        found += page["items"]
        cursor, pages = page["nextCursor"], pages + 1
        # Each Query reads one item (limit 1) or ends a partition: 8 items and 17 partitions.
        assert pages <= -(-(8 + keys.INDEX_SHARDS + 1) // 3), "the cursors do not move on"
    assert found == [suspended]
