"""DELETE /courses/{courseId}/lessons/{lessonId}: remove a lesson; learners' summaries follow."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver, no_content
from lms.observability import logger, metrics, tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.delete(
    "/courses/<courseId>/lessons/<lessonId>",
    status_code=204,
    responses={204: {"description": "Deleted"}},
    summary="Delete a lesson",
    tags=["Catalog"],
)
@tracer.capture_method
def delete_lesson(courseId: str, lessonId: str) -> Response[None]:  # noqa: N803
    catalog.delete_lesson(app.identity, courseId, lessonId)
    return no_content()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
