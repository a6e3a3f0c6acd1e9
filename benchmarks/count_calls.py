"""Invoke handlers in-process against DDB_ENDPOINT and print how many DynamoDB calls each made."""

import json
import sys
from collections import Counter
from functools import cache
from typing import Any
from urllib.parse import urlencode

import botocore.session

from benchmarks.environment import use_local_dynamodb
from local.context import LambdaContext
from local.loader import ROOT, Handler, load_module

CALLS: Counter[str] = Counter()


def count(**kwargs: Any) -> None:
    CALLS[kwargs["event_name"].rsplit(".", 1)[-1]] += 1


def event(name: str, learner: str, path: dict[str, str], body: Any = None, roles: str = "student") -> dict[str, Any]:
    with (ROOT / "events" / f"{name}.json").open() as handle:
        sample: dict[str, Any] = json.load(handle)
    sample["requestContext"]["authorizer"]["lambda"] = {"userId": learner, "roles": roles}
    sample["pathParameters"] = path or None
    # The resolver routes on rawPath: rebuild it from the route with these parameters.
    raw_path = sample["routeKey"].split(" ", 1)[1]
    for name_, value in path.items():
        raw_path = raw_path.replace("{" + name_ + "}", value)
    sample["rawPath"] = sample["requestContext"]["http"]["path"] = raw_path
    sample["body"] = json.dumps(body) if body is not None else None
    sample["headers"].pop("idempotency-key", None)
    return sample


@cache
def handler_of(function: str) -> Handler:
    """The function's handler, loaded once: its first call here is the first in a new execution
    environment, a later one finds what the first cached (the lesson's course, for POST /progress)."""
    return load_module(f"functions/{function}")[1]


def measure(label: str, function: str, sample: dict[str, Any]) -> None:
    handler = handler_of(function)
    CALLS.clear()
    response = handler(sample, LambdaContext(function))
    calls = ", ".join(f"{name} x{n}" for name, n in sorted(CALLS.items()))
    print(f"  {label:<40} status {response['statusCode']}: {sum(CALLS.values())} calls ({calls})")


def with_query(sample: dict[str, Any], **query: str) -> dict[str, Any]:
    sample["queryStringParameters"] = query
    sample["rawQueryString"] = urlencode(query)
    return sample


def main(learner: str, course_id: str, lesson_id: str, instructor: str) -> None:
    use_local_dynamodb(POWERTOOLS_METRICS_DISABLED="true")
    # Handlers build their clients from a fresh botocore session: hand them one that counts.
    session = botocore.session.get_session()
    session.register("before-call.dynamodb", count)
    botocore.session.get_session = lambda env_vars=None: session
    cases = [
        ("POST /progress (new environment)", "record_progress", {}, {"lessonId": lesson_id, "action": "view"}),
        ("POST /progress (warm environment)", "record_progress", {}, {"lessonId": lesson_id, "action": "view"}),
        ("GET /progress/course/{id}/summary", "get_progress_summary", {"courseId": course_id}, None),
        ("GET /courses/{id}", "get_course", {"courseId": course_id}, None),
    ]
    for label, function, path, body in cases:
        measure(label, function, event(function, learner, path, body))
    # Is this user enrolled in this course? (one key lookup each)
    mine = with_query(event("list_enrollments", learner, {}), courseId=course_id)
    measure("GET /enrollments?courseId=", "list_enrollments", mine)
    staff = event("list_course_enrollments", instructor, {"courseId": course_id}, roles="instructor")
    measure("GET /enrollments/course/{id}?userId=", "list_course_enrollments", with_query(staff, userId=learner))


if __name__ == "__main__":
    main(*sys.argv[1:5])
