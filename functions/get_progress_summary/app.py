"""GET /progress/course/{courseId}/summary: a learner's course summary, or the course aggregate."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import LmsResolver
from lms.models.progress import CourseAggregate, LearnerSummary
from lms.observability import tracer

app = LmsResolver()
progress = container.progress_service()


@app.get("/progress/course/<courseId>/summary", summary="Get a course progress summary", tags=["Progress"])
@tracer.capture_method
def get_progress_summary(
    courseId: str,  # noqa: N803 - the path parameter's name
    userId: Annotated[str | None, Query(description="Staff: a learner's summary instead of the aggregate")] = None,  # noqa: N803
) -> LearnerSummary | CourseAggregate:
    return progress.summary(app.identity, courseId, userId)


lambda_handler = app.lambda_handler()
