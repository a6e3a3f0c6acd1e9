"""POST /courses/{courseId}/modules: append a module (course instructors, admins)."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.catalog import ModuleCreate, ModuleCreated
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post("/courses/<courseId>/modules", status_code=201, summary="Append a module", tags=["Catalog"])
@tracer.capture_method
def create_module(courseId: ResourceId, body: ModuleCreate) -> ModuleCreated:  # noqa: N803
    return catalog.add_module(app.identity, courseId, body)


lambda_handler = app.lambda_handler()
