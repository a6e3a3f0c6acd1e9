"""GET /enrollments/{id}: one enrollment (owner, course instructor, admin)."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.enrollments import Enrollment
from lms.observability import tracer

app = LmsResolver()
enrollments = container.enrollment_service()


@app.get("/enrollments/<id>", summary="Get an enrollment", tags=["Enrollments"])
@tracer.capture_method
def get_enrollment(id: ResourceId) -> Enrollment:
    return enrollments.get(app.identity, id)


lambda_handler = app.lambda_handler()
