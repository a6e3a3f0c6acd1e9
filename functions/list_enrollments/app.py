"""GET /enrollments: the caller's enrollments (an admin may pass userId)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver, paginate, parse_enum
from lms.models.common import ListResponse
from lms.models.enrollments import Enrollment, EnrollmentStatus
from lms.observability import logger, metrics, tracer
from lms.pagination import DEFAULT_LIMIT, MAX_LIMIT

app = LmsResolver()
enrollments = container.enrollment_service()
cursors = container.cursor_codec()


@app.get("/enrollments", summary="List my enrollments", tags=["Enrollments"])
@tracer.capture_method
def list_enrollments(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[str | None, Query(description="ACTIVE, COMPLETED, DROPPED or SUSPENDED")] = None,
    userId: Annotated[str | None, Query(description="Admins only: another user's id")] = None,  # noqa: N803
) -> ListResponse[Enrollment]:
    status_filter = parse_enum(EnrollmentStatus, status, "status")
    identity = app.identity
    return paginate(
        cursors,
        lambda page: enrollments.list_mine(identity, userId, status_filter, page),
        limit,
        cursor,
        "list_enrollments",
        identity.user_id,
        userId,
        status,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
