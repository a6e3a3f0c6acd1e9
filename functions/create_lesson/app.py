"""POST /courses/{courseId}/modules/{moduleId}/lessons: append a lesson to a module."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.catalog import LessonCreate, LessonCreated
from lms.observability import logger, metrics, tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post(
    "/courses/<courseId>/modules/<moduleId>/lessons", status_code=201, summary="Append a lesson", tags=["Catalog"]
)
@tracer.capture_method
def create_lesson(courseId: str, moduleId: str, body: LessonCreate) -> LessonCreated:  # noqa: N803
    return catalog.add_lesson(app.identity, courseId, moduleId, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
