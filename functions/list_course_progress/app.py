"""GET /progress/course/{courseId}: a course's lesson records (learners see only their own)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from lms import container
from lms.api import DEFAULT_LIMIT, LmsResolver, PageCursor, PageLimit, ResourceId, user_id_query
from lms.models.common import ListResponse
from lms.models.progress import Progress, ProgressStatus
from lms.observability import tracer

app = LmsResolver()
progress = container.progress_service()
cursors = container.cursor_codec()


@app.get("/progress/course/<courseId>", summary="List a course's lesson progress", tags=["Progress"])
@tracer.capture_method
def list_course_progress(
    courseId: ResourceId,  # noqa: N803 - the path parameter's name
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    userId: Annotated[str | None, user_id_query("Staff: one learner's records")] = None,  # noqa: N803
    status: Annotated[ProgressStatus | None, Query(description="IN_PROGRESS or COMPLETED")] = None,
) -> ListResponse[Progress]:
    return app.paginate(cursors, lambda page: progress.list_for_course(app.identity, courseId, userId, status, page))


lambda_handler = app.lambda_handler()
