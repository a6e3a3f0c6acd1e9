"""GET /progress/course/{courseId}/summary: a learner's course summary, or the course aggregate."""

from typing import Annotated

from lms import container
from lms.api import LmsResolver, ResourceId, user_id_query
from lms.models.progress import CourseAggregate, LearnerSummary
from lms.observability import tracer

app = LmsResolver()
summaries = container.summary_reader()


@app.get("/progress/course/<courseId>/summary", summary="Get a course progress summary", tags=["Progress"])
@tracer.capture_method
def get_progress_summary(
    courseId: ResourceId,  # noqa: N803 - the path parameter's name
    userId: Annotated[str | None, user_id_query("Staff: a learner's summary instead of the aggregate")] = None,  # noqa: N803
) -> LearnerSummary | CourseAggregate:
    return summaries.read(app.identity, courseId, userId)


lambda_handler = app.lambda_handler()
