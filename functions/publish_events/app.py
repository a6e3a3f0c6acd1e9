"""DynamoDB stream consumer: publishes the domain events of enrollments and lesson progress on the
EventBridge bus. Apart from the summarizer, so that summaries and events fail and retry independently.

Failures are reported per record (ReportBatchItemFailures); every event id is derived from the
transition it stands for, so a record delivered again publishes the same events, which consumers
de-duplicate.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.batch import partial_response
from lms.events.publisher import publish_records
from lms.observability import logger, metrics, tracer

publisher = container.event_publisher()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    failed = publish_records(event["Records"], publisher)
    return partial_response(event, context, failed)
