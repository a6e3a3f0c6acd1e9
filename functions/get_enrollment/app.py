"""GET /enrollments/{id}: one enrollment (owner, course instructor, admin)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.enrollments import Enrollment
from lms.observability import logger, metrics, tracer

app = LmsResolver()
enrollments = container.enrollment_service()


@app.get("/enrollments/<id>", summary="Get an enrollment", tags=["Enrollments"])
@tracer.capture_method
def get_enrollment(id: str) -> Enrollment:
    return enrollments.get(app.identity, id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
