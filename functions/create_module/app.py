"""POST /courses/{courseId}/modules: append a module (course instructors, admins)."""

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, ResourceId, created_response
from lms.models.catalog import ModuleCreate, ModuleCreated
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post(
    "/courses/<courseId>/modules",
    status_code=201,
    # No route reads a module alone: its Location is its natural path under the course.
    responses={201: created_response("The module, appended", "/courses/{courseId}/modules/{moduleId}")},
    summary="Append a module",
    tags=["Catalog"],
)
@tracer.capture_method
def create_module(courseId: ResourceId, body: ModuleCreate) -> Response[ModuleCreated]:  # noqa: N803
    module = catalog.add_module(app.identity, courseId, body)
    return app.created(module, f"/courses/{module.course_id}/modules/{module.id}")


lambda_handler = app.lambda_handler()
