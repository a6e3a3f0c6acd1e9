"""DELETE /enrollments/{id}: remove an enrollment; the learner's progress is kept."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver, no_content
from lms.observability import logger, metrics, tracer

app = LmsResolver()
enrollments = container.enrollment_service()


@app.delete(
    "/enrollments/<id>",
    status_code=204,
    responses={204: {"description": "Deleted"}},
    summary="Delete an enrollment",
    tags=["Enrollments"],
)
@tracer.capture_method
def delete_enrollment(id: str) -> Response[None]:
    enrollments.delete(app.identity, id)
    return no_content()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
