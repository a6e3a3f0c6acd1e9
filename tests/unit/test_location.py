"""Every 201 carries `Location`: the new resource's path, the one it is read or addressed by."""

from typing import Any

from tests.conftest import (
    INSTRUCTOR,
    STUDENT,
    ApiHarness,
    Course,
    create_course,
    load_event,
    ok,
    record,
)


def test_a_new_course_is_located_where_it_is_read(api: ApiHarness) -> None:
    reply = api.call("create_course", **INSTRUCTOR, body={"title": "T"})

    assert reply.status == 201
    assert reply.headers["Location"] == f"/courses/{reply.body['id']}"
    assert ok(api.call("get_course", **STUDENT, path={"courseId": reply.body["id"]}))["title"] == "T"


def test_a_new_module_is_located_under_its_course(api: ApiHarness, course: Course) -> None:
    """No route reads a module alone: its Location is its natural path under the course."""
    reply = api.call("create_module", **INSTRUCTOR, path={"courseId": course.id}, body={"title": "M"})

    assert reply.status == 201
    assert reply.headers["Location"] == f"/courses/{course.id}/modules/{reply.body['id']}"


def test_a_new_lesson_is_located_where_it_is_addressed(api: ApiHarness, course: Course) -> None:
    """Given a new lesson, when its Location is deleted (DELETE /courses/{courseId}/lessons/{lessonId}),
    then that removes it: the Location addresses the lesson."""
    path = {"courseId": course.id, "moduleId": course.module_ids[0]}
    reply = api.call("create_lesson", **INSTRUCTOR, path=path, body={"title": "L"})

    assert reply.status == 201
    assert reply.headers["Location"] == f"/courses/{course.id}/lessons/{reply.body['id']}"
    _, courses, course_id, lessons, lesson_id = reply.headers["Location"].split("/")
    assert (courses, lessons) == ("courses", "lessons")
    deleted = api.call("delete_lesson", **INSTRUCTOR, path={"courseId": course_id, "lessonId": lesson_id})
    assert deleted.status == 204


def test_a_new_enrollment_is_located_where_it_is_read(api: ApiHarness) -> None:
    course = create_course(api)
    reply = api.call("create_enrollment", **STUDENT, body={"courseId": course.id})

    assert reply.status == 201
    assert reply.headers["Location"] == f"/enrollments/{reply.body['id']}"
    assert ok(api.call("get_enrollment", **STUDENT, path={"id": reply.body["id"]})) == reply.body


def test_a_replayed_enrollment_carries_the_first_location(api: ApiHarness) -> None:
    """Given an enrollment created with an Idempotency-Key, a retry with that key is the same 201,
    Location included."""
    course = create_course(api)
    key = {"Idempotency-Key": "enroll-1"}
    first = api.call("create_enrollment", **STUDENT, body={"courseId": course.id}, headers=key)

    retry = api.call("create_enrollment", **STUDENT, body={"courseId": course.id}, headers=key)

    assert first.status == retry.status == 201
    assert retry.headers["Location"] == first.headers["Location"] == f"/enrollments/{first.body['id']}"
    assert retry.body == first.body


def test_a_reactivated_enrollment_is_200_without_location(api: ApiHarness) -> None:
    """Nothing new was created: the DROPPED enrollment is ACTIVE again under its id."""
    course = create_course(api)
    enrollment = ok(api.call("create_enrollment", **STUDENT, body={"courseId": course.id}), 201)
    ok(api.call("update_enrollment", **STUDENT, path={"id": enrollment["id"]}, body={"status": "DROPPED"}))

    reply = api.call("create_enrollment", **STUDENT, body={"courseId": course.id})

    assert (reply.status, reply.body["id"]) == (200, enrollment["id"])
    assert "Location" not in reply.headers


def test_a_first_lesson_record_is_located_where_it_is_read_and_the_next_is_200(api: ApiHarness, course: Course) -> None:
    first = record(api, course.lesson(0))
    again = record(api, course.lesson(0))

    assert first.status == 201
    assert first.headers["Location"] == f"/progress/{first.body['id']}"
    assert ok(api.call("get_progress", **STUDENT, path={"id": first.body["id"]}))["id"] == first.body["id"]
    assert again.status == 200
    assert "Location" not in again.headers


def test_through_a_named_stage_the_location_starts_with_the_stage(api: ApiHarness, lambda_context: Any) -> None:
    """On AWS the API is served under its stage (`ApiUrl` ends in /dev): the event's rawPath starts
    with it, and so does the path the client must follow."""
    event = load_event("create_course.json")
    event["requestContext"]["stage"] = "dev"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/dev/courses"

    response = api.module("create_course").lambda_handler(event, lambda_context)

    assert response["statusCode"] == 201
    assert response["headers"]["Location"].startswith("/dev/courses/")
