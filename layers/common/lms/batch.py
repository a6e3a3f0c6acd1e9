"""Partial batch responses for the stream consumers. Each consumer computes its batch's outcome once,
over all the records (coalesced work, batched calls), as the set of records that failed; Powertools'
BatchProcessor then turns that set into `batchItemFailures` with its own rules (a batch whose every
record failed is raised, so Lambda retries it whole). The processor is given no model: it only reads
each record's sequence number, and nothing is parsed twice."""

from collections.abc import Collection
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

_processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class RecordFailedError(Exception):
    """The record's work failed (the consumer logged why)."""


def sequence_number(raw: dict[str, Any]) -> str:
    """A raw stream record's sequence number, the id `batchItemFailures` names it by."""
    return str(raw.get("dynamodb", {}).get("SequenceNumber", ""))


def partial_response(
    event: dict[str, Any], context: LambdaContext, failed: Collection[str]
) -> PartialItemFailureResponse:
    """The response naming the records whose sequence numbers are in `failed`."""

    def outcome(record: DynamoDBRecord) -> None:
        if record.dynamodb is None or record.dynamodb.sequence_number in failed:
            raise RecordFailedError(record.event_id)

    return process_partial_response(event=event, record_handler=outcome, processor=_processor, context=context)
