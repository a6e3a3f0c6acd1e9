"""POST /courses/{courseId}/modules/{moduleId}/lessons: append a lesson to a module."""

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, ResourceId, created_response
from lms.models.catalog import LessonCreate, LessonCreated
from lms.observability import tracer

app = LmsResolver()
catalog = container.catalog_service()


@app.post(
    "/courses/<courseId>/modules/<moduleId>/lessons",
    status_code=201,
    # A lesson is addressed by DELETE /courses/{courseId}/lessons/{lessonId}: that is its Location.
    responses={201: created_response("The lesson, appended", "/courses/{courseId}/lessons/{lessonId}")},
    summary="Append a lesson",
    tags=["Catalog"],
)
@tracer.capture_method
def create_lesson(
    courseId: ResourceId,  # noqa: N803
    moduleId: ResourceId,  # noqa: N803
    body: LessonCreate,
) -> Response[LessonCreated]:
    lesson = catalog.add_lesson(app.identity, courseId, moduleId, body)
    return app.created(lesson, f"/courses/{lesson.course_id}/lessons/{lesson.id}")


lambda_handler = app.lambda_handler()
