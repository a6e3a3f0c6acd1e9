"""POST /courses/{courseId}/modules/{moduleId}/lessons: append a lesson to a module."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.catalog import LessonCreate, LessonCreated
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post(
    "/courses/<courseId>/modules/<moduleId>/lessons", status_code=201, summary="Append a lesson", tags=["Catalog"]
)
@tracer.capture_method
def create_lesson(courseId: ResourceId, moduleId: ResourceId, body: LessonCreate) -> LessonCreated:  # noqa: N803
    return catalog.add_lesson(app.identity, courseId, moduleId, body)


lambda_handler = app.lambda_handler()
