"""GET /courses/{courseId}: a course outline in outline order (anyone signed in)."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.catalog import Course
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.get("/courses/<courseId>", summary="Get a course outline", tags=["Catalog"])
@tracer.capture_method
def get_course(courseId: ResourceId) -> Course:  # noqa: N803 - the path parameter's name
    return catalog.get_course(courseId)


lambda_handler = app.lambda_handler()
