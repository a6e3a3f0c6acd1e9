"""Input that could never name anything is answered before it reaches DynamoDB's key limits."""

import base64

import pytest

from tests.conftest import ApiHarness, assert_problem

IMPOSSIBLE_IDS = ["x" * 200, "a#b", "has space", "semi;colon", "trailing-newline\n"]


@pytest.mark.parametrize("bad_id", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(
    ("function", "parameter"),
    [("get_course", "courseId"), ("get_enrollment", "id"), ("get_progress", "id"), ("delete_enrollment", "id")],
)
def test_an_id_no_resource_can_have_is_404(api: ApiHarness, function: str, parameter: str, bad_id: str) -> None:
    problem = assert_problem(api.call(function, roles="admin", path={parameter: bad_id}), 404)
    assert problem["detail"] == "No resource has this id."


@pytest.mark.parametrize("bad_id", IMPOSSIBLE_IDS)
def test_a_user_id_filter_that_is_not_an_id_is_422(api: ApiHarness, bad_id: str) -> None:
    problem = assert_problem(api.call("list_enrollments", roles="admin", query={"userId": bad_id}), 422)
    assert [(e["location"], e["field"]) for e in problem["errors"]] == [("query", "userId")]


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_415(api: ApiHarness, content_type: str) -> None:
    reply = api.call("create_course", roles="admin", raw_body='{"title": "T"}', headers={"Content-Type": content_type})
    assert_problem(reply, 415)


def test_a_body_that_is_not_utf8_is_400(api: ApiHarness) -> None:
    event_body = base64.b64encode(b"\xff\xfe\x00 not text").decode()
    reply = api.call("create_course", roles="admin", raw_body=event_body, base64_body=True)
    assert_problem(reply, 400)
