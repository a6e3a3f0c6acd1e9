"""The local EventBridge: the template's rules (conditions, patterns), input transformers with
EventBridge's quoting, the PutEvents protocol through botocore, and API destination delivery."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from local.config import LocalConfig
from local.eventbus import ApiDestination, LocalEventBus, Target, bus_spec, transform
from local.polling import poll_until

SECRET = "lms/test/lrs"
SECRETS = {SECRET: {"username": "lms", "password": "s3cret"}}


def config(tmp_path: Path, lrs_endpoint: str = "") -> LocalConfig:
    overrides = {"LrsEndpoint": lrs_endpoint, "LrsCredentialsSecret": SECRET} if lrs_endpoint else {}
    return LocalConfig(ddb_endpoint="http://unused", parameter_overrides=overrides, state_dir=tmp_path)


def event(detail_type: str = "CourseCompleted", **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "b1f0a8e2-0000-4000-8000-000000000000",
        "detail-type": detail_type,
        "source": "lms",
        "account": "000000000000",
        "time": "2026-11-26T10:20:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventId": "0b5c3f1e-1d2c-5a3b-8c4d-5e6f7a8b9c0d",
            "occurredAt": "2026-11-26T10:20:00.000Z",
            "userId": "student-1",
            "courseId": "c1",
            "lessonId": "l1",
            **detail,
        },
    }


def target(template: str, paths: dict[str, str]) -> Target:
    return Target("t", ApiDestination("d", "http://127.0.0.1:1/x", "POST", {}, None), paths, template)


# ---------------------------------------------------------------------- input transformer


def test_a_placeholder_in_quotes_takes_the_strings_text_escaped() -> None:
    chosen = target('{"name": "user <user>!"}', {"user": "$.detail.userId"})
    tricky = event(userId='a "quoted" \\ back\nslash')
    assert json.loads(transform(tricky, chosen)) == {"name": 'user a "quoted" \\ back\nslash!'}


def test_a_placeholder_outside_quotes_takes_the_value_as_json() -> None:
    chosen = target(
        '{"user": <user>, "detail": <detail>, "n": <n>}',
        {"user": "$.detail.userId", "detail": "$.detail", "n": "$.detail.n"},
    )
    rendered = json.loads(transform(event(n=3), chosen))
    assert rendered["user"] == "student-1"
    assert rendered["detail"]["courseId"] == "c1"
    assert rendered["n"] == 3


def test_a_non_string_in_quotes_is_its_json_text() -> None:
    chosen = target('{"n": "<n>", "list": "<list>"}', {"n": "$.detail.n", "list": "$.detail.list"})
    assert json.loads(transform(event(n=3, list=["a"]), chosen)) == {"n": "3", "list": '["a"]'}


def test_a_missing_path_is_empty_in_quotes_and_null_outside() -> None:
    chosen = target('{"a": "<missing>", "b": <missing>}', {"missing": "$.detail.nothing"})
    assert json.loads(transform(event(), chosen)) == {"a": "", "b": None}


def test_angle_brackets_that_name_no_variable_stay() -> None:
    chosen = target('{"a": "<b> and <user>"}', {"user": "$.detail.userId"})
    assert json.loads(transform(event(), chosen)) == {"a": "<b> and student-1"}


def test_without_a_transformer_the_target_gets_the_event() -> None:
    chosen = target("", {})
    plain = Target(chosen.id, chosen.destination, None, None)
    assert json.loads(transform(event(), plain)) == event()


# ---------------------------------------------------------------------- the template's rules


def test_no_lrs_configured_means_no_rules(tmp_path: Path) -> None:
    spec = bus_spec(config(tmp_path), {})
    assert spec.rules == ()
    assert "lms-dev" in spec.bus_names


def test_each_rule_matches_its_own_detail_type_only(tmp_path: Path) -> None:
    spec = bus_spec(config(tmp_path, "https://lrs.example.org/xAPI"), SECRETS)
    matched = {
        detail_type: [rule.name for rule in spec.rules if rule.pattern.matches_event(event(detail_type))]
        for detail_type in ("EnrollmentCreated", "LessonCompleted", "CourseCompleted", "EnrollmentDeleted")
    }
    assert matched == {
        "EnrollmentCreated": ["lms-dev-xapi-enrollment-created"],
        "LessonCompleted": ["lms-dev-xapi-lesson-completed"],
        "CourseCompleted": ["lms-dev-xapi-course-completed"],
        "EnrollmentDeleted": [],
    }
    marked = event(markedBy="inst-1")
    assert [rule.name for rule in spec.rules if rule.pattern.matches_event(marked)] == [
        "lms-dev-xapi-course-marked-completed"
    ]
    assert not any(rule.pattern.matches_event({**event(), "source": "other"}) for rule in spec.rules)


def test_the_templates_statements_are_xapi_with_the_event_id(tmp_path: Path) -> None:
    spec = bus_spec(config(tmp_path, "https://lrs.example.org/xAPI"), SECRETS)
    verbs = {
        "EnrollmentCreated": "http://adlnet.gov/expapi/verbs/registered",
        "LessonCompleted": "http://adlnet.gov/expapi/verbs/completed",
        "CourseCompleted": "http://adlnet.gov/expapi/verbs/completed",
    }
    for rule in spec.rules:
        [lrs] = rule.targets
        detail_type = rule.pattern.get_pattern()["detail-type"][0]
        statement = json.loads(transform(event(detail_type, markedBy="inst-1", statementId="s-1"), lrs))
        assert statement["id"] == "0b5c3f1e-1d2c-5a3b-8c4d-5e6f7a8b9c0d"
        if detail_type == "StatementVoided":  # an erased learner's statement: the service voids it
            assert statement["actor"]["account"]["name"] == "lms-service"
            assert statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided"
            assert statement["object"] == {"objectType": "StatementRef", "id": "s-1"}
            assert "student-1" not in json.dumps(statement)
            continue
        assert statement["actor"] == {
            "objectType": "Agent",
            "account": {"homePage": "https://lms.example.org", "name": "student-1"},
        }
        assert statement["verb"]["id"] == verbs[detail_type]
        assert statement["object"]["id"].startswith("https://lms.example.org/xapi/activities/")
        assert statement["timestamp"] == "2026-11-26T10:20:00.000Z"
        assert lrs.destination.endpoint == "https://lrs.example.org/xAPI/statements"
        assert lrs.destination.headers == {"X-Experience-API-Version": "1.0.3"}
        assert lrs.destination.basic_auth == ("lms", "s3cret")
        assert lrs.dead_letter
        marked = "marked" in rule.name
        instructor = {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": "inst-1"}}
        assert statement.get("context", {}).get("instructor") == (instructor if marked else None)


# ---------------------------------------------------------------------- PutEvents and delivery


class _Lrs(BaseHTTPRequestHandler):
    statuses: list[int]
    received: list[tuple[dict[str, str], Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.statuses.pop(0) if self.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_lrs() -> Iterator[tuple[str, type[_Lrs]]]:
    handler = type("Lrs", (_Lrs,), {"statuses": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/xAPI", handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def bus(tmp_path: Path, fake_lrs: tuple[str, type[_Lrs]]) -> Iterator[LocalEventBus]:
    running = LocalEventBus(config(tmp_path, fake_lrs[0]), SECRETS)
    running.start()
    yield running
    running.stop()


def events_client(bus: LocalEventBus) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "events", region_name="us-east-1", endpoint_url=bus.endpoint, aws_access_key_id="x", aws_secret_access_key="x"
    )


def entry(detail_type: str = "CourseCompleted", detail: str | None = None) -> dict[str, Any]:
    return {
        "Source": "lms",
        "DetailType": detail_type,
        "Detail": detail if detail is not None else json.dumps(event()["detail"]),
        "EventBusName": "lms-dev",
    }


def test_put_events_records_each_event_in_eventbridges_shape(bus: LocalEventBus) -> None:
    answer = events_client(bus).put_events(Entries=[entry(), entry("EnrollmentDeleted")])
    assert answer["FailedEntryCount"] == 0
    lines = [json.loads(line) for line in bus.events_path.read_text().splitlines()]
    assert [line["id"] for line in lines] == [e["EventId"] for e in answer["Entries"]]
    assert set(lines[0]) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert lines[0]["detail"] == event()["detail"]


def test_bad_entries_fail_alone(bus: LocalEventBus) -> None:
    answer = events_client(bus).put_events(
        Entries=[entry(detail="not json"), entry(), {**entry(), "EventBusName": "nope"}]
    )
    assert answer["FailedEntryCount"] == 2
    assert [e.get("ErrorCode") for e in answer["Entries"]] == ["MalformedDetail", None, "ResourceNotFoundException"]


def test_more_than_ten_entries_are_refused(bus: LocalEventBus) -> None:
    client = events_client(bus)
    with pytest.raises(client.exceptions.ClientError, match="ValidationException"):
        client.put_events(Entries=[entry()] * 11)


def test_a_matched_event_reaches_the_api_destination_with_auth_and_xapi_header(
    bus: LocalEventBus, fake_lrs: tuple[str, type[_Lrs]]
) -> None:
    _, lrs = fake_lrs
    lrs.statuses += [503, 429]  # retried, as EventBridge retries 5xx and 429
    events_client(bus).put_events(Entries=[entry()])
    poll_until(lambda: bus.stats["deliveries_succeeded"], timeout=10, what="delivery")
    assert len(lrs.received) == 3
    headers, statement = lrs.received[-1]
    assert headers["x-experience-api-version"] == "1.0.3"
    assert headers["authorization"] == "Basic bG1zOnMzY3JldA=="  # lms:s3cret
    assert statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"


def test_a_refused_statement_is_not_retried_and_goes_to_the_dead_letter_file(
    bus: LocalEventBus, fake_lrs: tuple[str, type[_Lrs]]
) -> None:
    _, lrs = fake_lrs
    lrs.statuses.append(400)
    events_client(bus).put_events(Entries=[entry()])
    poll_until(lambda: bus.stats["dead_lettered"], timeout=10, what="dead letter")
    assert len(lrs.received) == 1
    [dead] = [json.loads(line) for line in bus.dlq_path.read_text().splitlines()]
    assert dead["rule"] == "lms-dev-xapi-course-completed"
    assert dead["error"] == "HTTP 400"
