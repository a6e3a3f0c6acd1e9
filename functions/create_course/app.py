"""POST /courses: create a course outline (instructors and admins)."""

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, created_response
from lms.models.catalog import Course, CourseCreate
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post(
    "/courses",
    status_code=201,
    responses={201: created_response("The course outline", "/courses/{courseId}")},
    summary="Create a course",
    tags=["Catalog"],
)
@tracer.capture_method
def create_course(body: CourseCreate) -> Response[Course]:
    course = catalog.create_course(app.identity, body)
    return app.created(course, f"/courses/{course.id}")


lambda_handler = app.lambda_handler()
