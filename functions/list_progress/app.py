"""GET /progress: the caller's lesson records across courses (an admin may pass userId)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import DEFAULT_LIMIT, LmsResolver, PageCursor, PageLimit, user_id_query
from lms.models.common import ListResponse
from lms.models.progress import Progress, ProgressStatus
from lms.observability import tracer

app = LmsResolver()
progress = container.progress_service()
cursors = container.cursor_codec()


@app.get("/progress", summary="List my lesson progress", tags=["Progress"])
@tracer.capture_method
def list_progress(
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    userId: Annotated[str | None, user_id_query("Admins only: another user's id")] = None,  # noqa: N803
    status: Annotated[ProgressStatus | None, Query(description="IN_PROGRESS or COMPLETED")] = None,
) -> ListResponse[Progress]:
    return app.paginate(cursors, lambda page: progress.list_mine(app.identity, userId, status, page))


lambda_handler = app.lambda_handler()
