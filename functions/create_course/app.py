"""POST /courses: create a course outline (instructors and admins)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.catalog import Course, CourseCreate
from lms.observability import logger, metrics, tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post("/courses", status_code=201, summary="Create a course", tags=["Catalog"])
@tracer.capture_method
def create_course(body: CourseCreate) -> Course:
    return catalog.create_course(app.identity, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
