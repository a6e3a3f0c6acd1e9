"""The local Lambda emulation under the gateway: worker processes (environment, warm reuse, errors,
timeouts, a protocol immune to prints) and the DynamoDB stream event source mapping (filters,
Lambda's record shape, partial batch failures, retries, the dead-letter file, lanes) and schedules."""

import dataclasses
import json
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from local.config import LocalConfig
from local.dev import LocalApi
from local.lambdas import InvocationError, LambdaService
from local.schedules import Schedule, Scheduler
from local.streams import StreamPoller, StreamSource
from local.template import FunctionSpec
from tools.event_filters import load_pattern

pytestmark = pytest.mark.integration

PROBE_CODE = """
import json
import os
import time

print("import-time noise on stdout")


def lambda_handler(event, context):
    print("handler noise on stdout")
    os.write(1, b"raw bytes on fd 1\\n")
    action = event.get("action")
    if action == "raise":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(event["seconds"])
    if "Records" in event:
        return _stream(event["Records"])
    return {
        "pid": os.getpid(),
        "probeVar": os.environ.get("PROBE_VAR"),
        "hostOnly": os.environ.get("HOST_ONLY_VARIABLE"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
        "name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remainingMs": context.get_remaining_time_in_millis(),
    }


def _stream(records):
    with open(os.environ["PROBE_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(records) + "\\n")
    failed = [r["dynamodb"]["SequenceNumber"] for r in records if "fail" in r["dynamodb"]["NewImage"]]
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
"""


@dataclass(frozen=True)
class ProbeConfig(LocalConfig):
    probes: tuple[FunctionSpec, ...] = ()

    @cached_property
    def functions(self) -> dict[str, FunctionSpec]:
        return {spec.logical_id: spec for spec in self.probes}


def _probe_spec(logical_id: str, code_dir: Path, **environment: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id=logical_id,
        name=f"probe-{logical_id}",
        code_uri=str(code_dir),
        handler="app.lambda_handler",
        memory_mb=256,
        timeout_seconds=1,
        environment={"PROBE_VAR": "from-template", **environment},
        log_level=None,
        events={},
    )


@pytest.fixture
def probe_lambdas(tmp_path: Path, local_api: LocalApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaService]:
    monkeypatch.setenv("HOST_ONLY_VARIABLE", "leaked")
    code_dir = tmp_path / "probe"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(textwrap.dedent(PROBE_CODE), encoding="utf-8")
    config = ProbeConfig(
        ddb_endpoint=local_api.ddb_endpoint,
        state_dir=tmp_path / "state",
        max_workers_per_function=2,
        probes=(
            _probe_spec("Probe", code_dir, PROBE_OUT=str(tmp_path / "deliveries.jsonl")),
            _probe_spec("Missing", tmp_path / "no-such-function"),
        ),
    )
    with LambdaService(config) as lambdas:
        yield lambdas


# ---------------------------------------------------------------------- execution environments


def test_a_function_runs_with_its_own_environment_and_context(
    probe_lambdas: LambdaService, local_api: LocalApi
) -> None:
    result = probe_lambdas.invoke("Probe", {})

    assert result["probeVar"] == "from-template"
    assert result["hostOnly"] is None  # nothing leaks from the host but PATH and LANG
    assert result["endpoint"] == local_api.ddb_endpoint
    assert (result["name"], result["memory"]) == ("probe-Probe", 256)
    assert 0 < result["remainingMs"] <= 1000


def test_a_warm_environment_is_reused(probe_lambdas: LambdaService) -> None:
    first, second = probe_lambdas.invoke("Probe", {}), probe_lambdas.invoke("Probe", {})

    assert first["pid"] == second["pid"]
    assert probe_lambdas.pool("Probe").size == 1


def test_busy_environments_scale_out_up_to_the_cap(probe_lambdas: LambdaService) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(probe_lambdas.invoke, ["Probe"] * 3, [{"action": "sleep", "seconds": 0.3}] * 3))

    assert len({result["pid"] for result in results}) == 2  # the third waited for a free one
    assert probe_lambdas.pool("Probe").size == 2


def test_a_handler_exception_is_an_invocation_error(probe_lambdas: LambdaService) -> None:
    with pytest.raises(InvocationError) as failure:
        probe_lambdas.invoke("Probe", {"action": "raise"})

    assert failure.value.error_type == "ValueError"
    assert probe_lambdas.invoke("Probe", {})["probeVar"] == "from-template"  # the environment survives


def test_a_timed_out_environment_is_replaced(probe_lambdas: LambdaService) -> None:
    warm_pid = probe_lambdas.invoke("Probe", {})["pid"]

    with pytest.raises(InvocationError) as failure:
        probe_lambdas.invoke("Probe", {"action": "sleep", "seconds": 30})

    assert failure.value.error_type == "Sandbox.Timedout"
    assert probe_lambdas.pool("Probe").size == 0
    assert probe_lambdas.invoke("Probe", {})["pid"] != warm_pid


def test_missing_code_is_an_invocation_error(probe_lambdas: LambdaService) -> None:
    with pytest.raises(InvocationError):
        probe_lambdas.invoke("Missing", {})


SNAPSTART_PROBE_CODE = """
import os

from snapshot_restore_py import register_after_restore, register_before_snapshot

HOOKS = []
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
register_before_snapshot(HOOKS.append, "before-snapshot")
register_after_restore(HOOKS.append, "after-restore")


def lambda_handler(event, context):
    return {"hooks": HOOKS, "initType": INIT_TYPE}
"""


@pytest.mark.parametrize(
    ("snap_start", "expected"),
    [
        (True, {"hooks": ["before-snapshot", "after-restore"], "initType": "snap-start"}),
        (False, {"hooks": [], "initType": "on-demand"}),
    ],
)
def test_snapstart_runs_the_runtime_hooks_once_after_the_init(
    tmp_path: Path, local_api: LocalApi, snap_start: bool, expected: dict[str, Any]
) -> None:
    code_dir = tmp_path / "snapstart"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(SNAPSTART_PROBE_CODE, encoding="utf-8")
    spec = dataclasses.replace(_probe_spec("SnapStart", code_dir), snap_start=snap_start)
    config = ProbeConfig(ddb_endpoint=local_api.ddb_endpoint, state_dir=tmp_path / "state", probes=(spec,))

    with LambdaService(config) as lambdas:
        first, second = lambdas.invoke("SnapStart", {}), lambdas.invoke("SnapStart", {})

    assert first == second == expected


# ---------------------------------------------------------------------- stream event source mapping


@pytest.fixture
def probe_table(ddb: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"stream-probe-{request.node.name[-40:].replace('[', '-').replace(']', '')}"
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    yield name
    ddb.delete_table(TableName=name)


def _run_poller(lambdas: LambdaService, endpoint: str, source: StreamSource) -> StreamPoller:
    poller = StreamPoller(lambdas, endpoint, sources=[source])
    poller.start()
    return poller


def _deliveries(path: Path) -> list[list[dict[str, Any]]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _pk(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


def _put(ddb: Any, table: str, pk: str, **extra: dict[str, Any]) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": pk}, **extra})


def test_stream_records_reach_the_function_filtered_and_in_lambdas_shape(
    probe_lambdas: LambdaService, local_api: LocalApi, ddb: Any, probe_table: str, poll_until: Any, tmp_path: Path
) -> None:
    source = StreamSource(
        table_name=probe_table,
        function="Probe",
        filters=(load_pattern('{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["keep"]}}}}'),),
    )
    poller = _run_poller(probe_lambdas, local_api.ddb_endpoint, source)
    try:
        _put(ddb, probe_table, "dropped", kind={"S": "other"})
        _put(ddb, probe_table, "kept", kind={"S": "keep"}, blob={"B": b"\x00\xff"})
        batches = poll_until(lambda: _deliveries(tmp_path / "deliveries.jsonl"), timeout=15)
    finally:
        poller.stop()

    records = [record for batch in batches for record in batch]
    assert [_pk(r) for r in records] == ["kept"]
    record = records[0]
    assert {k: record[k] for k in ("eventName", "eventVersion", "eventSource")} == {
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
    }
    assert record["eventSourceARN"].startswith("arn:aws:dynamodb:")
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}  # binaries base64, as Lambda sends them
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert poller.consumers[0].stats["records_filtered_out"] >= 1


def test_a_failing_record_is_retried_then_dead_lettered_and_the_shard_moves_on(
    probe_lambdas: LambdaService, local_api: LocalApi, ddb: Any, probe_table: str, poll_until: Any, tmp_path: Path
) -> None:
    source = StreamSource(
        table_name=probe_table, function="Probe", report_batch_item_failures=True, maximum_retry_attempts=2
    )
    dead_letters = probe_lambdas.config.state_dir / "stream-dlq.jsonl"
    poller = _run_poller(probe_lambdas, local_api.ddb_endpoint, source)
    try:
        _put(ddb, probe_table, "ok-before")
        _put(ddb, probe_table, "poison", fail={"BOOL": True})
        poll_until(dead_letters.exists, timeout=15)
        _put(ddb, probe_table, "ok-after")
        poll_until(
            lambda: [_pk(r) for b in _deliveries(tmp_path / "deliveries.jsonl") for r in b],
            lambda delivered: "ok-after" in delivered,
            timeout=15,
        )
    finally:
        poller.stop()

    delivered = [_pk(r) for b in _deliveries(tmp_path / "deliveries.jsonl") for r in b]
    assert delivered.count("ok-before") == 1  # settled: never redelivered
    assert delivered.count("poison") == 3  # the first attempt and two retries
    assert delivered.count("ok-after") == 1
    entry = json.loads(dead_letters.read_text(encoding="utf-8").splitlines()[0])
    assert [_pk(r) for r in entry["records"]] == ["poison"]


def test_a_parallelization_factor_splits_a_shard_into_lanes_by_partition_key_keeping_each_keys_order(
    probe_lambdas: LambdaService, local_api: LocalApi, ddb: Any, probe_table: str, poll_until: Any, tmp_path: Path
) -> None:
    """With ParallelizationFactor 4, each batch holds the records of one lane (the partition key's
    hash modulo 4), several lanes are delivered at once, and one key's records keep their order."""
    import zlib

    source = StreamSource(table_name=probe_table, function="Probe", parallelization_factor=4, batch_size=100)
    keys_written = [f"key-{n}" for n in range(8)]
    for version in range(3):  # written before the poller starts: one backlog, read at once
        for pk in keys_written:
            _put(ddb, probe_table, pk, version={"N": str(version)})
    poller = _run_poller(probe_lambdas, local_api.ddb_endpoint, source)
    try:
        poll_until(
            lambda: sum(len(b) for b in _deliveries(tmp_path / "deliveries.jsonl")),
            lambda delivered: delivered == 24,
            timeout=15,
        )
    finally:
        poller.stop()

    def lane(pk: str) -> int:
        return zlib.crc32(json.dumps({"S": pk}, sort_keys=True).encode()) % 4

    batches = _deliveries(tmp_path / "deliveries.jsonl")
    assert all(len({lane(_pk(r)) for r in batch}) == 1 for batch in batches)
    assert len(batches) == len({lane(pk) for pk in keys_written}) > 1
    for pk in keys_written:
        versions = [int(r["dynamodb"]["NewImage"]["version"]["N"]) for b in batches for r in b if _pk(r) == pk]
        assert versions == [0, 1, 2]


# ---------------------------------------------------------------------- schedules


def test_a_schedule_invokes_its_function_once_per_period_with_its_input(
    probe_lambdas: LambdaService, poll_until: Any
) -> None:
    """A period of 0.2 s instead of the template's minutes, through the same pools as any invocation."""
    schedule = Schedule("arn:aws:scheduler:us-east-1:000000000000:schedule/default/tick", "Probe", 0.2, "{}")
    scheduler = Scheduler(probe_lambdas, only=[schedule])
    scheduler.start()
    try:
        poll_until(lambda: probe_lambdas.invocations["Probe"], lambda count: count >= 3, timeout=15)
    finally:
        scheduler.stop()
    stopped_at = probe_lambdas.invocations["Probe"]

    assert probe_lambdas.invoke("Probe", {})["probeVar"] == "from-template"
    assert probe_lambdas.invocations["Probe"] == stopped_at + 1  # nothing ran after stop()
