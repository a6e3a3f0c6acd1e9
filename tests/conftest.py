"""Fixtures shared by unit and integration tests, and the personas and helpers the unit tests share
(test modules import them from here, never from one another)."""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# Settings every function reads; fixed before any handler module is imported.
TEST_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": "lms-dev",
    "IDEMPOTENCY_TABLE_NAME": "lms-idempotency-dev",
    "EVENT_BUS_NAME": "lms-dev",
    "CURSOR_SECRET": "test-cursor-signing-key",
    "ERASURE_KEY": "test-erasure-hash-key",
    "JWT_SECRET": "local-dev-secret-change-me-32bytes",
    "JWT_ISSUER": "https://auth.local.test",
    "JWT_AUDIENCE": "lms-api",
    "POWERTOOLS_SERVICE_NAME": "lms-enrollments",
    "POWERTOOLS_METRICS_NAMESPACE": "LMS",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}
for _name, _value in TEST_ENV.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_PROFILE", None)

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """An event from events/ (the same files `sam local invoke -e` uses)."""
    with (EVENTS / name).open(encoding="utf-8") as handle:
        event: dict[str, Any] = json.load(handle)
    return event


@pytest.fixture
def lambda_context() -> Any:
    from local.context import LambdaContext

    return LambdaContext(function_name="test-function", memory_mb=512, timeout_seconds=10)


@pytest.fixture(scope="session")
def _mocked_aws() -> Iterator[Any]:
    """One moto mock for the session: handler modules, loaded once, keep their clients valid."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb(_mocked_aws: Any) -> Any:
    """moto-backed DynamoDB with empty tables created from template.yaml for this test."""
    from local.template import table_definitions
    from tools.template import expand

    client = _mocked_aws
    for definition in table_definitions(expand()).values():
        if definition["TableName"] in client.list_tables()["TableNames"]:
            client.delete_table(TableName=definition["TableName"])
        client.create_table(**definition)
    return client


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


def assert_problem(reply: Reply, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with the given status, served as application/problem+json, no stack trace."""
    assert reply.status == status, reply.body
    assert reply.headers.get("Content-Type") == "application/problem+json"
    body: dict[str, Any] = reply.body
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in json.dumps(body)
    return body


def expire_parameter_caches() -> None:
    """What the passing of max_age does to Powertools Parameters' cache: every entry has expired."""
    from datetime import datetime, timedelta

    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS, ExpirableValue

    for provider in DEFAULT_PROVIDERS.values():
        for key, entry in provider.store.items():
            provider.store[key] = ExpirableValue(entry.value, datetime.now() - timedelta(seconds=1))


_MODULES: dict[str, Any] = {}


class ApiHarness:
    """Invokes handlers in-process with the events from events/, as API Gateway would call them.
    Each handler module is loaded once per session, like a warm execution environment."""

    def __init__(self, context: Any) -> None:
        self._context = context

    @staticmethod
    def module(function: str) -> Any:
        """The function's handler module (patch its attributes here, not through sys.modules,
        which another load of the same file may have replaced)."""
        if function not in _MODULES:
            from local.loader import load_module

            _MODULES[function] = load_module(f"functions/{function}")[0]
        return _MODULES[function]

    def _handler(self, function: str) -> Any:
        return self.module(function).lambda_handler

    def wire(self, monkeypatch: pytest.MonkeyPatch, name: str, service: Any, *functions: str) -> None:
        """Give these handlers `service` as their `name`: one lms.container built for this test (with
        a test clock or ids, say), as it builds theirs; monkeypatch restores theirs after the test."""
        for function in functions:
            monkeypatch.setattr(self.module(function), name, service)

    def call(
        self,
        function: str,
        *,
        user: str = "student-1",
        roles: str = "student",
        path: dict[str, str] | None = None,
        body: Any = None,
        raw_body: str | None = None,
        base64_body: bool = False,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        event = load_event(f"{function}.json")
        event["requestContext"]["authorizer"]["lambda"] = {"userId": user, "roles": roles}
        route = event["routeKey"].split(" ", 1)[1]
        if path is not None:
            event["pathParameters"] = path
            for name, value in path.items():
                route = route.replace("{" + name + "}", value)
            event["rawPath"] = event["requestContext"]["http"]["path"] = route
        event["isBase64Encoded"] = base64_body
        if raw_body is not None:
            event["body"] = raw_body
        elif body is not None:
            event["body"] = json.dumps(body)
        else:
            event.pop("body", None)
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
        event["headers"] = {k: v for k, v in event["headers"].items() if k not in ("if-match", "idempotency-key")}
        event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
        response = self._handler(function)(event, self._context)
        text = response.get("body") or ""
        return Reply(response["statusCode"], json.loads(text) if text else None, response.get("headers", {}))


@pytest.fixture
def api(dynamodb: Any, lambda_context: Any) -> ApiHarness:
    """Handlers over moto DynamoDB; each test gets empty tables."""
    return ApiHarness(lambda_context)


# ---------------------------------------------------------------------- personas and course helpers
# The callers of ApiHarness.call (`api.call(fn, **STUDENT, ...)`).
STUDENT = {"user": "student-1", "roles": "student"}
OTHER_STUDENT = {"user": "student-2", "roles": "student"}
THIRD_STUDENT = {"user": "student-3", "roles": "student"}
INSTRUCTOR = {"user": "inst-1", "roles": "instructor"}  # creates, and so teaches, the course
OTHER_INSTRUCTOR = {"user": "inst-2", "roles": "instructor"}  # teaches nothing here
ADMIN = {"user": "admin-1", "roles": "admin"}

# Module "Storage": Pages (required), Extra reading (optional), Logs (required); "Queries": Joins
# (required); "Extras": no lessons. Three required lessons in all.
OUTLINE: dict[str, Any] = {
    "title": "Databases",
    "modules": [
        {
            "title": "Storage",
            "lessons": [{"title": "Pages"}, {"title": "Extra reading", "required": False}, {"title": "Logs"}],
        },
        {"title": "Queries", "lessons": [{"title": "Joins"}]},
        {"title": "Extras"},
    ],
}


@dataclass(frozen=True)
class Course:
    """A created course: its id, module ids and lesson ids in outline order."""

    id: str
    module_ids: list[str]
    lesson_ids: list[str]
    required: list[bool]

    def lesson(self, index: int) -> str:
        """The lesson at this position in outline order (across modules)."""
        return self.lesson_ids[index]


def ok(reply: Reply, status: int = 200) -> Any:
    assert reply.status == status, reply.body
    return reply.body


def create_course(api: ApiHarness, outline: dict[str, Any] = OUTLINE, caller: dict[str, str] = INSTRUCTOR) -> Course:
    body = ok(api.call("create_course", **caller, body=outline), 201)
    lessons = [lesson for module in body["modules"] for lesson in module["lessons"]]
    return Course(
        id=body["id"],
        module_ids=[module["id"] for module in body["modules"]],
        lesson_ids=[lesson["id"] for lesson in lessons],
        required=[lesson["required"] for lesson in lessons],
    )


def enroll(api: ApiHarness, course_id: str, learner: dict[str, str] = STUDENT) -> dict[str, Any]:
    """The learner enrolls themselves."""
    enrollment: dict[str, Any] = ok(api.call("create_enrollment", **learner, body={"courseId": course_id}), 201)
    return enrollment


def record(
    api: ApiHarness, lesson_id: str, action: str = "view", caller: dict[str, str] = STUDENT, **fields: Any
) -> Reply:
    """POST /progress; extra fields are sent as they are (camelCase)."""
    return api.call("record_progress", **caller, body={"lessonId": lesson_id, "action": action, **fields})


def list_course(api: ApiHarness, course_id: str, caller: dict[str, str] = STUDENT, **query: str) -> Reply:
    """GET /progress/course/{courseId}."""
    return api.call("list_course_progress", **caller, path={"courseId": course_id}, query=query or None)


def tampered(cursor: str) -> str:
    """The cursor with one character of its payload changed: its signature no longer matches."""
    payload, signature = cursor.split(".")
    return f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"


def recorded(
    api: ApiHarness, lesson_id: str, action: str = "view", caller: dict[str, str] = STUDENT, **fields: Any
) -> dict[str, Any]:
    """POST /progress that must succeed (201 or 200); the progress body."""
    reply = record(api, lesson_id, action, caller, **fields)
    assert reply.status in (200, 201), reply.body
    body: dict[str, Any] = reply.body
    return body


class SteppingClock:
    """Stands in for the progress service's clock: every reading is one second after the previous,
    so "lastViewedAt moves" is certain without sleeping."""

    def __init__(self) -> None:
        self._now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def __call__(self) -> str:
        self._now += timedelta(seconds=1)
        return self._now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StreamHarness:
    """Feeds the table's stream (moto) to the summarizer the way the event source mapping would:
    the template's FilterCriteria applied, records in Lambda's shape, in order."""

    def __init__(self, dynamodb: Any, context: Any) -> None:
        import boto3

        from tools.event_filters import passes, stream_filters
        from tools.stream_records import lambda_record

        self._patterns = stream_filters("SummarizeProgressFunction")
        self._passes = passes
        self._lambda_record = lambda_record
        # moto routes only the classic endpoint; botocore now defaults to account-based ones.
        self._streams = boto3.client(
            "dynamodbstreams", region_name="us-east-1", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com/"
        )
        self._arn = dynamodb.describe_table(TableName=TEST_ENV["TABLE_NAME"])["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}
        self._context = context
        self.module = ApiHarness.module("summarize_progress")
        from lms import container

        # Each test has a table of its own: its summarizer starts, like a new execution environment,
        # with no outline cached (the module, and its summarizer, outlive one test).
        self.module.summarizer = container.summarizer()
        self.handler = self.module.lambda_handler

    def pending(self) -> list[dict[str, Any]]:
        """Every record written since the last call, as Lambda would pass them (after filtering)."""
        records: list[dict[str, Any]] = []
        for shard in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            response = self._streams.get_records(ShardIterator=iterator)
            self._iterators[shard_id] = response["NextShardIterator"]
            records += [self._lambda_record(raw, self._arn) for raw in response["Records"]]
        return [r for r in records if self._passes(self._patterns, r)]

    def deliver(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self.handler({"Records": records}, self._context)
        return result

    def drain(self, rounds: int = 10) -> None:
        """Deliver until the summarizer has nothing left to react to (its continuations included)."""
        for _ in range(rounds):
            records = self.pending()
            if not records:
                return
            assert self.deliver(records) == {"batchItemFailures": []}
        raise AssertionError("the stream did not settle")


@pytest.fixture
def stream(dynamodb: Any, lambda_context: Any) -> StreamHarness:
    return StreamHarness(dynamodb, lambda_context)


# The ids the stream events in events/summarize_progress_*.json refer to.
SEED = {
    "course": "01jd0000000000000000000000",
    "module_1": "01jd0000000000000000000001",
    "lesson_1": "01jd0000000000000000000002",
    "enrollment": "01jd0000000000000000000003",
    "progress_1": "01jd0000000000000000000004",
    "module_2": "01jd0000000000000000000005",
    "lesson_2": "01jd0000000000000000000006",
    "optional_lesson": "01jd0000000000000000000007",
    "progress_2": "01jd0000000000000000000008",
    "learner": "student-1",
    "at": "2026-11-26T10:00:00.000Z",
}


class SeededCourse:
    """The state the stream events describe, written straight through the repositories."""

    def __init__(self, dynamodb: Any) -> None:
        from lms.repositories.courses import CourseRepository
        from lms.repositories.dynamo import Table
        from lms.repositories.enrollments import EnrollmentRepository
        from lms.repositories.progress import ProgressRepository
        from lms.repositories.summaries import SummaryRepository

        table = Table(dynamodb, TEST_ENV["TABLE_NAME"])
        self.courses = CourseRepository(table)
        self.enrollments = EnrollmentRepository(table)
        self.progress = ProgressRepository(table)
        self.summaries = SummaryRepository(table)

    def create_course(self) -> None:
        from lms.models.catalog import Course, Lesson, Module

        at = SEED["at"]
        first = Module(
            id=SEED["module_1"],
            title="Getting started",
            position=1,
            lessons=[
                Lesson(id=SEED["lesson_1"], title="What is serverless?", position=1, required=True),
                Lesson(id=SEED["optional_lesson"], title="Optional history", position=2, required=False),
            ],
        )
        second = Module(
            id=SEED["module_2"],
            title="DynamoDB",
            position=2,
            lessons=[Lesson(id=SEED["lesson_2"], title="Single-table design", position=1, required=True)],
        )
        self.courses.create(
            Course(
                id=SEED["course"],
                title="Intro to Serverless",
                instructor_ids=["instructor-1"],
                lesson_count=3,
                required_lesson_count=2,
                modules=[first, second],
                created_at=at,
                updated_at=at,
            )
        )

    def enroll(self, user_id: str = SEED["learner"], enrollment_id: str = SEED["enrollment"]) -> None:
        from lms.models.enrollments import Enrollment, EnrollmentStatus

        at = SEED["at"]
        self.enrollments.create(
            Enrollment(
                id=enrollment_id,
                user_id=user_id,
                course_id=SEED["course"],
                status=EnrollmentStatus.ACTIVE,
                enrolled_at=at,
                updated_at=at,
                enrolled_by=user_id,
                version=1,
            ),
            outline_version=1,
        )

    def complete(self, lesson: str, module: str, progress_id: str, at: str, user_id: str = SEED["learner"]) -> None:
        from lms.models.progress import Progress, ProgressStatus

        record = Progress(
            id=progress_id,
            user_id=user_id,
            course_id=SEED["course"],
            module_id=module,
            lesson_id=lesson,
            status=ProgressStatus.COMPLETED,
            view_count=1,
            time_spent_seconds=60,
            first_viewed_at=at,
            last_viewed_at=at,
            completed_at=at,
            updated_at=at,
        )
        self.progress.save(record, 0, require_enrollment=True)


@pytest.fixture
def seeded(dynamodb: Any) -> SeededCourse:
    """A course with two required lessons (one per module) and an optional one, and its repositories."""
    seeded = SeededCourse(dynamodb)
    seeded.create_course()
    return seeded
