"""DELETE /courses/{courseId}/lessons/{lessonId}: remove a lesson; learners' summaries follow."""

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, ResourceId, no_content
from lms.observability import tracer

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
def delete_lesson(courseId: ResourceId, lessonId: ResourceId) -> Response[None]:  # noqa: N803
    catalog.delete_lesson(app.identity, courseId, lessonId)
    return no_content()


lambda_handler = app.lambda_handler()
