"""POST /progress: record a view or a completion of a lesson by the caller (201 when first recorded)."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, created_response
from lms.models.progress import Progress, ProgressRecord
from lms.observability import tracer

app = LmsResolver()
progress = container.progress_service()


@app.post(
    "/progress",
    responses={
        200: {"description": "The lesson record, updated", "content": {"application/json": {"model": Progress}}},
        201: created_response("The learner's first record for this lesson", "/progress/{progressId}", Progress),
    },
    summary="Record a lesson view or completion",
    tags=["Progress"],
)
@tracer.capture_method
def record_progress(body: ProgressRecord) -> Response[Progress]:
    outcome = progress.record(app.identity, body)
    if outcome.created:
        return app.created(outcome.progress, f"/progress/{outcome.progress.id}")
    return Response(status_code=HTTPStatus.OK.value, content_type="application/json", body=outcome.progress)


lambda_handler = app.lambda_handler()
