"""Local IAM, end to end: the stack serves every route with each function's own role, and a role that
lacks one action makes the route that needs it fail as it would on AWS (AccessDenied inside the
function, 500 from API Gateway), while the routes that do not need it keep working."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from local.config import LocalConfig
from local.dev import LocalApi
from local.gateway import Gateway
from local.lambdas import LambdaService
from local.streams import StreamPoller
from tests.integration.conftest import ApiClient, Lms, User
from tools.template import Stack, expand, source

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TemplateCopyConfig(LocalConfig):
    """The local runtime, with the stack of a (modified) copy of template.yaml."""

    template: dict[str, Any] = field(default_factory=dict, hash=False)

    @cached_property
    def stack(self) -> Stack:
        return expand(self.parameter_overrides, self.region, self.template)


def _without_action(function: str, action: str) -> dict[str, Any]:
    template = source()
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            if action in statement["Action"]:
                statement["Action"].remove(action)
                return template
    raise AssertionError(f"{function} has no {action} to remove")


@pytest.fixture
def api_without_condition_check(local_api: LocalApi, tmp_path: Path) -> Iterator[tuple[ApiClient, LambdaService]]:
    """A second gateway over the same DynamoDB Local, whose UpdateProgressFunction may not ConditionCheckItem."""
    config = TemplateCopyConfig(
        ddb_endpoint=local_api.ddb_endpoint,
        state_dir=tmp_path,
        template=_without_action("UpdateProgressFunction", "dynamodb:ConditionCheckItem"),
    )
    with LambdaService(config) as lambdas:
        gateway = Gateway(lambdas)
        gateway.start()
        try:
            yield ApiClient(gateway.url), lambdas
        finally:
            gateway.stop()


@dataclass
class ViewedLesson:
    teacher: User
    learner: User
    path: str


@pytest.fixture
def viewed_lesson(lms: Lms) -> ViewedLesson:
    teacher, learner = lms.user("teacher", "instructor"), lms.user()
    course = lms.create_course(teacher, 2)
    lms.enroll(learner, course["id"])
    lesson = lms.lesson_ids(course)[0]
    record = lms.expect(201, lms.api.post("/progress", learner.token, json={"lessonId": lesson, "action": "view"}))
    return ViewedLesson(teacher, learner, f"/progress/{record['id']}")


def test_a_learner_edits_their_progress_with_the_templates_role(lms: Lms, viewed_lesson: ViewedLesson) -> None:
    response = lms.api.patch(viewed_lesson.path, viewed_lesson.learner.token, json={"position": 7})

    assert lms.expect(200, response)["position"] == 7


def test_a_role_without_one_action_fails_the_route_that_needs_it_and_only_that(
    api_without_condition_check: tuple[ApiClient, LambdaService], viewed_lesson: ViewedLesson
) -> None:
    api, lambdas = api_without_condition_check

    by_learner = api.patch(viewed_lesson.path, viewed_lesson.learner.token, json={"position": 7})
    by_teacher = api.patch(viewed_lesson.path, viewed_lesson.teacher.token, json={"position": 8})
    read_back = api.get(viewed_lesson.path, viewed_lesson.learner.token)

    # The learner's edit checks the enrollment in its transaction, staff's the erasure guard
    # (docs/privacy.md): both refused, as on AWS.
    for edit in (by_learner, by_teacher):
        assert edit.status_code == 500
        assert edit.json() == {"message": "Internal Server Error"}
    # Reads need other actions: they still work, and nothing was written.
    assert read_back.status_code == 200
    assert read_back.json()["position"] not in (7, 8)
    assert lambdas.reports.iam_calls["denied"] == 2
    assert lambdas.reports.iam_calls["checked"] >= 4


def test_the_stack_under_test_made_its_calls_through_iam_and_none_was_refused(lms: Lms, local_api: LocalApi) -> None:
    teacher = lms.user("teacher", "instructor")
    lms.create_course(teacher, 1)

    assert local_api.lambdas.reports.iam_calls["checked"] > 0
    assert local_api.lambdas.reports.iam_calls["denied"] == 0


def _role_without_action(role: str, action: str) -> dict[str, Any]:
    template = source()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if action in statement["Action"]:
                statement["Action"].remove(action)
                return template
    raise AssertionError(f"{role} has no {action} to remove")


@pytest.mark.parametrize("action", ["dynamodb:GetRecords", "sqs:SendMessage"])
def test_the_stream_mapping_delivers_nothing_when_the_role_cannot_read_the_stream_or_reach_its_destination(
    local_api: LocalApi, tmp_path: Path, action: str
) -> None:
    config = TemplateCopyConfig(
        ddb_endpoint=local_api.ddb_endpoint,
        state_dir=tmp_path,
        template=_role_without_action("SummarizeProgressRole", action),
    )
    with LambdaService(config) as lambdas:
        consumer = StreamPoller(lambdas, local_api.ddb_endpoint).consumers[0]
        consumer.poll_once()

    assert consumer.refusal is not None
    assert f"is not authorized to perform: {action}" in consumer.refusal
    assert lambdas.invocations["SummarizeProgressFunction"] == 0
    assert local_api.poller.consumers[0].refusal is None  # the template's own role may do both
