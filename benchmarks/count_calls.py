"""Invoke handlers in-process against DDB_ENDPOINT and print how many DynamoDB calls each made."""

import json
import os
import sys
from collections import Counter
from typing import Any

import botocore.session

from local.context import LambdaContext
from local.loader import ROOT, load_module

CALLS: Counter[str] = Counter()


def count(**kwargs: Any) -> None:
    CALLS[kwargs["event_name"].rsplit(".", 1)[-1]] += 1


def event(name: str, learner: str, path: dict[str, str], body: Any = None) -> dict[str, Any]:
    with (ROOT / "events" / f"{name}.json").open() as handle:
        sample: dict[str, Any] = json.load(handle)
    sample["requestContext"]["authorizer"]["lambda"] = {"userId": learner, "roles": "student"}
    sample["pathParameters"] = path or None
    # The resolver routes on rawPath: rebuild it from the route with these parameters.
    raw_path = sample["routeKey"].split(" ", 1)[1]
    for name_, value in path.items():
        raw_path = raw_path.replace("{" + name_ + "}", value)
    sample["rawPath"] = sample["requestContext"]["http"]["path"] = raw_path
    sample["body"] = json.dumps(body) if body is not None else None
    sample["headers"].pop("idempotency-key", None)
    return sample


def main(learner: str, course_id: str, lesson_id: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL_DYNAMODB=os.environ["DDB_ENDPOINT"],
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        TABLE_NAME="lms-dev",
        CURSOR_SECRET="bench",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )
    # Handlers build their clients from a fresh botocore session: hand them one that counts.
    session = botocore.session.get_session()
    session.register("before-call.dynamodb", count)
    botocore.session.get_session = lambda env_vars=None: session
    cases = [
        ("POST /progress (first view)", "record_progress", {}, {"lessonId": lesson_id, "action": "view"}),
        ("POST /progress (later view)", "record_progress", {}, {"lessonId": lesson_id, "action": "view"}),
        ("GET /progress/course/{id}/summary", "get_progress_summary", {"courseId": course_id}, None),
        ("GET /courses/{id}", "get_course", {"courseId": course_id}, None),
    ]
    for label, function, path, body in cases:
        _, handler = load_module(f"functions/{function}")
        CALLS.clear()
        response = handler(event(function, learner, path, body), LambdaContext(function))
        calls = ", ".join(f"{name} x{n}" for name, n in sorted(CALLS.items()))
        print(f"  {label:<40} status {response['statusCode']}: {sum(CALLS.values())} calls ({calls})")


if __name__ == "__main__":
    main(*sys.argv[1:4])
