"""Lambda's DynamoDB event source mapping, locally: follow a table's stream in DynamoDB Local and
invoke the subscribed function with batches of records in Lambda's event shape.

Honoured from the template: BatchSize, MaximumBatchingWindowInSeconds, FilterCriteria (see
local.filters), FunctionResponseTypes ReportBatchItemFailures, MaximumRetryAttempts (then the records
go to .local/stream-dlq.jsonl instead of the OnFailure destination), MaximumRecordAgeInSeconds, and
BisectBatchOnFunctionError approximately (after a function error the next attempt takes half the
batch), and ParallelizationFactor (see `_deliver_in_lanes`). Shards are read in order (a child after
its parent), one batch in flight per shard, or per lane of a shard with a ParallelizationFactor.
"""

import base64
import json
import logging
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local.dynamodb_local import dynamodb_client, streams_client
from local.filters import load_pattern, matches
from local.lambdas import InvocationError, LambdaService
from local.template import load_template, table_names

log = logging.getLogger("local.streams")

POLL_INTERVAL_SECONDS = 0.1
SHARD_REFRESH_SECONDS = 1.0
MAX_RETRY_BACKOFF_SECONDS = 2.0


@dataclass(frozen=True)
class StreamSource:
    """One `Type: DynamoDB` event of a function; `function` None only drains the stream."""

    table_name: str
    function: str | None = None
    batch_size: int = 100
    batching_window_seconds: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record expires, as on Lambda
    maximum_record_age_seconds: int = -1
    bisect_on_error: bool = False
    parallelization_factor: int = 1

    def accepts(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(matches(pattern, record) for pattern in self.filters)


def stream_sources(lambdas: LambdaService) -> list[StreamSource]:
    """The template's DynamoDB event sources; without any, a drain-only reader per streamed table."""
    config = lambdas.config
    names = table_names(load_template(), config.parameters)
    sources = [
        _source(names, logical_id, event["Properties"])
        for logical_id, spec in config.functions.items()
        for event in spec.events.values()
        if event.get("Type") == "DynamoDB"
    ]
    if sources:
        return sources
    resources = load_template()["Resources"]
    streamed = [lid for lid in names if resources[lid]["Properties"].get("StreamSpecification")]
    return [StreamSource(table_name=names[lid]) for lid in streamed]


def _source(names: dict[str, str], function: str, props: dict[str, Any]) -> StreamSource:
    stream = props["Stream"]
    if not (isinstance(stream, dict) and "Fn::GetAtt" in stream):
        raise ValueError(f"{function}: Stream must be !GetAtt <Table>.StreamArn locally")
    filters = props.get("FilterCriteria", {}).get("Filters", [])
    return StreamSource(
        table_name=names[stream["Fn::GetAtt"][0]],
        function=function,
        batch_size=int(props.get("BatchSize", 100)),
        batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        filters=tuple(load_pattern(f["Pattern"]) for f in filters),
        report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
        maximum_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
        bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
        parallelization_factor=int(props.get("ParallelizationFactor", 1)),
    )


def lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda passes it: epoch-seconds time, base64 binaries, the source ARN."""
    record: dict[str, Any] = _jsonable(raw)
    created = raw["dynamodb"]["ApproximateCreationDateTime"]
    record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    record["eventSourceARN"] = stream_arn
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    started: bool = False
    finished: bool = False  # closed and fully read
    last_sequence: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # matching records, in order
    first_pending_at: float = 0.0
    attempts: int = 0
    batch_limit: int = 0
    retry_at: float = 0.0

    @property
    def done(self) -> bool:
        return self.finished and not self.pending


class StreamConsumer:
    """The event source mapping of one StreamSource."""

    def __init__(self, source: StreamSource, lambdas: LambdaService, endpoint: str, dlq_path: Path) -> None:
        self.source = source
        self.lambdas = lambdas
        self.stats: Counter[str] = Counter()
        self._ddb = dynamodb_client(endpoint, lambdas.config.region)
        self._streams = streams_client(endpoint, lambdas.config.region)
        self._dlq_path = dlq_path
        self._stream_arn: str | None = None
        self._hash_key = ""
        self._shards: dict[str, _Shard] = {}
        self._refreshed_at = 0.0
        self._missing_code_logged = False

    def poll_once(self) -> None:
        if self._stream_arn is None:
            table = self._ddb.describe_table(TableName=self.source.table_name)["Table"]
            self._stream_arn = table.get("LatestStreamArn")
            self._hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
            if self._stream_arn is None:
                raise RuntimeError(f"table {self.source.table_name} has no stream")
        if time.monotonic() - self._refreshed_at >= SHARD_REFRESH_SECONDS:
            self._refresh_shards()
        for shard in list(self._shards.values()):
            if self._readable(shard):
                self._read(shard)
            if self._batch_ready(shard):
                self._deliver(shard)

    def _refresh_shards(self) -> None:
        arguments: dict[str, Any] = {"StreamArn": self._stream_arn}
        described: set[str] = set()
        while True:
            description = self._streams.describe_stream(**arguments)["StreamDescription"]
            for shard in description["Shards"]:
                described.add(shard["ShardId"])
                if shard["ShardId"] not in self._shards:
                    self._shards[shard["ShardId"]] = _Shard(
                        shard["ShardId"], shard.get("ParentShardId"), batch_limit=self.source.batch_size
                    )
            if "LastEvaluatedShardId" not in description:
                break
            arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        # A trimmed shard is forgotten once delivered, so its children do not wait for it forever.
        for shard_id in [s for s in self._shards if s not in described and not self._shards[s].pending]:
            del self._shards[shard_id]
        self._refreshed_at = time.monotonic()

    def _readable(self, shard: _Shard) -> bool:
        # Order per key: a child shard is read only once its parent is fully processed.
        parent = self._shards.get(shard.parent_id or "")
        has_room = len(shard.pending) < self.source.batch_size
        return not shard.finished and has_room and (parent is None or parent.done)

    def _read(self, shard: _Shard) -> None:
        try:
            if not shard.started:
                shard.iterator, shard.started = self._iterator(shard), True
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=1000)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ExpiredIteratorException":
                shard.started = False  # renew from the last sequence number read
            elif code in ("TrimmedDataAccessException", "ResourceNotFoundException"):
                log.warning("shard %s is gone (%s): skipping the rest of it", shard.shard_id, code)
                shard.finished = True
            else:
                raise
            return
        for raw in response["Records"]:
            shard.last_sequence = raw["dynamodb"]["SequenceNumber"]
            self._accept(shard, lambda_record(raw, str(self._stream_arn)))
        shard.iterator = response.get("NextShardIterator")
        shard.finished = shard.iterator is None

    def _iterator(self, shard: _Shard) -> str:
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard.last_sequence is not None:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence}
        response = self._streams.get_shard_iterator(StreamArn=self._stream_arn, ShardId=shard.shard_id, **position)
        iterator: str = response["ShardIterator"]
        return iterator

    def _accept(self, shard: _Shard, record: dict[str, Any]) -> None:
        self.stats["records_read"] += 1
        if not self.source.accepts(record):
            self.stats["records_filtered_out"] += 1
            return
        if not shard.pending:
            shard.first_pending_at = time.monotonic()
        shard.pending.append(record)

    def _batch_ready(self, shard: _Shard) -> bool:
        if not shard.pending or time.monotonic() < shard.retry_at:
            return False
        window_over = time.monotonic() - shard.first_pending_at >= self.source.batching_window_seconds
        return window_over or len(shard.pending) >= shard.batch_limit or shard.finished

    def _deliver(self, shard: _Shard) -> None:
        self._drop_expired(shard)
        if self.source.parallelization_factor > 1 and self._can_invoke():
            self._deliver_in_lanes(shard)
            return
        batch = shard.pending[: shard.batch_limit]
        if not batch:
            return
        if not self._can_invoke():
            del shard.pending[: len(batch)]
            self.stats["records_drained"] += len(batch)
            return
        failed_from, function_error = self._invoke(batch)
        if failed_from is None:
            del shard.pending[: len(batch)]
            shard.attempts, shard.batch_limit = 0, self.source.batch_size
            self.stats["batches_succeeded"] += 1
            return
        self._retry_later(shard, len(batch), failed_from, function_error)

    def _deliver_in_lanes(self, shard: _Shard) -> None:
        """ParallelizationFactor N: the shard's records are split by partition key into N lanes and
        each lane's next batch is invoked at the same time, so records of one key stay in order.
        A lane whose batch fails keeps its records from the first failure; the shard retries them
        after a backoff (retries and dead-lettering are counted per shard, not per lane)."""
        lanes: dict[int, list[dict[str, Any]]] = {}
        for record in shard.pending:
            key = json.dumps(record["dynamodb"]["Keys"].get(self._hash_key), sort_keys=True).encode()
            lanes.setdefault(zlib.crc32(key) % self.source.parallelization_factor, []).append(record)
        batches = [records[: shard.batch_limit] for records in lanes.values()]
        with ThreadPoolExecutor(len(batches)) as pool:
            results = list(pool.map(self._invoke, batches))
        done: set[int] = set()
        failed: list[dict[str, Any]] = []
        for batch, (failed_from, _) in zip(batches, results, strict=True):
            done |= {id(record) for record in batch[:failed_from]}
            failed += batch[failed_from:] if failed_from is not None else []
        self.stats["batches_succeeded"] += sum(1 for failed_from, _ in results if failed_from is None)
        shard.pending[:] = [record for record in shard.pending if id(record) not in done]
        if not failed:
            shard.attempts = 0
            return
        shard.attempts += 1
        retries = self.source.maximum_retry_attempts
        if 0 <= retries < shard.attempts:
            self._dead_letter(shard, failed)
            failed_ids = {id(record) for record in failed}
            shard.pending[:] = [record for record in shard.pending if id(record) not in failed_ids]
            shard.attempts = 0
            return
        shard.retry_at = time.monotonic() + min(MAX_RETRY_BACKOFF_SECONDS, 0.1 * 2**shard.attempts)

    def _can_invoke(self) -> bool:
        function = self.source.function
        if function is None:
            return False
        present = self.lambdas.has_code(function)
        if present == self._missing_code_logged:  # log each change of state once
            self._missing_code_logged = not present
            message = "%s: code missing, draining stream records" if not present else "%s: code found"
            log.warning(message, function)
        return present

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index of the first failed record or None, whether the function itself failed)."""
        assert self.source.function is not None
        try:
            result = self.lambdas.invoke(self.source.function, {"Records": batch})
        except InvocationError as exc:
            log.error("stream batch of %d records failed: %s", len(batch), exc)
            return 0, True
        if not self.source.report_batch_item_failures:
            return None, False
        return _first_failure(result, batch), False

    def _retry_later(self, shard: _Shard, size: int, failed_from: int, function_error: bool) -> None:
        del shard.pending[:failed_from]  # the records before the first failure are checkpointed
        shard.attempts += 1
        if function_error and self.source.bisect_on_error:
            shard.batch_limit = max(1, (size - failed_from) // 2)
        retries = self.source.maximum_retry_attempts
        if 0 <= retries < shard.attempts:
            self._dead_letter(shard, shard.pending[: size - failed_from])
            del shard.pending[: size - failed_from]
            shard.attempts, shard.batch_limit = 0, self.source.batch_size
            return
        shard.retry_at = time.monotonic() + min(MAX_RETRY_BACKOFF_SECONDS, 0.1 * 2**shard.attempts)

    def _drop_expired(self, shard: _Shard) -> None:
        max_age = self.source.maximum_record_age_seconds
        if max_age < 0:
            return
        oldest_allowed = time.time() - max_age
        fresh = [r for r in shard.pending if r["dynamodb"]["ApproximateCreationDateTime"] >= oldest_allowed]
        if len(fresh) < len(shard.pending):
            log.warning("%d stream records older than %ds skipped", len(shard.pending) - len(fresh), max_age)
            shard.pending[:] = fresh

    def _dead_letter(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        self.stats["records_dead_lettered"] += len(records)
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "function": self.source.function,
            "shardId": shard.shard_id,
            "attempts": shard.attempts,
            "records": records,
        }
        self._dlq_path.parent.mkdir(parents=True, exist_ok=True)
        with self._dlq_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        log.error("%d stream records failed %d times: written to %s", len(records), shard.attempts, self._dlq_path)


def _first_failure(result: Any, batch: list[dict[str, Any]]) -> int | None:
    """Lambda's reading of a partial batch response: no failures is success; an unreadable one fails
    the whole batch; otherwise processing resumes at the lowest failed sequence number."""
    if result is None:
        return None
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return None if isinstance(result, dict) else 0
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(batch)}
    identifiers = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if any(identifier not in positions for identifier in identifiers):
        return 0
    return min(positions[str(identifier)] for identifier in identifiers)


class StreamPoller:
    """Runs every consumer in one background thread, polling about every 100 ms."""

    def __init__(self, lambdas: LambdaService, endpoint: str, sources: list[StreamSource] | None = None) -> None:
        dlq_path = lambdas.config.state_dir / "stream-dlq.jsonl"
        self.consumers = [
            StreamConsumer(source, lambdas, endpoint, dlq_path)
            for source in (stream_sources(lambdas) if sources is None else sources)
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            # A batch still running is cut short when the workers stop right after this.
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for consumer in self.consumers:
                try:
                    consumer.poll_once()
                except (BotoCoreError, ClientError, RuntimeError) as exc:
                    log.warning("stream poll of %s failed: %s", consumer.source.table_name, exc)
                    self._stop.wait(1.0)
                except Exception:
                    # A bug here must not silently stop every summary: log it and keep polling.
                    log.exception("stream poll of %s failed", consumer.source.table_name)
                    self._stop.wait(1.0)
            self._stop.wait(POLL_INTERVAL_SECONDS)
