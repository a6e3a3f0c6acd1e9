"""GET /users/{userId}/export: every record kept about a user, paged (the user themself or an admin)."""

from lms import container
from lms.api import DEFAULT_LIMIT, LmsResolver, PageCursor, PageLimit, ResourceId
from lms.models.common import ListResponse
from lms.models.privacy import ExportItem
from lms.observability import tracer

app = LmsResolver()
privacy = container.privacy_service()
cursors = container.cursor_codec()


@app.get("/users/<userId>/export", summary="Export everything kept about a user", tags=["Learner data"])
@tracer.capture_method
def export_user_data(
    userId: ResourceId,  # noqa: N803 - the path parameter's name
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
) -> ListResponse[ExportItem]:
    return app.paginate(cursors, lambda page: privacy.export(app.identity, userId, page))


lambda_handler = app.lambda_handler()
