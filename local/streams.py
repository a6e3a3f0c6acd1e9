"""Lambda's DynamoDB event source mapping, locally: follow a table's stream in DynamoDB Local and
invoke the subscribed function with batches of records in Lambda's event shape.

Honoured from the template: BatchSize, FilterCriteria (see
tools.event_filters), FunctionResponseTypes ReportBatchItemFailures, MaximumRetryAttempts (then the records
go to .local/stream-dlq.jsonl instead of the OnFailure destination) and ParallelizationFactor (see
`_deliver`). Shards are read in order (a child after its parent), one batch in flight per shard, or per
lane of a shard with a ParallelizationFactor. BisectBatchOnFunctionError and MaximumRecordAgeInSeconds
are not emulated: they act only on failures of the function itself and on records hours old; nor is
MaximumBatchingWindowInSeconds (0 in the template: a batch goes as soon as records are read).

Like the mapping, the poller keeps a checkpoint: the last sequence number processed per shard, in
.local/stream-checkpoints/ (`make dev-reset` deletes it), so a restart resumes after it instead of
replaying the stream. And like the mapping, it reads with the function's role: a role that may not
read the stream gets nothing delivered (AWS would refuse to create the mapping).
"""

import json
import logging
import os
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
from local.iam import DESTINATION_SEND_ACTION, STREAM_READ_ACTIONS, requested
from local.lambdas import InvocationError, LambdaService
from local.template import table_names
from tools.event_filters import EventPattern, filter_patterns, passes
from tools.stream_records import lambda_record
from tools.template import Stack

log = logging.getLogger("local.streams")

POLL_INTERVAL_SECONDS = 0.1
SHARD_REFRESH_SECONDS = 1.0
MAX_RETRY_BACKOFF_SECONDS = 2.0


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

    def accepts(self, record: dict[str, Any]) -> bool:
        return passes(self.filters, record)


def stream_sources(lambdas: LambdaService) -> list[StreamSource]:
    """The template's DynamoDB event sources."""
    config = lambdas.config
    return [
        _source(config.stack, logical_id, event["Properties"])
        for logical_id, spec in config.functions.items()
        for event in spec.events.values()
        if event.get("Type") == "DynamoDB"
    ]


def _source(stack: Stack, function: str, props: dict[str, Any]) -> StreamSource:
    """`props` resolved: Stream is the table's StreamArn, the OnFailure destination an ARN."""
    return StreamSource(
        table_name=table_names(stack)[stack.logical_id(props["Stream"])],
        function=function,
        batch_size=int(props.get("BatchSize", 100)),
        filters=filter_patterns(props),
        report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
        parallelization_factor=int(props.get("ParallelizationFactor", 1)),
        on_failure_arn=props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
    )


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    started: bool = False
    finished: bool = False  # closed and fully read
    last_sequence: str | None = None  # the last record read
    processed: str | None = None  # the checkpoint: every record up to this one is done with
    from_horizon: bool = False  # the last position was trimmed: read again from the oldest record
    pending: list[dict[str, Any]] = field(default_factory=list)  # matching records, in order
    attempts: int = 0
    retry_at: float = 0.0

    @property
    def done(self) -> bool:
        return self.finished and not self.pending


class StreamConsumer:
    """The event source mapping of one StreamSource."""

    def __init__(
        self, source: StreamSource, lambdas: LambdaService, endpoint: str, dlq_path: Path, checkpoint_dir: Path
    ) -> None:
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
        self._checkpoint_path = checkpoint_dir / f"{source.function}-{source.table_name}.json"
        self._checkpoint: dict[str, str] = {}
        self.refusal: str | None = None  # why the function's role may not read the stream

    def poll_once(self) -> None:
        if self.refusal is not None:
            return
        if self._stream_arn is None:
            table = self._ddb.describe_table(TableName=self.source.table_name)["Table"]
            stream_arn = table.get("LatestStreamArn")
            self._hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
            if stream_arn is None:
                raise RuntimeError(f"table {self.source.table_name} has no stream")
            self.refusal = self._stream_access_refused(stream_arn)
            if self.refusal is not None:
                log.error("%s: the event source mapping cannot read the stream: %s", self.source.function, self.refusal)
                return
            self._stream_arn = stream_arn
            self._checkpoint = self._load_checkpoint()
        if time.monotonic() - self._refreshed_at >= SHARD_REFRESH_SECONDS:
            self._refresh_shards()
        for shard in list(self._shards.values()):
            if self._readable(shard):
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
                if shard["ShardId"] not in self._shards:
                    resume_after = self._checkpoint.get(shard["ShardId"])
                    self._shards[shard["ShardId"]] = _Shard(
                        shard["ShardId"],
                        shard.get("ParentShardId"),
                        last_sequence=resume_after,
                        processed=resume_after,
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
            elif code == "TrimmedDataAccessException" and not shard.from_horizon:
                # The position is past the shard's oldest record: like the mapping, start again from
                # the oldest one still there (records already read are skipped below).
                log.warning("shard %s: %s, reading again from its oldest record", shard.shard_id, code)
                shard.started, shard.from_horizon = False, True
            elif code in ("TrimmedDataAccessException", "ResourceNotFoundException"):
                log.warning("shard %s is gone (%s): skipping the rest of it", shard.shard_id, code)
                shard.finished = True
            else:
                raise
            return
        read_up_to = int(shard.last_sequence) if shard.from_horizon and shard.last_sequence else -1
        shard.from_horizon = False
        for raw in response["Records"]:
            if int(raw["dynamodb"]["SequenceNumber"]) <= read_up_to:
                continue
            shard.last_sequence = raw["dynamodb"]["SequenceNumber"]
            self._accept(shard, lambda_record(raw, str(self._stream_arn)))
        shard.iterator = response.get("NextShardIterator")
        shard.finished = shard.iterator is None
        if not shard.pending:  # everything read was filtered out or delivered
            self._advance(shard, shard.last_sequence)

    def _iterator(self, shard: _Shard) -> str:
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard.last_sequence is not None and not shard.from_horizon:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence}
        response = self._streams.get_shard_iterator(StreamArn=self._stream_arn, ShardId=shard.shard_id, **position)
        iterator: str = response["ShardIterator"]
        return iterator

    def _accept(self, shard: _Shard, record: dict[str, Any]) -> None:
        if not self.source.accepts(record):
            self.stats["records_filtered_out"] += 1
            return
        shard.pending.append(record)

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
        done: set[int] = set()
        failed: list[dict[str, Any]] = []
        for batch, failed_from in zip(batches, results, strict=True):
            done |= {id(record) for record in batch[:failed_from]}
            failed += batch[failed_from:] if failed_from is not None else []
        self._settle(shard, done)
        if not failed:
            shard.attempts = 0
            return
        shard.attempts += 1
        if 0 <= self.source.maximum_retry_attempts < shard.attempts:
            self._dead_letter(shard, failed)
            self._settle(shard, {id(record) for record in failed})
            shard.attempts = 0
            return
        shard.retry_at = time.monotonic() + min(MAX_RETRY_BACKOFF_SECONDS, 0.1 * 2**shard.attempts)

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """The index of the first failed record, or None."""
        try:
            result = self.lambdas.invoke(self.source.function, {"Records": batch})
        except InvocationError as exc:
            log.error("stream batch of %d records failed: %s", len(batch), exc)
            return 0
        return _first_failure(result, batch) if self.source.report_batch_item_failures else None

    def _settle(self, shard: _Shard, settled: set[int]) -> None:
        """Lanes finish out of order: drop the settled records, but move the checkpoint only past the
        settled prefix, so a restart replays (at least once) what an earlier lane still holds."""
        prefix = 0
        while prefix < len(shard.pending) and id(shard.pending[prefix]) in settled:
            prefix += 1
        if prefix:
            self._advance(shard, shard.pending[prefix - 1]["dynamodb"]["SequenceNumber"])
        shard.pending[:] = [record for record in shard.pending if id(record) not in settled]
        if not shard.pending:
            self._advance(shard, shard.last_sequence)

    def _advance(self, shard: _Shard, sequence: str | None) -> None:
        if sequence is None or sequence == shard.processed:
            return
        shard.processed = sequence
        self._checkpoint[shard.shard_id] = sequence
        self._save_checkpoint()

    def _load_checkpoint(self) -> dict[str, str]:
        """The last run's checkpoint, if it was for this very stream (a reset table has a new one)."""
        try:
            saved = json.loads(self._checkpoint_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(saved, dict) or saved.get("streamArn") != self._stream_arn:
            return {}
        shards = saved.get("shards")
        return {str(k): str(v) for k, v in shards.items()} if isinstance(shards, dict) else {}

    def _save_checkpoint(self) -> None:
        # Written whole and renamed into place: a crash never leaves half a checkpoint.
        self._checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._checkpoint_path.with_suffix(".tmp")
        partial.write_text(json.dumps({"streamArn": self._stream_arn, "shards": self._checkpoint}), encoding="utf-8")
        os.replace(partial, self._checkpoint_path)

    def _stream_access_refused(self, stream_arn: str) -> str | None:
        """AWS checks at CreateEventSourceMapping that the function's role may read the stream and send
        to the on-failure destination."""
        policy = self.lambdas.config.function_policy(self.lambdas.spec(self.source.function))
        if policy is None:
            return None
        region = self.lambdas.config.region
        for action in STREAM_READ_ACTIONS:
            for iam_action, resource in requested(
                "dynamodb", action.partition(":")[2], {"StreamArn": stream_arn}, region
            ):
                if not policy.allows(iam_action, resource):
                    return policy.denial(iam_action, resource)
        destination = self.source.on_failure_arn
        if destination and not policy.allows(DESTINATION_SEND_ACTION, destination):
            return policy.denial(DESTINATION_SEND_ACTION, destination)
        return None

    def _dead_letter(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
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
        checkpoint_dir = lambdas.config.state_dir / "stream-checkpoints"
        self.consumers = [
            StreamConsumer(source, lambdas, endpoint, dlq_path, checkpoint_dir)
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
