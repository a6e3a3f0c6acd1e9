"""GET /enrollments: the caller's enrollments (an admin may pass userId), or with courseId the one in
that course: how a client checks enrollment."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import LmsResolver, PageCursor, PageLimit, course_id_query, paginate, parse_enum, user_id_query
from lms.models.common import ListResponse
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.observability import tracer
from lms.pagination import DEFAULT_LIMIT

app = LmsResolver()
enrollments = container.enrollment_service()
cursors = container.cursor_codec()


@app.get("/enrollments", summary="List my enrollments", tags=["Enrollments"])
@tracer.capture_method
def list_enrollments(
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    status: Annotated[str | None, Query(description="ACTIVE, COMPLETED, DROPPED or SUSPENDED")] = None,
    userId: Annotated[str | None, user_id_query("Admins only: another user's id")] = None,  # noqa: N803
    courseId: Annotated[  # noqa: N803
        str | None,
        course_id_query("Only the enrollment in this course: 0 or 1 items, whatever its status (one key lookup)"),
    ] = None,
) -> ListResponse[Enrollment]:
    status_filter = parse_enum(EnrollmentStatus, status, "status")
    identity = app.identity
    return paginate(
        cursors,
        lambda page: enrollments.list_mine(identity, userId, status_filter, page, courseId),
        limit,
        cursor,
        "list_enrollments",
        identity.user_id,
        userId,
        status,
        # Added after the first release: only when given, so earlier cursors stay valid.
        *([courseId] if courseId is not None else []),
    )


lambda_handler = app.lambda_handler()
