"""GET /progress/{id}: one lesson record (owner, course instructor, admin)."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.progress import Progress
from lms.observability import tracer

app = LmsResolver()
progress = container.progress_service()


@app.get("/progress/<id>", summary="Get a lesson progress record", tags=["Progress"])
@tracer.capture_method
def get_progress(id: ResourceId) -> Progress:
    return progress.get(app.identity, id)


lambda_handler = app.lambda_handler()
