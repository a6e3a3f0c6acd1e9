"""POST /courses: create a course outline (instructors and admins)."""

from lms import container
from lms.api import LmsResolver
from lms.models.catalog import Course, CourseCreate
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post("/courses", status_code=201, summary="Create a course", tags=["Catalog"])
@tracer.capture_method
def create_course(body: CourseCreate) -> Course:
    return catalog.create_course(app.identity, body)


lambda_handler = app.lambda_handler()
