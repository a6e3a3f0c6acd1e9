"""PATCH /progress/{id}: edit a lesson record; only staff may reopen a completed lesson."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.progress import Progress, ProgressUpdate
from lms.observability import logger, metrics, tracer

app = LmsResolver()
progress = container.progress_service()


@app.patch("/progress/<id>", summary="Update a lesson progress record", tags=["Progress"])
@tracer.capture_method
def update_progress(id: str, body: ProgressUpdate) -> Progress:
    return progress.update(app.identity, id, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
