"""GET /users/{userId}/erasure: the erasure of a user's data, as far as it went (the user or an admin)."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.privacy import Erasure
from lms.observability import tracer

app = LmsResolver()
privacy = container.privacy_service()


@app.get("/users/<userId>/erasure", summary="Get a user's erasure", tags=["Learner data"])
@tracer.capture_method
def get_user_erasure(userId: ResourceId) -> Erasure:  # noqa: N803 - the path parameter's name
    return privacy.status(app.identity, userId)


lambda_handler = app.lambda_handler()
