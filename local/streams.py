"""Lambda's DynamoDB event source mapping, locally: follow a table's stream in DynamoDB Local and
invoke the subscribed function with batches of records in Lambda's event shape.

Honoured from the template: BatchSize, FilterCriteria (tools.event_filters), FunctionResponseTypes
ReportBatchItemFailures, MaximumRetryAttempts (then the records go to .local/stream-dlq.jsonl instead
of the OnFailure destination) and ParallelizationFactor (see `_deliver`). Shards are read in order (a
child after its parent), one batch in flight per shard or per lane. Each poller starts at
TRIM_HORIZON, as a new mapping with the template's StartingPosition does: a restart of `make dev`
replays what the stream still holds, which the idempotent consumers absorb. Like the mapping, it
reads with the function's role: a role that may not read the stream gets nothing delivered.
"""

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

from local.config import append_line
from local.dynamodb_local import client
from local.iam import requested
from local.lambdas import InvocationError, LambdaService
from local.template import table_names
from tools.event_filters import EventPattern, filter_patterns, passes
from tools.stream_records import lambda_record

log = logging.getLogger("local.streams")

POLL_INTERVAL_SECONDS = 0.1
SHARD_REFRESH_SECONDS = 1.0
MAX_RETRY_BACKOFF_SECONDS = 2.0
# What an event source mapping reads from a DynamoDB stream with the function's role.
STREAM_READS = ("DescribeStream", "GetShardIterator", "GetRecords")


@dataclass(frozen=True)
class StreamSource:
    """One `Type: DynamoDB` event of a function."""

    table_name: str
    function: str
    batch_size: int = 100
    filters: tuple[EventPattern, ...] = ()
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record expires, as on Lambda
    parallelization_factor: int = 1
    on_failure_arn: str | None = None  # the OnFailure destination (records go to a local file instead)


def stream_sources(lambdas: LambdaService) -> list[StreamSource]:
    """The template's DynamoDB event sources (resolved: Stream is the table's StreamArn)."""
    stack = lambdas.config.stack
    return [
        StreamSource(
            table_name=table_names(stack)[stack.logical_id(props["Stream"])],
            function=logical_id,
            batch_size=int(props.get("BatchSize", 100)),
            filters=filter_patterns(props),
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            parallelization_factor=int(props.get("ParallelizationFactor", 1)),
            on_failure_arn=props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
        )
        for logical_id, spec in lambdas.config.functions.items()
        for event in spec.events.values()
        if event.get("Type") == "DynamoDB" and (props := event["Properties"])
    ]


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    finished: bool = False  # closed and fully read
    last_sequence: str | None = None  # the last record read
    pending: list[dict[str, Any]] = field(default_factory=list)  # matching records, in order
    attempts: int = 0
    retry_at: float = 0.0


class StreamConsumer:
    """The event source mapping of one StreamSource."""

    def __init__(self, source: StreamSource, lambdas: LambdaService, endpoint: str, dlq_path: Path) -> None:
        self.source = source
        self.lambdas = lambdas
        self.stats: Counter[str] = Counter()
        self._ddb = client("dynamodb", endpoint, lambdas.config.region)
        self._streams = client("dynamodbstreams", endpoint, lambdas.config.region)
        self._dlq_path = dlq_path
        self._stream_arn: str | None = None
        self._hash_key = ""
        self._shards: dict[str, _Shard] = {}
        self._refreshed_at = 0.0
        self.refusal: str | None = None  # why the function's role may not read the stream

    def poll_once(self) -> None:
        if self.refusal is not None:
            return
        if self._stream_arn is None:
            table = self._ddb.describe_table(TableName=self.source.table_name)["Table"]
            if "LatestStreamArn" not in table:
                raise RuntimeError(f"table {self.source.table_name} has no stream")
            self._hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
            self.refusal = self._stream_access_refused(table["LatestStreamArn"])
            if self.refusal is not None:
                log.error("%s: the event source mapping cannot read the stream: %s", self.source.function, self.refusal)
                return
            self._stream_arn = table["LatestStreamArn"]
        if time.monotonic() - self._refreshed_at >= SHARD_REFRESH_SECONDS:
            self._refresh_shards()
        for shard in list(self._shards.values()):
            # Order per key: a child shard is read only once its parent is fully processed.
            parent = self._shards.get(shard.parent_id or "")
            parent_done = parent is None or (parent.finished and not parent.pending)
            if not shard.finished and len(shard.pending) < self.source.batch_size and parent_done:
                self._read(shard)
            if shard.pending and time.monotonic() >= shard.retry_at:
                self._deliver(shard)

    def _refresh_shards(self) -> None:
        arguments: dict[str, Any] = {"StreamArn": self._stream_arn}
        described: set[str] = set()
        while True:
            description = self._streams.describe_stream(**arguments)["StreamDescription"]
            for shard in description["Shards"]:
                described.add(shard["ShardId"])
                self._shards.setdefault(shard["ShardId"], _Shard(shard["ShardId"], shard.get("ParentShardId")))
            if "LastEvaluatedShardId" not in description:
                break
            arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        # A trimmed shard is forgotten once delivered, so its children do not wait for it forever.
        for shard_id in [s for s in self._shards if s not in described and not self._shards[s].pending]:
            del self._shards[shard_id]
        self._refreshed_at = time.monotonic()

    def _read(self, shard: _Shard) -> None:
        try:
            if shard.iterator is None:
                position = {"ShardIteratorType": "TRIM_HORIZON"}
                if shard.last_sequence is not None:
                    position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence}
                arguments = {"StreamArn": self._stream_arn, "ShardId": shard.shard_id, **position}
                shard.iterator = self._streams.get_shard_iterator(**arguments)["ShardIterator"]
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=1000)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            shard.iterator = None  # ExpiredIteratorException: renewed from the last sequence number read
            if code in ("TrimmedDataAccessException", "ResourceNotFoundException"):
                log.warning("shard %s is gone (%s): skipping the rest of it", shard.shard_id, code)
                shard.finished = True
            elif code != "ExpiredIteratorException":
                raise
            return
        for raw in response["Records"]:
            shard.last_sequence = raw["dynamodb"]["SequenceNumber"]
            record = lambda_record(raw, str(self._stream_arn))
            if passes(self.source.filters, record):
                shard.pending.append(record)
            else:
                self.stats["records_filtered_out"] += 1
        shard.iterator = response.get("NextShardIterator")
        shard.finished = shard.iterator is None

    def _deliver(self, shard: _Shard) -> None:
        """The shard's records are split by partition key into ParallelizationFactor lanes and each
        lane's next batch is invoked at the same time, so records of one key stay in order. A lane
        whose batch fails keeps its records from the first failure; the shard retries them after a
        backoff (retries and dead-lettering are counted per shard, not per lane)."""
        lanes: dict[int, list[dict[str, Any]]] = {}
        for record in shard.pending:
            key = json.dumps(record["dynamodb"]["Keys"].get(self._hash_key), sort_keys=True).encode()
            lanes.setdefault(zlib.crc32(key) % self.source.parallelization_factor, []).append(record)
        batches = [records[: self.source.batch_size] for records in lanes.values()]
        with ThreadPoolExecutor(len(batches)) as pool:
            results = list(pool.map(self._invoke, batches))
        failed = [r for batch, first in zip(batches, results, strict=True) if first is not None for r in batch[first:]]
        shard.attempts = shard.attempts + 1 if failed else 0
        if 0 <= self.source.maximum_retry_attempts < shard.attempts:
            self._dead_letter(shard, failed)
            failed, shard.attempts = [], 0
        settled = {id(record) for batch in batches for record in batch} - {id(record) for record in failed}
        shard.pending[:] = [record for record in shard.pending if id(record) not in settled]
        if failed:
            shard.retry_at = time.monotonic() + min(MAX_RETRY_BACKOFF_SECONDS, 0.1 * 2**shard.attempts)

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """The index of the first failed record, or None."""
        try:
            result = self.lambdas.invoke(self.source.function, {"Records": batch})
        except InvocationError as exc:
            log.error("stream batch of %d records failed: %s", len(batch), exc)
            return 0
        return _first_failure(result, batch) if self.source.report_batch_item_failures else None

    def _stream_access_refused(self, stream_arn: str) -> str | None:
        """AWS checks at CreateEventSourceMapping that the function's role may read the stream and send
        to the on-failure destination."""
        policy = self.lambdas.config.policies.get(self.source.function)
        region = self.lambdas.config.region
        needed = [
            *(pair for op in STREAM_READS for pair in requested("dynamodb", op, {"StreamArn": stream_arn}, region)),
            *([("sqs:SendMessage", self.source.on_failure_arn)] if self.source.on_failure_arn else []),
        ]
        refused = [policy.denial(*pair) for pair in needed if policy and not policy.allows(*pair)]
        return refused[0] if refused else None

    def _dead_letter(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entry = {"time": at, "function": self.source.function, "shardId": shard.shard_id, "attempts": shard.attempts}
        append_line(self._dlq_path, {**entry, "records": records})
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
                except Exception as exc:  # a bug here, too, must not silently stop every summary: logged
                    bug = not isinstance(exc, BotoCoreError | ClientError | RuntimeError)
                    log.warning("stream poll of %s failed: %s", consumer.source.table_name, exc, exc_info=bug)
                    self._stop.wait(1.0)
            self._stop.wait(POLL_INTERVAL_SECONDS)
