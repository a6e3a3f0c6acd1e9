"""DELETE /users/{userId}: record the erasure of everything kept about a user (202); the stream runs it."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.privacy import Erasure
from lms.observability import tracer

app = LmsResolver()
privacy = container.privacy_service()


@app.delete(
    "/users/<userId>",
    status_code=202,
    responses={202: {"description": "Erasure recorded", "content": {"application/json": {"model": Erasure}}}},
    summary="Erase everything kept about a user",
    tags=["Learner data"],
)
@tracer.capture_method
def erase_user(userId: ResourceId) -> Response[Erasure]:  # noqa: N803 - the path parameter's name
    erasure = privacy.request(app.identity, userId)
    return Response(status_code=HTTPStatus.ACCEPTED.value, content_type="application/json", body=erasure)


lambda_handler = app.lambda_handler()
