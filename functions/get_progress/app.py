"""GET /progress/{id}: one lesson record (owner, course instructor, admin)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.progress import Progress
from lms.observability import logger, metrics, tracer

app = LmsResolver()
progress = container.progress_service()


@app.get("/progress/<id>", summary="Get a lesson progress record", tags=["Progress"])
@tracer.capture_method
def get_progress(id: str) -> Progress:
    return progress.get(app.identity, id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
