"""Local IAM (local/iam.py): the template's roles as SAM expands them, IAM's evaluation rules, the
actions and resources each AWS call asks for, and the botocore hook that refuses a call as AWS does."""

from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from local.iam import Enforcer, Policy, function_policies, requested, statement
from local.ports import free_port
from local.template import function_specs
from local.worker import argument, from_argument
from tools.template import expand

REGION = "us-east-1"
ACCOUNT = "000000000000"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/lms-dev"
OTHER_TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/someone-elses"


@cache
def policies(**overrides: str) -> dict[str, Policy]:
    return function_policies(expand(overrides, REGION))


# ---------------------------------------------------------------------- the template's roles


def test_a_function_is_granted_its_statements_on_the_resolved_table_arn() -> None:
    update_progress = policies()["UpdateProgressFunction"]

    assert update_progress.allows("dynamodb:ConditionCheckItem", TABLE)
    assert not update_progress.allows("dynamodb:Query", TABLE)
    assert not update_progress.allows("dynamodb:GetItem", OTHER_TABLE)
    assert not update_progress.allows("dynamodb:GetItem", f"{TABLE}/index/gsi1")


def test_an_index_grant_covers_the_index_only() -> None:
    course_enrollments = policies()["ListCourseEnrollmentsFunction"]

    assert course_enrollments.allows("dynamodb:Query", f"{TABLE}/index/gsi1")
    assert not course_enrollments.allows("dynamodb:Query", TABLE)


def test_sam_policy_templates_grant_what_they_expand_to() -> None:
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:lms-dev-cursor-signing-key-AbCdEf"
    assert policies()["ListEnrollmentsFunction"].allows("secretsmanager:GetSecretValue", secret)
    assert not policies()["GetEnrollmentFunction"].allows("secretsmanager:GetSecretValue", secret)

    # SSMParameterReadPolicy exists only when the parameter is named (a condition in the template).
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/lms/dev/jwt-secret"
    assert not policies()["AuthorizerFunction"].allows("ssm:GetParameter", parameter)
    authorizer = policies(JwtSecretParameterName="lms/dev/jwt-secret")["AuthorizerFunction"]
    assert authorizer.allows("ssm:GetParameter", parameter)
    assert not authorizer.allows("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/lms/dev/other")


def test_the_stream_function_reads_only_its_tables_stream_and_sends_failures_to_its_queue() -> None:
    summarizer = policies()["SummarizeProgressFunction"]
    stream = f"{TABLE}/stream/2026-01-01T00:00:00.000"

    for action in ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"):
        assert summarizer.allows(action, stream)
        assert not summarizer.allows(action, f"{OTHER_TABLE}/stream/2026-01-01T00:00:00.000")
    assert summarizer.allows("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:lms-dev-stream-failures")
    assert not summarizer.allows("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:another-queue")


def test_an_api_function_cannot_read_the_stream() -> None:
    assert not policies()["GetCourseFunction"].allows("dynamodb:GetRecords", f"{TABLE}/stream/x")


def test_every_function_may_write_its_logs() -> None:
    assert all(p.allows("logs:PutLogEvents", "arn:aws:logs:x") for p in policies().values())


# ---------------------------------------------------------------------- evaluation rules


def _policy(*statements: dict[str, Any]) -> Policy:
    return Policy("F", "R", tuple(statement(s) for s in statements))


def test_wildcards_match_actions_case_insensitively_and_resources_exactly() -> None:
    policy = _policy({"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "arn:*:table/lms-dev"})

    assert policy.allows("dynamodb:GetItem", "arn:aws:dynamodb:r:a:table/lms-dev")
    assert policy.allows("DynamoDB:getitem", "arn:aws:dynamodb:r:a:table/lms-dev")
    assert not policy.allows("dynamodb:GetItem", "arn:aws:dynamodb:r:a:table/LMS-dev")
    assert not policy.allows("dynamodb:GetItem", "arn:aws:dynamodb:r:a:table/lms-dev/index/gsi1")
    assert not policy.allows("dynamodb:PutItem", "arn:aws:dynamodb:r:a:table/lms-dev")


def test_an_explicit_deny_wins_and_nothing_allowed_is_denied() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": ["dynamodb:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": [TABLE]},
        {"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:sqs:*"},
    )

    assert policy.allows("dynamodb:PutItem", TABLE)
    assert not policy.allows("dynamodb:DeleteItem", TABLE)
    assert policy.allows("sqs:SendMessage", "arn:aws:sqs:r:a:q")
    assert not policy.allows("s3:GetObject", "arn:aws:sqs:r:a:q")
    assert not _policy().allows("dynamodb:GetItem", TABLE)


@pytest.mark.parametrize(
    "raw",
    [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:r:a:table/lms-?ev"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "NotResource": TABLE},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*", "Condition": {"Bool": {"x": "true"}}},
        {"Effect": "Allow", "Action": "dynamodb:GetItem"},
    ],
    ids=["question-mark", "not-resource", "condition", "no-resource"],
)
def test_a_statement_moto_would_evaluate_otherwise_than_iam_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not evaluated locally"):
        statement(raw)


def test_a_policy_survives_its_trip_to_the_worker() -> None:
    policy = policies()["SummarizeProgressFunction"]

    spec = function_specs(expand({}, REGION))["SummarizeProgressFunction"]

    assert from_argument(argument(spec, policy)) == (spec, policy)


# ---------------------------------------------------------------------- what a call asks for


def test_each_part_of_a_transaction_or_batch_is_authorized_on_its_own() -> None:
    transaction = {
        "TransactItems": [
            {"ConditionCheck": {"TableName": "lms-dev", "Key": {}}},
            {"Put": {"TableName": "lms-dev", "Item": {}}},
            {"Delete": {"TableName": "someone-elses", "Key": {}}},
        ]
    }
    batch = {"RequestItems": {"lms-dev": {"Keys": []}, "someone-elses": {"Keys": []}}}

    assert list(requested("dynamodb", "TransactWriteItems", transaction, REGION)) == [
        ("dynamodb:ConditionCheckItem", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:DeleteItem", OTHER_TABLE),
    ]
    assert list(requested("dynamodb", "BatchGetItem", batch, REGION)) == [
        ("dynamodb:BatchGetItem", TABLE),
        ("dynamodb:BatchGetItem", OTHER_TABLE),
    ]
    assert list(requested("dynamodb", "Query", {"TableName": "lms-dev", "IndexName": "gsi1"}, REGION)) == [
        ("dynamodb:Query", f"{TABLE}/index/gsi1")
    ]


@pytest.mark.parametrize(
    ("prefix", "operation", "params", "resource"),
    [
        (
            "secretsmanager",
            "GetSecretValue",
            {"SecretId": "s"},
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:s-AbCdEf",
        ),
        ("ssm", "GetParameter", {"Name": "/lms/dev/jwt"}, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/lms/dev/jwt"),
        ("sqs", "SendMessage", {"QueueUrl": "https://sqs/000000000000/q"}, f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"),
        (
            "events",
            "PutEvents",
            {"Entries": [{"Detail": "{}"}]},
            f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        ),
        (
            "dynamodb",
            "GetRecords",
            {"ShardIterator": "arn:aws:dynamodb:ddblocal:000000000000:table/lms-dev/stream/2026|1|AAAA"},
            f"{TABLE}/stream/2026",
        ),
        ("cloudwatch", "PutMetricData", {"Namespace": "LMS"}, "*"),
    ],
)
def test_a_call_names_the_resource_iam_checks(
    prefix: str, operation: str, params: dict[str, Any], resource: str
) -> None:
    assert list(requested(prefix, operation, params, REGION)) == [(f"{prefix}:{operation}", resource)]


# ---------------------------------------------------------------------- the botocore hook


@pytest.fixture
def enforced() -> Iterator[Enforcer]:
    """UpdateProgressFunction's role on every botocore session created in the test."""
    enforcer = Enforcer(policies()["UpdateProgressFunction"], REGION)
    enforcer.install()
    try:
        yield enforcer
    finally:
        enforcer.uninstall()


def _client(service: str) -> Any:
    # Nothing listens on this port: a call that is sent fails to connect; a refused one is never sent.
    return botocore.session.get_session().create_client(
        service,
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )


def test_a_refused_call_fails_as_aws_fails_it_without_being_sent(enforced: Enforcer) -> None:
    client = _client("dynamodb")

    with pytest.raises(ClientError) as refused:
        client.query(TableName="lms-dev", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={})

    error = refused.value.response
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        "assumed-role/local-UpdateProgressFunctionRole/UpdateProgressFunction is not authorized to perform:"
        f" dynamodb:Query on resource: {TABLE}" in error["Error"]["Message"]
    )
    assert (enforced.checked, enforced.denied) == (1, 1)


def test_a_transaction_with_one_refused_part_is_refused_whole(enforced: Enforcer) -> None:
    client = _client("dynamodb")
    parts = [
        {"ConditionCheck": {"TableName": "lms-dev", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "x"}},
        {"Delete": {"TableName": "lms-dev", "Key": {"pk": {"S": "b"}}}},
    ]

    with pytest.raises(ClientError, match="dynamodb:DeleteItem"):
        client.transact_write_items(TransactItems=parts)


def test_an_allowed_call_is_sent(enforced: Enforcer) -> None:
    client = _client("dynamodb")

    with pytest.raises(EndpointConnectionError):  # it went out, to nobody
        client.get_item(TableName="lms-dev", Key={"pk": {"S": "a"}})
    assert (enforced.checked, enforced.denied) == (1, 0)


def test_other_services_are_checked_too(enforced: Enforcer) -> None:
    with pytest.raises(ClientError, match="secretsmanager:GetSecretValue"):
        _client("secretsmanager").get_secret_value(SecretId="lms-dev-cursor-signing-key")
    with pytest.raises(ClientError, match="events:PutEvents"):
        _client("events").put_events(Entries=[{"Source": "lms", "DetailType": "x", "Detail": "{}"}])


def test_boto3_clients_are_checked_too(enforced: Enforcer) -> None:
    import boto3  # Powertools (idempotency, parameters) builds its clients with boto3

    client = boto3.session.Session().client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )

    with pytest.raises(ClientError, match="dynamodb:DeleteItem"):
        client.delete_item(TableName="lms-dev", Key={"pk": {"S": "a"}})
