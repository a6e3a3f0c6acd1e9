"""What keeps cold starts short and SnapStart safe: the tracer stand-in, the cursor key read with a
plain botocore client, the after-restore hook, the template's SnapStart switch and alias wiring as
the local runtime reads them, and the cold start benchmark's shared results file."""

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cold_start
from lms import container, observability
from lms.settings import get_settings
from local.config import LocalConfig
from local.httpapi import http_api_spec


@pytest.mark.parametrize(
    ("environment", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({}, False),
    ],
)
def test_traces_are_recorded_only_in_lambda_and_unless_disabled(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], enabled: bool
) -> None:
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert observability.tracing_enabled() is enabled


def test_outside_lambda_the_tracer_is_a_stand_in_that_returns_functions_unchanged() -> None:
    def handler(event: dict[str, Any], context: Any) -> str:
        return "handled"

    assert isinstance(observability.tracer, observability.UntracedTracer)  # tests run with tracing disabled
    assert observability.tracer.capture_method(handler) is handler
    assert observability.tracer.capture_lambda_handler(handler) is handler


@pytest.fixture
def settings_from_arn(monkeypatch: pytest.MonkeyPatch, dynamodb: Any) -> Iterator[str]:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="lms-test-cursor-signing-key", SecretString="signing-key-from-secrets-manager"
    )["ARN"]
    monkeypatch.delenv("CURSOR_SECRET")
    monkeypatch.setenv("CURSOR_SECRET_ARN", arn)
    get_settings.cache_clear()
    parameters.clear_caches()
    yield arn
    get_settings.cache_clear()
    parameters.clear_caches()


def test_the_cursor_key_is_read_from_secrets_manager_with_a_botocore_client(settings_from_arn: str) -> None:
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    assert container._cursor_key() == "signing-key-from-secrets-manager"
    assert DEFAULT_PROVIDERS["secrets"].client in container._clients  # ours, not a boto3 session's


class _PooledClient:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_after_a_snapstart_restore_random_is_reseeded_and_pooled_connections_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _PooledClient()
    monkeypatch.setattr(container, "_clients", [client])
    random.seed(42)
    snapshotted = random.random()
    random.seed(42)

    container._after_restore()

    assert client.closed
    assert random.random() != snapshotted  # every restored copy draws its own numbers


def test_the_after_restore_hook_is_registered_with_the_runtime() -> None:
    import snapshot_restore_py

    assert container._after_restore in [hook for hook, _, _ in snapshot_restore_py.get_after_restore()]


@pytest.mark.parametrize(("parameter", "expected"), [("true", True), ("false", False)])
def test_the_snapstart_parameter_switches_it_for_every_function(parameter: str, expected: bool) -> None:
    config = LocalConfig(ddb_endpoint="http://127.0.0.1:8000", parameter_overrides={"SnapStart": parameter})

    assert {spec.snap_start for spec in config.functions.values()} == {expected}
    assert {
        config.function_environment(spec)["AWS_LAMBDA_INITIALIZATION_TYPE"] for spec in config.functions.values()
    } == {"snap-start" if expected else "on-demand"}


def test_the_local_gateway_resolves_the_authorizer_and_routes_behind_the_live_alias() -> None:
    config = LocalConfig(ddb_endpoint="http://127.0.0.1:8000")
    api = http_api_spec(config)
    http_events = [
        (logical_id, event)
        for logical_id, spec in config.functions.items()
        for event in spec.events.values()
        if event["Type"] == "HttpApi"
    ]

    assert api.authorizers["LambdaAuthorizer"].function == "AuthorizerFunction"
    assert sorted(route.function for route in api.routes) == sorted(logical_id for logical_id, _ in http_events)


def test_the_cold_start_benchmark_updates_only_its_own_keys(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"other_phase": 1, "init_ratio_max": 9.9}), encoding="utf-8")

    cold_start.write_results({"init_ratio_max": 1.2, "authorizer_init_ratio": 1.05}, results)

    assert json.loads(results.read_text(encoding="utf-8")) == {
        "other_phase": 1,
        "init_ratio_max": 1.2,
        "authorizer_init_ratio": 1.05,
    }
