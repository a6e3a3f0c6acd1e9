"""Every minute (an EventBridge Scheduler schedule, `ScheduleV2` in the template): expire the ACTIVE
enrollments whose access has ended, from the index of pending access ends; then count the seats of
the courses given a capacity after they took enrollments (lms.services.seat_counts). Bounded per
run; what is left is continued by the next run, from the checkpoint or the count's cursor."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lms import container
from lms.observability import logger, metrics, tracer

expiry = container.access_expiry_service()
seat_counts = container.seat_count_service()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = expiry.run(context.get_remaining_time_in_millis)
    metrics.add_metric(name="EnrollmentExpired", unit=MetricUnit.Count, value=run.expired)
    logger.info("access ends expired", extra={"expired": run.expired, "skipped": run.skipped, "minutes": run.minutes})
    if not run.caught_up:
        logger.warning("more access ends than one run expires: the next run continues")
    counted = seat_counts.run(context.get_remaining_time_in_millis)
    if counted.steps or counted.finished:
        logger.info("seats counted", extra={"finished": counted.finished, "steps": counted.steps})
    return {
        "expired": run.expired,
        "skipped": run.skipped,
        "minutes": run.minutes,
        "caughtUp": run.caught_up,
        "seatCountsFinished": counted.finished,
    }
