"""DynamoDB stream consumer: keeps learner course summaries and course aggregates current.

Each batch is coalesced (one recompute per learner and course, the learners of a course read and
written together), failures are reported per record (ReportBatchItemFailures), and every recompute
reads the current state of what changed, so redelivery is harmless.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.observability import logger, metrics, tracer
from lms.stream import ChangeBatch, TableStreamRecord

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=TableStreamRecord)
summaries = container.summary_service()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    batch = ChangeBatch(summaries, context)
    batch.prepare(event.get("Records", []))
    return process_partial_response(event=event, record_handler=batch.apply, processor=processor, context=context)
