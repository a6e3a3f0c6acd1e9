"""PATCH /progress/{id}: edit a lesson record; only staff may reopen a completed lesson."""

from lms import container
from lms.api import LmsResolver, ResourceId
from lms.models.progress import Progress, ProgressUpdate
from lms.observability import tracer

app = LmsResolver()
progress = container.progress_service()


@app.patch("/progress/<id>", summary="Update a lesson progress record", tags=["Progress"])
@tracer.capture_method
def update_progress(id: ResourceId, body: ProgressUpdate) -> Progress:
    return progress.update(app.identity, id, body)


lambda_handler = app.lambda_handler()
