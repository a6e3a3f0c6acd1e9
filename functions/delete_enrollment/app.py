"""DELETE /enrollments/{id}: remove an enrollment; the learner's progress is kept."""

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, ResourceId, no_content
from lms.observability import tracer

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
def delete_enrollment(id: ResourceId) -> Response[None]:
    enrollments.delete(app.identity, id)
    return no_content()


lambda_handler = app.lambda_handler()
