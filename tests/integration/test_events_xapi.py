"""The whole events chain over HTTP: API -> table stream -> PublishEventsFunction -> local EventBridge
(rules, input transformers, API destination) -> Ralph, the real LRS, read back through its own
`GET /xAPI/statements`. Every event the bus saw is validated against schemas/events/."""

import json
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import pytest
import requests

from local.dev import LocalApi
from local.dynamodb_local import client, dynamodb_client
from local.lrs import LRS_VENV, RunningLrs
from local.polling import poll_until
from tests.integration.conftest import Lms, User
from tools.stream_records import lambda_record

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "events"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
REGISTERED = "http://adlnet.gov/expapi/verbs/registered"
COURSE = "http://adlnet.gov/expapi/activities/course"
LESSON = "http://adlnet.gov/expapi/activities/lesson"
DEADLINE_SECONDS = 30


def statements_of(lrs: RunningLrs, user_id: str) -> list[dict[str, Any]]:
    """Every statement the LRS holds for the learner's account, following `more` links."""
    agent = {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": user_id}}
    url: str | None = f"{lrs.xapi_url}/statements"
    params: dict[str, str] | None = {"agent": json.dumps(agent), "limit": "100"}
    found: list[dict[str, Any]] = []
    while url:
        response = requests.get(
            url,
            params=params,
            auth=(lrs.user, lrs.password),
            headers={"X-Experience-API-Version": "1.0.3"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["statements"]
        more = body.get("more")
        url, params = (f"http://{lrs.host}:{lrs.port}{more}" if more else None), None
    return found


def wait_for_statements(lrs: RunningLrs, user_id: str, count: int) -> list[dict[str, Any]]:
    """The learner's statements once there are at least `count` (the bus delivers asynchronously)."""
    found: list[dict[str, Any]] = poll_until(
        lambda: statements_of(lrs, user_id),
        lambda statements: len(statements) >= count,
        timeout=DEADLINE_SECONDS,
        what=f"{count} statements of {user_id}",
    )
    return found


def bus_events(local_api: LocalApi, user_id: str) -> list[dict[str, Any]]:
    """The events in .local/events.jsonl (here: the session's state dir) about this learner."""
    path = local_api.bus.events_path
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    events = [json.loads(line) for line in lines]
    return [e for e in events if e["detail"].get("userId") == user_id]


def assert_valid_event(event: dict[str, Any]) -> None:
    assert {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} <= set(event)
    assert event["source"] == "lms"
    schema = json.loads((SCHEMAS / f"{event['detail-type']}.json").read_text(encoding="utf-8"))
    jsonschema.validate(event["detail"], schema)


def assert_ralph_models_accept(statements: list[dict[str, Any]]) -> None:
    """Ralph's own xAPI 1.0.3 statement model (stricter than the LRS's lax intake) accepts each one,
    and its xAPI LMS profile model the `registered` ones."""
    script = (
        "import json, sys\n"
        "from ralph.models.xapi.base.statements import BaseXapiStatement\n"
        "from ralph.models.xapi.lms.statements import LMSRegisteredCourse\n"
        "for line in sys.stdin:\n"
        "    statement = json.loads(line)\n"
        "    BaseXapiStatement.model_validate(statement)\n"
        f"    if statement['verb']['id'] == {REGISTERED!r}:\n"
        "        LMSRegisteredCourse.model_validate(statement)\n"
    )
    stored_only = {"stored", "authority", "version"}
    lines = "".join(json.dumps({k: v for k, v in s.items() if k not in stored_only}) + "\n" for s in statements)
    result = subprocess.run(  # noqa: S603 - Ralph's own venv
        [str(LRS_VENV / "bin" / "python"), "-P", "-c", script], input=lines, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def course_completions(statements: list[dict[str, Any]], course_id: str) -> list[dict[str, Any]]:
    return [
        s for s in statements if s["verb"]["id"] == COMPLETED and s["object"]["id"].endswith(f"/courses/{course_id}")
    ]


class CompletedCourse(NamedTuple):
    learner: User
    course: dict[str, Any]
    instructor: User


@pytest.fixture
def completed_course(lms: Lms, local_api: LocalApi) -> CompletedCourse:
    """A learner who completed every lesson of a 2-lesson course through the API."""
    instructor = lms.user("teacher", "instructor")
    learner = lms.user()
    course = lms.create_course(instructor, 2)
    lms.enroll(learner, course["id"])
    for lesson_id in lms.lesson_ids(course):
        lms.complete(learner, lesson_id)
    return CompletedCourse(learner, course, instructor)


def test_completing_a_course_puts_one_completed_statement_in_the_lrs_and_one_event_on_the_bus(
    completed_course: CompletedCourse,
    lrs: RunningLrs,
    local_api: LocalApi,
) -> None:
    learner, course, _instructor = completed_course
    # registered + 2 lessons completed + the course completed
    statements = wait_for_statements(lrs, learner.id, 4)
    assert len(statements) == 4
    [course_completed] = course_completions(statements, course["id"])
    assert course_completed["object"]["definition"]["type"] == COURSE
    assert course_completed["result"]["completion"] is True
    assert course_completed["actor"]["account"] == {"homePage": "https://lms.example.org", "name": learner.id}
    [registered] = [s for s in statements if s["verb"]["id"] == REGISTERED]
    assert registered["object"]["id"] == course_completed["object"]["id"]
    lessons = [s for s in statements if s["object"]["definition"]["type"] == LESSON]
    assert {s["object"]["id"].rsplit("/", 1)[1] for s in lessons} == set(Lms.lesson_ids(course))
    assert all(
        s["context"]["contextActivities"]["parent"][0]["id"] == course_completed["object"]["id"] for s in lessons
    )
    assert_ralph_models_accept(statements)

    events = bus_events(local_api, learner.id)
    for event in events:
        assert_valid_event(event)
    [completion] = [e for e in events if e["detail-type"] == "CourseCompleted"]
    assert completion["detail"]["courseId"] == course["id"]
    # The statement id is the event's own deterministic id.
    assert course_completed["id"] == completion["detail"]["eventId"]
    assert sorted(e["detail-type"] for e in events) == [
        "CourseCompleted",
        "EnrollmentCreated",
        "EnrollmentStatusChanged",  # ACTIVE -> COMPLETED, by the summarizer
        "LessonCompleted",
        "LessonCompleted",
    ]


def test_replaying_the_stream_repeats_the_same_events_and_adds_no_statement(
    completed_course: CompletedCourse,
    lrs: RunningLrs,
    local_api: LocalApi,
    table_name: str,
) -> None:
    learner, course, _instructor = completed_course
    wait_for_statements(lrs, learner.id, 4)
    first = bus_events(local_api, learner.id)
    delivered = local_api.bus.stats["deliveries_succeeded"]

    records = learner_stream_records(local_api, table_name, learner.id)
    result = local_api.lambdas.invoke("PublishEventsFunction", {"Records": records})
    assert result == {"batchItemFailures": []}

    # Every replayed event that a rule matches is delivered (again) before we count.
    poll_until(
        lambda: local_api.bus.stats["deliveries_succeeded"],
        lambda count: count >= delivered + 4,
        timeout=DEADLINE_SECONDS,
        what="replayed deliveries",
    )
    replayed = bus_events(local_api, learner.id)[len(first) :]
    assert sorted((e["detail-type"], e["detail"]["eventId"]) for e in replayed) == sorted(
        (e["detail-type"], e["detail"]["eventId"]) for e in first
    )
    assert [e["detail"] for e in replayed] == [e["detail"] for e in first]  # byte for byte the same details
    statements = statements_of(lrs, learner.id)
    assert len(statements) == 4
    assert len(course_completions(statements, course["id"])) == 1


def test_a_recomputed_summary_does_not_complete_the_course_again(
    completed_course: CompletedCourse,
    lms: Lms,
    lrs: RunningLrs,
    local_api: LocalApi,
) -> None:
    learner, course, instructor = completed_course
    wait_for_statements(lrs, learner.id, 4)
    module_id = course["modules"][0]["id"]
    added = lms.expect(
        201,
        lms.api.post(
            f"/courses/{course['id']}/modules/{module_id}/lessons", instructor.token, json={"title": "Added later"}
        ),
    )
    # The course-wide recompute: 2 of 3 lessons now, the enrollment stays COMPLETED (sticky).
    lms.wait_for_summary(learner, course["id"], lambda s: s["requiredLessons"] == 3)
    lms.complete(learner, added["id"])
    # Same partition as the enrollment: once this lesson's event is out, the recompute's enrollment
    # write (earlier in the shard) has been through the publisher too.
    poll_until(
        lambda: [e for e in bus_events(local_api, learner.id) if e["detail"].get("lessonId") == added["id"]],
        timeout=DEADLINE_SECONDS,
        what="the added lesson's event",
    )
    lms.wait_for_summary(learner, course["id"], lambda s: s["percent"] == 100)
    completions = [e for e in bus_events(local_api, learner.id) if e["detail-type"] == "CourseCompleted"]
    assert len(completions) == 1
    statements = wait_for_statements(lrs, learner.id, 5)
    assert len(course_completions(statements, course["id"])) == 1


def test_a_staff_marking_is_its_own_statement_and_the_learners_completion_still_gets_one(
    lms: Lms, lrs: RunningLrs, local_api: LocalApi
) -> None:
    """Given a learner at 0 % whose instructor sets the enrollment COMPLETED, then the LRS holds a
    course `completed` naming the instructor as context.instructor, under the marking's event id;
    when the learner then completes every lesson, their own `completed` (no instructor) arrives
    under another id (issue 16, defect 3)."""
    instructor = lms.user("teacher", "instructor")
    learner = lms.user()
    course = lms.create_course(instructor, 2)
    enrollment = lms.enroll(learner, course["id"])
    path = f"/enrollments/{enrollment['id']}"
    lms.expect(200, lms.api.patch(path, instructor.token, json={"status": "COMPLETED"}))

    [marking] = course_completions(wait_for_statements(lrs, learner.id, 2), course["id"])  # + registered
    assert marking["context"]["instructor"] == {
        "objectType": "Agent",
        "account": {"homePage": "https://lms.example.org", "name": instructor.id},
    }
    assert marking["actor"]["account"]["name"] == learner.id
    [marked_event] = [e for e in bus_events(local_api, learner.id) if e["detail-type"] == "CourseCompleted"]
    assert marked_event["detail"]["markedBy"] == instructor.id
    assert marking["id"] == marked_event["detail"]["eventId"]

    for lesson_id in lms.lesson_ids(course):
        lms.complete(learner, lesson_id)

    statements = wait_for_statements(lrs, learner.id, 5)  # + 2 lessons + the learner's own completion
    [own] = [s for s in course_completions(statements, course["id"]) if s["id"] != marking["id"]]
    assert "instructor" not in own.get("context", {})
    assert own["result"]["completion"] is True
    events = [e for e in bus_events(local_api, learner.id) if e["detail-type"] == "CourseCompleted"]
    assert [("markedBy" in e["detail"], e["detail"]["eventId"]) for e in events] == [
        (True, marking["id"]),
        (False, own["id"]),
    ]
    for event in bus_events(local_api, learner.id):
        assert_valid_event(event)
    assert_ralph_models_accept(statements)


def test_a_re_enrollment_completed_again_is_another_event_and_statement(
    completed_course: CompletedCourse, lms: Lms, lrs: RunningLrs, local_api: LocalApi
) -> None:
    """Given a learner who completed a course, when their enrollment is deleted and they enroll again
    (their progress kept, so the new enrollment completes), then that completion is a CourseCompleted
    with another id, naming the new enrollment, and its own statement: never one id with two details."""
    learner, course, _instructor = completed_course
    wait_for_statements(lrs, learner.id, 4)
    [first] = [e for e in bus_events(local_api, learner.id) if e["detail-type"] == "CourseCompleted"]
    assert lms.api.delete(f"/enrollments/{first['detail']['enrollmentId']}", learner.token).status_code == 204

    again = lms.enroll(learner, course["id"])

    statements = wait_for_statements(lrs, learner.id, 6)  # + registered again + the new completion
    assert len(course_completions(statements, course["id"])) == 2
    completions = [e["detail"] for e in bus_events(local_api, learner.id) if e["detail-type"] == "CourseCompleted"]
    assert [c["enrollmentId"] for c in completions] == [first["detail"]["enrollmentId"], again["id"]]
    assert len({c["eventId"] for c in completions}) == 2


def test_entries_the_bus_fails_are_retried_by_the_publisher(lms: Lms, lrs: RunningLrs, local_api: LocalApi) -> None:
    instructor = lms.user("teacher", "instructor")
    learner = lms.user()
    course = lms.create_course(instructor, 1)
    local_api.bus.fail_next_entries(1)
    lms.enroll(learner, course["id"])

    statements = wait_for_statements(lrs, learner.id, 1)
    assert [s["verb"]["id"] for s in statements] == [REGISTERED]
    assert [e["detail-type"] for e in bus_events(local_api, learner.id)] == ["EnrollmentCreated"]
    assert local_api.bus.stats["entries_failed"] >= 1


def learner_stream_records(local_api: LocalApi, table_name: str, user_id: str) -> list[dict[str, Any]]:
    """The table stream's records about the learner, as Lambda passes them (the stream replayed)."""
    region = local_api.lambdas.config.region
    streams = client("dynamodbstreams", local_api.ddb_endpoint, region)
    table = dynamodb_client(local_api.ddb_endpoint, region).describe_table(TableName=table_name)["Table"]
    arn = table["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += [lambda_record(raw, arn) for raw in response["Records"]]
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    mine = f"USER#{user_id}"
    return [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == mine]
