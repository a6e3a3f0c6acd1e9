"""POST /courses/{courseId}/enrollments: a course's staff enroll up to 100 learners in one request,
each exactly as POST /enrollments would; an Idempotency-Key header makes retries return the first answer."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.metrics import MetricUnit

from lms import container
from lms.api import LmsResolver, ResourceId, problem_details
from lms.idempotency import IdempotentRequest
from lms.models.roster import Problem, RosterCall, RosterItem, RosterOutcome, RosterRequest, RosterResult
from lms.observability import metrics, tracer

app = LmsResolver()
roster = container.roster_service()


def enroll_all(request: IdempotentRequest[RosterCall]) -> RosterResult:
    results = roster.enroll(app.identity, request.body.course_id, request.body.learners)
    created = sum(result.outcome == RosterOutcome.CREATED for result in results)
    if created:
        metrics.add_metric(name="EnrollmentCreated", unit=MetricUnit.Count, value=created)
    return RosterResult(
        items=[
            RosterItem(
                user_id=result.user_id,
                outcome=result.outcome,
                enrollment=result.enrollment,
                problem=Problem.model_validate(problem_details(result.error)) if result.error else None,
            )
            for result in results
        ]
    )


def enroll_learners(request: IdempotentRequest[RosterCall]) -> RosterResult:
    """What the idempotency record keeps: the result without the learners' ids, which it would keep
    in the caller's partition, out of an erasure's reach (docs/privacy.md)."""
    return enroll_all(request).without_learners()


# Named apart from POST /enrollments' action: Powertools keys its records by the function's module and name.
enroll_once = container.idempotent_by_key(enroll_learners)


@app.post(
    "/courses/<courseId>/enrollments",
    summary="Enroll a roster of learners in a course (up to 100)",
    tags=["Enrollments"],
)
@tracer.capture_method
def enroll_roster(
    courseId: ResourceId,  # noqa: N803 - the path parameter's name
    body: RosterRequest,
    idempotency_key: Annotated[
        str | None,
        Header(alias="idempotency-key", max_length=255, description="Retries return the first response"),
    ] = None,
) -> RosterResult:
    call = RosterCall(course_id=courseId, learners=body.learners)
    request = IdempotentRequest[RosterCall](caller=app.identity.user_id, key=idempotency_key or "", body=call)
    if not idempotency_key:
        return enroll_all(request)
    return enroll_once(request, app.lambda_context).with_learners(call.learners)


lambda_handler = app.lambda_handler()
