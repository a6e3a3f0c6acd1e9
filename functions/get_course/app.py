"""GET /courses/{courseId}: a course outline in outline order (anyone signed in)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.catalog import Course
from lms.observability import logger, metrics, tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.get("/courses/<courseId>", summary="Get a course outline", tags=["Catalog"])
@tracer.capture_method
def get_course(courseId: str) -> Course:  # noqa: N803 - the path parameter's name
    return catalog.get_course(courseId)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
