"""Input that could never name anything is answered before it reaches DynamoDB's key limits."""

import pytest

from tests.conftest import ApiHarness, assert_problem

IMPOSSIBLE_IDS = ["x" * 200, "a#b", "has space", "semi;colon"]


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
