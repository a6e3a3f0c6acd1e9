"""GET /progress/course/{courseId}/summary: a learner's course summary, or the course aggregate."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver
from lms.models.progress import CourseAggregate, LearnerSummary
from lms.observability import logger, metrics, tracer

app = LmsResolver()
progress = container.progress_service()


@app.get("/progress/course/<courseId>/summary", summary="Get a course progress summary", tags=["Progress"])
@tracer.capture_method
def get_progress_summary(
    courseId: str,  # noqa: N803 - the path parameter's name
    userId: Annotated[str | None, Query(description="Staff: a learner's summary instead of the aggregate")] = None,  # noqa: N803
) -> LearnerSummary | CourseAggregate:
    return progress.summary(app.identity, courseId, userId)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
