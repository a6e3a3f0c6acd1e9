"""The production guard rails in template.yaml, as deployed (tools.template): log groups keep their
events for the retention parameter, the API logs and throttles, data survives a stack deletion,
alarms reach the topic, and no role reads streams account-wide. Each function's own log group and
alarms: tests/unit/test_template.py."""

import json

import pytest

from local.iam import function_policies
from tools.template import expand

STACK = expand()


def test_every_log_group_keeps_its_events_for_the_retention_parameter() -> None:
    groups = expand({"LogRetentionDays": "7"}).of_type("AWS::Logs::LogGroup")

    assert {int(g["RetentionInDays"]) for g in groups.values()} == {7}
    assert STACK.source["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_api_writes_json_access_logs_and_throttles_its_default_route() -> None:
    api = STACK.serverless["HttpApi"]["Properties"]
    fields = json.loads(api["AccessLogSettings"]["Format"])

    assert api["AccessLogSettings"]["DestinationArn"] == STACK.names["HttpApiAccessLogs"]["Arn"]
    assert {"requestId", "routeKey", "status", "latencyMs", "authorizerError", "integrationError"} <= fields.keys()
    throttled = expand({"ApiThrottlingRateLimit": "5", "ApiThrottlingBurstLimit": "9"}).serverless["HttpApi"]
    settings = throttled["Properties"]["DefaultRouteSettings"]
    assert (int(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"])) == (5, 9)


@pytest.mark.parametrize("logical_id", ["Table", "CursorSigningSecret", "SummarizeProgressFailureQueue"])
def test_data_users_would_miss_survives_a_stack_deletion_or_replacement(logical_id: str) -> None:
    assert STACK.resources[logical_id]["DeletionPolicy"] == "Retain"
    assert STACK.resources[logical_id]["UpdateReplacePolicy"] == "Retain"


def test_alarms_reach_the_topic_and_an_email_only_when_one_is_given() -> None:
    topic = STACK.names["AlarmTopic"]["Ref"]
    alarms = STACK.of_type("AWS::CloudWatch::Alarm")

    assert "AlarmEmailSubscription" not in STACK.resources
    assert expand({"AlarmEmail": "ops@example.org"}).resources["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    assert all(a["AlarmActions"] == [topic] for a in alarms.values())
    watched = {a.get("MetricName") for a in alarms.values()}
    assert {"IteratorAge", "ApproximateNumberOfMessagesVisible", "AuthorizerErrors", "Errors", "Throttles"} <= watched
    assert any(m.get("Expression", "").startswith("IF(requests") for a in alarms.values() for m in a.get("Metrics", []))


def test_no_role_reads_streams_account_wide() -> None:
    policies = function_policies(STACK)
    elsewhere = "arn:aws:dynamodb:us-east-1:000000000000:table/another-table/stream/2026-01-01T00:00:00.000"

    for function, policy in policies.items():
        for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"):
            assert not policy.allows(action, elsewhere), f"{function} may {action} any table's stream"
