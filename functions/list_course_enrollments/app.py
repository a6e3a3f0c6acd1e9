"""GET /enrollments/course/{courseId}: a course's enrollments, or with userId that learner's (course
instructors, admins)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import LmsResolver, PageCursor, PageLimit, ResourceId, paginate, parse_enum, user_id_query
from lms.models.common import ListResponse
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.observability import tracer
from lms.pagination import DEFAULT_LIMIT

app = LmsResolver()
enrollments = container.enrollment_service()
cursors = container.cursor_codec()


@app.get("/enrollments/course/<courseId>", summary="List a course's enrollments", tags=["Enrollments"])
@tracer.capture_method
def list_course_enrollments(
    courseId: ResourceId,  # noqa: N803
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    status: Annotated[str | None, Query(description="ACTIVE, COMPLETED, DROPPED or SUSPENDED")] = None,
    userId: Annotated[  # noqa: N803
        str | None, user_id_query("Only this learner's enrollment: 0 or 1 items (one key lookup)")
    ] = None,
) -> ListResponse[Enrollment]:
    status_filter = parse_enum(EnrollmentStatus, status, "status")
    identity = app.identity
    return paginate(
        cursors,
        lambda page: enrollments.list_for_course(identity, courseId, status_filter, page, userId),
        limit,
        cursor,
        "list_course_enrollments",
        identity.user_id,
        courseId,
        status,
        # Added after the first release: only when given, so earlier cursors stay valid.
        *([userId] if userId is not None else []),
    )


lambda_handler = app.lambda_handler()
