"""GET /enrollments: the caller's enrollments (an admin may pass userId), or with courseId the one in
that course: how a client checks enrollment."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import DEFAULT_LIMIT, LmsResolver, PageCursor, PageLimit, course_id_query, user_id_query
from lms.models.common import ListResponse
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.observability import tracer

app = LmsResolver()
enrollments = container.enrollment_service()
cursors = container.cursor_codec()


@app.get("/enrollments", summary="List my enrollments", tags=["Enrollments"])
@tracer.capture_method
def list_enrollments(
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    userId: Annotated[str | None, user_id_query("Admins only: another user's id")] = None,  # noqa: N803
    status: Annotated[
        EnrollmentStatus | None, Query(description="ACTIVE, COMPLETED, DROPPED, SUSPENDED or EXPIRED")
    ] = None,
    courseId: Annotated[  # noqa: N803
        str | None,
        course_id_query("Only the enrollment in this course: 0 or 1 items, whatever its status (one key lookup)"),
    ] = None,
) -> ListResponse[Enrollment]:
    return app.paginate(cursors, lambda page: enrollments.list_mine(app.identity, userId, status, page, courseId))


lambda_handler = app.lambda_handler()
