"""tools/redrive.py replays what the on-failure queue describes, and only clears what succeeded."""

import json
import subprocess
import sys
from typing import Any

import boto3
import pytest

from tests.conftest import ROOT, SEED, SeededCourse, StreamHarness
from tools.redrive import redrive

STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com/"


@pytest.fixture
def failure_queue(dynamodb: Any) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs, sqs.create_queue(QueueName="stream-failures")["QueueUrl"]


def lambda_failure_message(records: list[dict[str, Any]]) -> str:
    """What Lambda's on-failure destination sends for a stream batch (the part redrive reads)."""
    first, last = records[0], records[-1]
    return json.dumps(
        {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6},
            "DDBStreamBatchInfo": {
                "shardId": first["_shard"],
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": first["eventSourceARN"],
            },
        }
    )


def shard_records(dynamodb: Any) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
    arn = dynamodb.describe_table(TableName="lms-dev")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    raw = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [{**r, "_shard": shard, "eventSourceARN": arn} for r in raw]


def test_a_failed_batch_is_replayed_into_the_summarizer_and_leaves_the_queue(
    seeded: SeededCourse, stream: StreamHarness, dynamodb: Any, failure_queue: tuple[Any, str]
) -> None:
    """Given an enrollment and a completion whose stream batch exhausted its retries, when the
    failure is redriven, the learner's summary exists and the message is gone."""
    seeded.enroll()
    seeded.complete(SEED["lesson_1"], SEED["module_1"], SEED["progress_1"], SEED["at"])
    sqs, queue_url = failure_queue
    sqs.send_message(QueueUrl=queue_url, MessageBody=lambda_failure_message(shard_records(dynamodb)))
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)

    assert redrive(sqs, streams, queue_url, lambda payload: stream.deliver(payload["Records"])) == (1, 0)

    stored = seeded.summaries.get(SEED["learner"], SEED["course"])
    assert stored is not None
    assert stored.summary.percent == 50
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)


def test_a_batch_that_fails_again_stays_in_the_queue(
    seeded: SeededCourse, dynamodb: Any, failure_queue: tuple[Any, str]
) -> None:
    seeded.enroll()
    sqs, queue_url = failure_queue
    sqs.send_message(QueueUrl=queue_url, MessageBody=lambda_failure_message(shard_records(dynamodb)))
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)

    def still_broken(payload: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": payload["Records"][0]["dynamodb"]["SequenceNumber"]}]}

    assert redrive(sqs, streams, queue_url, still_broken) == (0, 1)


def test_the_redrive_tool_imports_nothing_of_the_local_emulator() -> None:
    """A production tool runs where local/ is not deployed; it needs Lambda's shapes, not the emulator."""
    script = "import sys, tools.redrive; print(sorted(m for m in sys.modules if m.split('.')[0] == 'local'))"
    result = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
