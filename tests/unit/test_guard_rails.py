"""The production guard rails in template.yaml: every function has a log group with a retention and
its alarms, the API logs and throttles, data survives a stack deletion, and no role reads streams
account-wide."""

import json
from typing import Any

import pytest

from local.iam import function_policies
from local.template import parameter_defaults
from tools.template import load_template

RESOURCES: dict[str, Any] = load_template()["Resources"]
FUNCTIONS = sorted(lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function")


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in RESOURCES.items() if r["Type"] == kind}


def _alarm_for(function: str, metric: str) -> dict[str, Any] | None:
    for alarm in _of_type("AWS::CloudWatch::Alarm").values():
        dimensions = alarm.get("Dimensions", [])
        if alarm.get("MetricName") == metric and {"Name": "FunctionName", "Value": {"Ref": function}} in dimensions:
            return alarm
    return None


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_a_log_group_with_retention_and_errors_and_throttles_alarms(function: str) -> None:
    groups = [
        g
        for g in _of_type("AWS::Logs::LogGroup").values()
        if g["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    ]

    assert len(groups) == 1
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for metric in ("Errors", "Throttles"):
        alarm = _alarm_for(function, metric)
        assert alarm is not None, f"no {metric} alarm for {function}"
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_log_group_keeps_its_events_for_the_retention_parameter() -> None:
    groups = _of_type("AWS::Logs::LogGroup")

    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    assert load_template()["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_api_writes_json_access_logs_and_throttles_its_default_route() -> None:
    api = RESOURCES["HttpApi"]["Properties"]
    fields = json.loads(api["AccessLogSettings"]["Format"])

    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    assert {"requestId", "routeKey", "status", "latencyMs", "authorizerError", "integrationError"} <= fields.keys()
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }


@pytest.mark.parametrize("logical_id", ["Table", "CursorSigningSecret", "StreamFailureQueue"])
def test_data_users_would_miss_survives_a_stack_deletion_or_replacement(logical_id: str) -> None:
    assert RESOURCES[logical_id]["DeletionPolicy"] == "Retain"
    assert RESOURCES[logical_id]["UpdateReplacePolicy"] == "Retain"


def test_alarms_reach_the_topic_and_an_email_only_when_one_is_given() -> None:
    subscription = RESOURCES["AlarmEmailSubscription"]
    alarms = _of_type("AWS::CloudWatch::Alarm")

    assert subscription["Condition"] == "HasAlarmEmail"
    assert load_template()["Parameters"]["AlarmEmail"]["Default"] == ""
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    watched = {a.get("MetricName") for a in alarms.values()}
    assert {"IteratorAge", "ApproximateNumberOfMessagesVisible", "AuthorizerErrors", "Errors", "Throttles"} <= watched
    assert any(m.get("Expression", "").startswith("IF(requests") for a in alarms.values() for m in a.get("Metrics", []))


def test_no_role_reads_streams_account_wide() -> None:
    template = load_template()
    policies = function_policies(template, parameter_defaults(template), "us-east-1")
    elsewhere = "arn:aws:dynamodb:us-east-1:000000000000:table/another-table/stream/2026-01-01T00:00:00.000"

    for function, policy in policies.items():
        for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"):
            assert not policy.allows(action, elsewhere), f"{function} may {action} any table's stream"
