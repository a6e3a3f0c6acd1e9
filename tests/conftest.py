"""Fixtures shared by unit and integration tests."""

import json
import os
from collections.abc import Iterator
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
    "CURSOR_SECRET": "test-cursor-signing-key",
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


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """moto-backed DynamoDB with the tables created from template.yaml."""
    import boto3
    from moto import mock_aws

    from local.template import load_template, parameter_defaults, table_definitions

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        template = load_template()
        for definition in table_definitions(template, parameter_defaults(template)).values():
            client.create_table(**definition)
        yield client
