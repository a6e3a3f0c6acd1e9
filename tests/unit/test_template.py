"""template.yaml says each thing once and deploys what it did before: each function's log group and
alarms come from one Fn::ForEach, each function names its own log group (created first, so no init,
SnapStart's included, can create it before), and the expanded stack keeps every resource."""

import pytest

from tools.template import expand

STACK = expand()
FUNCTIONS = sorted(STACK.of_type("AWS::Serverless::Function"))
# Every condition true: the stack holds every resource the template declares.
EVERYTHING = {
    "LrsEndpoint": "https://lrs.example.org/xAPI",
    "LrsCredentialsSecret": "lms/dev/lrs-credentials",
    "AlarmEmail": "ops@example.org",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_a_log_group_of_the_template_with_the_retention_parameter(function: str) -> None:
    # The Ref (not the group's name) is what makes CloudFormation create the group first.
    logging = STACK.source["Resources"][function]["Properties"]["LoggingConfig"]
    group = STACK.serverless[logging["LogGroup"]["Ref"]]
    deployed = STACK.of_type("AWS::Lambda::Function")[function]["LoggingConfig"]

    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == int(STACK.parameters["LogRetentionDays"])
    assert deployed["LogGroup"] == group["Properties"]["LogGroupName"]
    # Lambda creates /aws/lambda/<function> on its own when it is missing: a group of that name
    # could exist before the stack creates it.
    assert not deployed["LogGroup"].startswith("/aws/lambda/")
    assert deployed["LogFormat"] == "JSON"
    assert deployed["ApplicationLogLevel"] == STACK.parameters["LogLevel"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_its_errors_and_throttles_alarms(function: str) -> None:
    dimension = {"Name": "FunctionName", "Value": STACK.names[function]["Ref"]}
    alarms = STACK.of_type("AWS::CloudWatch::Alarm").values()

    for metric in ("Errors", "Throttles"):
        mine = [a for a in alarms if a.get("MetricName") == metric and dimension in a.get("Dimensions", [])]
        assert len(mine) == 1, f"{function} has {len(mine)} {metric} alarms"
        assert mine[0]["AlarmActions"] == [STACK.names["AlarmTopic"]["Ref"]]


def test_the_log_level_parameter_reaches_every_function() -> None:
    functions = expand({"LogLevel": "DEBUG"}).of_type("AWS::Lambda::Function").values()

    assert {f["LoggingConfig"]["ApplicationLogLevel"] for f in functions} == {"DEBUG"}


def test_the_expanded_template_keeps_every_resource_of_the_hand_written_one() -> None:
    # Before Fn::ForEach: 108 resources, among them 21 log groups and 46 alarms; since then, two rules
    # (XapiCourseMarkedCompletedRule, XapiStatementVoidedRule), a secret (ErasureHashSecret) and six
    # functions (UpdateCourse, ExpireAccess, EnrollRoster, ExportUserData, EraseUser, GetUserErasure:
    # each itself, its log group and its two alarms).
    resources = expand(EVERYTHING).serverless
    kinds = [resource["Type"] for resource in resources.values()]

    assert len(resources) == 135
    assert kinds.count("AWS::Logs::LogGroup") == 27
    assert kinds.count("AWS::CloudWatch::Alarm") == 58


@pytest.mark.parametrize("function", ["CreateEnrollmentFunction", "UpdateEnrollmentFunction", "EnrollRosterFunction"])
def test_a_seat_count_starts_after_any_seat_taking_function_has_timed_out(function: str) -> None:
    """A function that read a course head before it was given a capacity may still commit an
    uncounted seat until it times out: the count starts START_DELAY later (lms.services.seat_counts),
    which leaves at least 10 s for an eventually consistent read's lag and the last request."""
    from lms.services.seat_counts import START_DELAY

    timeout = STACK.of_type("AWS::Lambda::Function")[function]["Timeout"]

    assert timeout + 10 <= START_DELAY.total_seconds()
