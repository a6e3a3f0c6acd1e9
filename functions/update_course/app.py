"""PATCH /courses/{courseId}: change a course's title, description, capacity and enrollment settings
(the course's instructors and admins)."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.catalog import Course, CourseUpdate
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.patch("/courses/<courseId>", summary="Update a course's settings", tags=["Catalog"])
@tracer.capture_method
def update_course(courseId: ResourceId, body: CourseUpdate) -> Course:  # noqa: N803 - the path parameter's name
    return catalog.update_course(app.identity, courseId, body)


lambda_handler = app.lambda_handler()
