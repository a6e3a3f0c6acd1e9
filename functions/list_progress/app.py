"""GET /progress: the caller's lesson records across courses (an admin may pass userId)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.api import LmsResolver, paginate, parse_enum
from lms.models.common import ListResponse
from lms.models.progress import Progress, ProgressStatus
from lms.observability import logger, metrics, tracer
from lms.pagination import DEFAULT_LIMIT, MAX_LIMIT

app = LmsResolver()
progress = container.progress_service()
cursors = container.cursor_codec()


@app.get("/progress", summary="List my lesson progress", tags=["Progress"])
@tracer.capture_method
def list_progress(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[str | None, Query(description="IN_PROGRESS or COMPLETED")] = None,
    userId: Annotated[str | None, Query(description="Admins only: another user's id")] = None,  # noqa: N803
) -> ListResponse[Progress]:
    status_filter = parse_enum(ProgressStatus, status, "status")
    identity = app.identity
    return paginate(
        cursors,
        lambda page: progress.list_mine(identity, userId, status_filter, page),
        limit,
        cursor,
        "list_progress",
        identity.user_id,
        userId,
        status,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
