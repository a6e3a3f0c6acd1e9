"""PATCH /enrollments/{id}: change an enrollment's status or (staff) its access end, optionally guarded
by If-Match."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header

from lms import container
from lms.api import LmsResolver, ResourceId, parse_if_match
from lms.models.enrollments import AccessEnd, Enrollment, EnrollmentUpdate
from lms.observability import tracer

app = LmsResolver()
enrollments = container.enrollment_service()


@app.patch("/enrollments/<id>", summary="Update an enrollment's status or access end", tags=["Enrollments"])
@tracer.capture_method
def update_enrollment(
    id: ResourceId,
    body: EnrollmentUpdate,
    if_match: Annotated[str | None, Header(alias="if-match", description="The expected version")] = None,
) -> Enrollment:
    access_end = AccessEnd(body.access_ends_at) if "access_ends_at" in body.model_fields_set else None
    return enrollments.update_status(app.identity, id, body.status, parse_if_match(if_match), access_end)


lambda_handler = app.lambda_handler()
