"""GET /enrollments/course/{courseId}: a course's enrollments, or with userId that learner's (course
instructors, admins)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import DEFAULT_LIMIT, LmsResolver, PageCursor, PageLimit, ResourceId, user_id_query
from lms.models.common import ListResponse
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.observability import tracer

app = LmsResolver()
enrollments = container.enrollment_service()
cursors = container.cursor_codec()


@app.get("/enrollments/course/<courseId>", summary="List a course's enrollments", tags=["Enrollments"])
@tracer.capture_method
def list_course_enrollments(
    courseId: ResourceId,  # noqa: N803
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    status: Annotated[
        EnrollmentStatus | None, Query(description="ACTIVE, COMPLETED, DROPPED, SUSPENDED or EXPIRED")
    ] = None,
    userId: Annotated[  # noqa: N803
        str | None, user_id_query("Only this learner's enrollment: 0 or 1 items (one key lookup)")
    ] = None,
) -> ListResponse[Enrollment]:
    return app.paginate(cursors, lambda page: enrollments.list_for_course(app.identity, courseId, status, page, userId))


lambda_handler = app.lambda_handler()
