"""The HTTP API's guard rails, emulated by the local gateway from template.yaml: DefaultRouteSettings
throttling (429 once a route's bucket is empty), and the largest request the API documents."""

import dataclasses

import pytest

from local.dev import LocalApi
from local.gateway import Gateway
from local.httpapi import Throttle
from tests.integration.conftest import ApiClient, Lms

pytestmark = pytest.mark.integration


def test_a_route_answers_429_once_its_burst_is_spent_and_other_routes_are_untouched(local_api: LocalApi) -> None:
    api = dataclasses.replace(local_api.gateway.api, throttle=Throttle(rate=0.001, burst=2))
    gateway = Gateway(local_api.lambdas, api=api)
    gateway.start()
    try:
        client = ApiClient(gateway.url)
        responses = [client.get("/courses/c-1") for _ in range(3)]
        other_route = client.get("/enrollments")
    finally:
        gateway.stop()

    # Throttling comes before the authorizer, as on API Gateway.
    assert [r.status_code for r in responses] == [401, 401, 429]
    assert responses[2].json() == {"message": "Too Many Requests"}
    assert other_route.status_code == 401


def test_the_default_throttle_is_read_from_the_template(local_api: LocalApi) -> None:
    assert local_api.gateway.api.throttle == Throttle(rate=2000.0, burst=4000)


def test_the_documented_maximum_outline_is_created(lms: Lms) -> None:
    """API.md's limits: one POST /courses carries at most 100 modules and 500 lessons; the largest is
    1,100 items written in batches (issue 16: with the machine busy, every attempt was a 503)."""
    teacher = lms.user("teacher", "instructor")

    course = lms.create_course(teacher, *[5] * 100)

    assert (len(course["modules"]), course["lessonCount"]) == (100, 500)
    stored = lms.expect(200, lms.api.get(f"/courses/{course['id']}", teacher.token))
    assert sum(len(module["lessons"]) for module in stored["modules"]) == 500
