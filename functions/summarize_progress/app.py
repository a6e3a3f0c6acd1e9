"""DynamoDB stream consumer: keeps learner course summaries and course aggregates current.

Each batch is coalesced (one recompute per learner and course, the learners of a course read and
written together), failures are reported per record (ReportBatchItemFailures), and every recompute
reads the current state of what changed, so redelivery is harmless.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.batch import partial_response
from lms.observability import logger, metrics, tracer
from lms.stream import ChangeBatch

summarizer = container.summarizer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    failed = ChangeBatch(summarizer, context).run(event["Records"])
    return partial_response(event, context, failed)
