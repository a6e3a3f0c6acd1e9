"""Replay stream records that exhausted their retries into the summarizer (or, with
`--function-id PublishEventsFunction`, into the events publisher: replayed events keep their ids).

Lambda sends a failed stream batch's *description* to the on-failure SQS queue: its stream, shard
and sequence-number range (`DDBStreamBatchInfo`). This reads each message, fetches that range from
the stream while it still holds it (24 h), invokes the function with the records in Lambda's shape,
and deletes the message once the function reports no failure. Replaying is safe: a recompute is
rebuilt from state.

    python -m tools.redrive --queue-url <StreamFailureQueueUrl> --function-name <SummarizeProgressFunction>
"""

import argparse
import json
from collections.abc import Callable, Iterator
from typing import Any

from tools.event_filters import passes, stream_filters
from tools.stream_records import lambda_record

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def failed_batches(sqs: Any, queue_url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(receipt handle, DDBStreamBatchInfo) of every message in the queue."""
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            return
        for message in messages:
            yield message["ReceiptHandle"], json.loads(message["Body"])["DDBStreamBatchInfo"]


SUMMARIZER = "SummarizeProgressFunction"


def records_in(streams: Any, batch: dict[str, Any], function: str = SUMMARIZER) -> list[dict[str, Any]]:
    """The records of the failed range that pass the function's stream filters (the range also
    holds records Lambda dropped, and each stream consumer filters differently), oldest first, as
    Lambda would have passed them."""
    filters = stream_filters(function)
    iterator = streams.get_shard_iterator(
        StreamArn=batch["streamArn"],
        ShardId=batch["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=batch["startSequenceNumber"],
    )["ShardIterator"]
    end = int(batch["endSequenceNumber"])
    records: list[dict[str, Any]] = []
    while iterator:
        response = streams.get_records(ShardIterator=iterator, Limit=100)
        for raw in response["Records"]:
            if int(raw["dynamodb"]["SequenceNumber"]) > end:
                return records
            record = lambda_record(raw, batch["streamArn"])
            if passes(filters, record):
                records.append(record)
        if not response["Records"]:
            return records
        iterator = response.get("NextShardIterator")
    return records


def redrive(sqs: Any, streams: Any, queue_url: str, invoke: Invoke, function: str = SUMMARIZER) -> tuple[int, int]:
    """Replay every failed batch; (replayed, not replayed). A batch that fails again, or whose
    records the stream no longer holds, stays queued."""
    replayed = still_failing = 0
    for receipt, batch in failed_batches(sqs, queue_url):
        records = records_in(streams, batch, function)
        # No records: the stream has trimmed them (after 24 h); leave the message for a person.
        if not records or invoke({"Records": records}).get("batchItemFailures"):
            still_failing += 1
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        replayed += 1
    return replayed, still_failing


def main() -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--function-id", default=SUMMARIZER, help="its logical id in template.yaml (for its filters)")
    args = parser.parse_args()
    lambda_client = boto3.client("lambda")

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        response = lambda_client.invoke(FunctionName=args.function_name, Payload=json.dumps(payload).encode())
        result: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        return result

    replayed, failing = redrive(
        boto3.client("sqs"), boto3.client("dynamodbstreams"), args.queue_url, invoke, args.function_id
    )
    print(f"replayed {replayed} batch(es); {failing} still failing (left in the queue)")


if __name__ == "__main__":
    main()
