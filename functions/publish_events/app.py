"""DynamoDB stream consumer: publishes the domain events of enrollments and lesson progress on the
EventBridge bus. Apart from the summarizer, so that summaries and events fail and retry independently.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.events.publisher import publish_records
from lms.observability import logger, metrics, tracer

publisher = container.event_publisher()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    return publish_records(event["Records"], publisher)
