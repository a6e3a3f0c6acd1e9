"""moto's event pattern matcher (tools.event_filters) against what AWS delivers, for every pattern
template.yaml holds: each stream consumer's FilterCriteria, and each EventBridge rule's EventPattern.
The expected column is AWS's documented behaviour; a row moto got wrong would fail here."""

from pathlib import Path
from typing import Any

import pytest

from local.config import LocalConfig
from local.eventbus import bus_spec
from tools.event_filters import passes, stream_filters


def record(event_name: str, new: dict[str, str] | None = None, old: dict[str, str] | None = None) -> dict[str, Any]:
    """A stream record in Lambda's shape, its images with string attributes (plus a nested map and
    list, as real items have, which the patterns do not look into)."""
    nested = {"modules": {"L": [{"M": {"id": {"S": "m1"}}}]}, "percent": {"N": "50"}}
    dynamodb: dict[str, Any] = {"Keys": {"pk": {"S": "USER#u1"}, "sk": {"S": "COURSE#c1"}}, "SequenceNumber": "1"}
    for name, image in (("NewImage", new), ("OldImage", old)):
        if image is not None:
            dynamodb[name] = {key: {"S": value} for key, value in image.items()} | nested
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


SUMMARIZER_ROWS = [
    ("api enrollment created", record("INSERT", {"entity": "ENROLLMENT", "writer": "api"}), True),
    ("api progress modified", record("MODIFY", {"entity": "PROGRESS", "writer": "api"}), True),
    ("api lesson created", record("INSERT", {"entity": "LESSON", "writer": "api"}), True),
    ("its own enrollment write", record("MODIFY", {"entity": "ENROLLMENT", "writer": "summarizer"}), False),
    ("a seat count's mark", record("MODIFY", {"entity": "ENROLLMENT", "writer": "seats"}), False),
    ("a write without writer", record("INSERT", {"entity": "PROGRESS"}), False),
    ("another entity", record("INSERT", {"entity": "SUMMARY", "writer": "api"}), False),
    ("values are case-sensitive", record("INSERT", {"entity": "enrollment", "writer": "api"}), False),
    ("enrollment removed", record("REMOVE", old={"entity": "ENROLLMENT", "writer": "api"}), True),
    ("lesson removed", record("REMOVE", old={"entity": "LESSON"}), True),
    ("progress removed", record("REMOVE", old={"entity": "PROGRESS", "writer": "api"}), False),
    ("a removal matched on its new image", record("REMOVE", new={"entity": "ENROLLMENT", "writer": "api"}), False),
    ("fan-out segment", record("INSERT", {"entity": "COURSE_RECOMPUTE"}), True),
    ("fan-out segment moved on", record("MODIFY", {"entity": "COURSE_RECOMPUTE", "writer": "summarizer"}), True),
    ("fan-out segment removed", record("REMOVE", old={"entity": "COURSE_RECOMPUTE"}), False),
]
PUBLISHER_ROWS = [
    ("enrollment created", record("INSERT", {"entity": "ENROLLMENT", "writer": "api"}), True),
    ("enrollment completed by summarizer", record("MODIFY", {"entity": "ENROLLMENT", "writer": "summarizer"}), True),
    ("enrollment deleted", record("REMOVE", old={"entity": "ENROLLMENT"}), True),
    ("lesson completed", record("INSERT", {"entity": "PROGRESS", "status": "COMPLETED"}), True),
    ("lesson completed later", record("MODIFY", {"entity": "PROGRESS", "status": "COMPLETED"}), True),
    ("lesson viewed", record("MODIFY", {"entity": "PROGRESS", "status": "IN_PROGRESS"}), False),
    ("progress without status", record("INSERT", {"entity": "PROGRESS"}), False),
    ("completed progress removed", record("REMOVE", old={"entity": "PROGRESS", "status": "COMPLETED"}), False),
    ("a lesson", record("INSERT", {"entity": "LESSON", "status": "COMPLETED"}), False),
]


@pytest.mark.parametrize(
    ("function", "label", "change", "delivered"),
    [("SummarizeProgressFunction", *row) for row in SUMMARIZER_ROWS]
    + [("PublishEventsFunction", *row) for row in PUBLISHER_ROWS],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_stream_consumer_gets_what_its_filter_criteria_let_through(
    function: str, label: str, change: dict[str, Any], delivered: bool
) -> None:
    filters = stream_filters(function)

    assert filters, f"{function} has FilterCriteria in the template"
    assert passes(filters, change) is delivered, label


def _rule_patterns(tmp_path: Path) -> dict[str, Any]:
    """Each rule's pattern, by rule name, with an LRS configured (no LRS: no rules)."""
    lrs = {"LrsEndpoint": "https://lrs.example.org/xAPI", "LrsCredentialsSecret": "lrs"}
    config = LocalConfig(ddb_endpoint="http://unused", parameter_overrides=lrs, state_dir=tmp_path)
    spec = bus_spec(config, {"lrs": {"username": "u", "password": "p"}})
    return {rule.name.removeprefix("lms-dev-xapi-"): rule.pattern for rule in spec.rules}


def _event(source: str, detail_type: str, **extra: Any) -> dict[str, Any]:
    detail = {"eventId": "e1", "userId": "u1", "courseId": "c1", "tags": ["a", "b"], **extra}
    return {"version": "0", "id": "1", "detail-type": detail_type, "source": source, "resources": [], "detail": detail}


@pytest.mark.parametrize(
    ("source", "detail_type", "matched"),
    [
        ("lms", "EnrollmentCreated", ["enrollment-created"]),
        ("lms", "LessonCompleted", ["lesson-completed"]),
        ("lms", "CourseCompleted", ["course-completed"]),
        ("lms", "EnrollmentDeleted", []),
        ("lms", "EnrollmentStatusChanged", []),
        ("lms", "StatementVoided", ["statement-voided"]),
        ("lms", "LearnerErased", []),
        ("lms", "coursecompleted", []),  # values are case-sensitive
        ("another-source", "CourseCompleted", []),
    ],
)
def test_an_event_reaches_the_rules_whose_pattern_matches_it(
    tmp_path: Path, source: str, detail_type: str, matched: list[str]
) -> None:
    patterns = _rule_patterns(tmp_path)
    assert len(patterns) == 5

    got = [rule for rule, pattern in patterns.items() if pattern.matches_event(_event(source, detail_type))]

    assert got == matched


@pytest.mark.parametrize(
    ("marked_by", "matched"),
    [
        ("inst-1", ["course-marked-completed"]),  # `exists: true`
        ("", ["course-marked-completed"]),  # an empty string still exists
    ],
)
def test_a_staff_marked_completion_reaches_the_marked_rule_only(
    tmp_path: Path, marked_by: str, matched: list[str]
) -> None:
    patterns = _rule_patterns(tmp_path)

    event = _event("lms", "CourseCompleted", markedBy=marked_by)
    got = [rule for rule, pattern in patterns.items() if pattern.matches_event(event)]

    assert got == matched


def test_no_filter_delivers_everything() -> None:
    assert passes((), record("REMOVE", old={"entity": "ANYTHING"}))
