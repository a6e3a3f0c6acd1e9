"""POST /enrollments: enroll a learner; an Idempotency-Key header makes retries return the first answer."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.metrics import MetricUnit

from lms import container
from lms.api import LmsResolver, created_response
from lms.idempotency import IdempotentRequest
from lms.models.enrollments import AccessEnd, Enrollment, EnrollmentCreate, EnrollOutcome
from lms.observability import metrics, tracer

app = LmsResolver()
enrollments = container.enrollment_service()


def enroll(request: IdempotentRequest[EnrollmentCreate]) -> EnrollOutcome:
    body = request.body
    access_end = AccessEnd(body.access_ends_at) if "access_ends_at" in body.model_fields_set else None
    outcome = enrollments.enroll(app.identity, body.course_id, body.user_id, access_end)
    if outcome.created:
        metrics.add_metric(name="EnrollmentCreated", unit=MetricUnit.Count, value=1)
    return outcome


enroll_once = container.idempotent_by_key(enroll)


@app.post(
    "/enrollments",
    status_code=201,
    responses={
        201: created_response("Enrolled", "/enrollments/{enrollmentId}", Enrollment),
        200: {
            "description": "A DROPPED enrollment, reactivated",
            "content": {"application/json": {"model": Enrollment}},
        },
    },
    summary="Enroll a learner in a course",
    tags=["Enrollments"],
)
@tracer.capture_method
def create_enrollment(
    body: EnrollmentCreate,
    idempotency_key: Annotated[
        str | None,
        Header(alias="idempotency-key", max_length=255, description="Retries return the first response"),
    ] = None,
) -> Response[Enrollment]:
    caller = app.identity.user_id
    request = IdempotentRequest[EnrollmentCreate](
        caller=caller, key=idempotency_key or "", body=body, learner=body.user_id or caller
    )
    outcome = enroll_once(request, app.lambda_context) if idempotency_key else enroll(request)
    if outcome.created:  # a replay (same Idempotency-Key) too: the same enrollment, the same Location
        return app.created(outcome.enrollment, f"/enrollments/{outcome.enrollment.id}")
    return Response(status_code=HTTPStatus.OK.value, content_type="application/json", body=outcome.enrollment)


lambda_handler = app.lambda_handler()
