"""Wiring: builds the clients, repositories and services a handler holds at module level, so that
warm invocations reuse them. Each factory imports only what its service needs: a handler's cold
start pays for its own domain, not for every other one."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from pydantic import BaseModel

from lms.aws import CLIENT_CONFIG
from lms.repositories.dynamo import Table
from lms.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

    from lms.cursors import CursorCodec
    from lms.events.publisher import EventPublisher
    from lms.idempotency import IdempotentRequest
    from lms.services.catalog import CatalogService
    from lms.services.enrollments import EnrollmentService
    from lms.services.progress import ProgressService
    from lms.services.summaries import SummaryService


def table() -> Table:
    # A plain botocore client: boto3 adds nothing here but import time.
    client = botocore.session.get_session().create_client("dynamodb", config=CLIENT_CONFIG)
    return Table(cast("DynamoDBClient", client), get_settings().table_name)


def catalog_service() -> "CatalogService":
    from lms.repositories.courses import CourseRepository
    from lms.services.catalog import CatalogService

    return CatalogService(CourseRepository(table()))


def enrollment_service() -> "EnrollmentService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.services.enrollments import EnrollmentService

    shared = table()
    return EnrollmentService(EnrollmentRepository(shared), CourseRepository(shared))


def progress_service() -> "ProgressService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.progress import ProgressRepository
    from lms.services.progress import ProgressService

    shared = table()
    return ProgressService(ProgressRepository(shared), CourseRepository(shared))


def summary_service() -> "SummaryService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.repositories.progress import ProgressRepository
    from lms.repositories.summaries import SummaryRepository
    from lms.services.summaries import SummaryService

    shared = table()
    return SummaryService(
        CourseRepository(shared), EnrollmentRepository(shared), ProgressRepository(shared), SummaryRepository(shared)
    )


def _cursor_key() -> str:
    settings = get_settings()
    if settings.cursor_secret:
        return settings.cursor_secret
    if not settings.cursor_secret_arn:
        raise RuntimeError("CURSOR_SECRET or CURSOR_SECRET_ARN must be set for list endpoints")
    from aws_lambda_powertools.utilities.parameters import get_secret  # fetched on the first list call

    # Powertools caches the value for max_age seconds: a rotated key is in use within 5 minutes.
    return str(get_secret(settings.cursor_secret_arn, max_age=300))


def cursor_codec() -> "CursorCodec":
    from lms.cursors import CursorCodec

    return CursorCodec(_cursor_key)


def idempotent_by_key[B: BaseModel, R: BaseModel](
    action: Callable[["IdempotentRequest[B]"], R],
) -> Callable[["IdempotentRequest[B]", Any], R]:
    settings = get_settings()
    if not settings.idempotency_table_name:
        raise RuntimeError("IDEMPOTENCY_TABLE_NAME must be set for idempotent endpoints")
    from lms import idempotency

    return idempotency.idempotent_by_key(action, settings.idempotency_table_name, settings.idempotency_ttl_seconds)


def event_publisher() -> "EventPublisher":
    from lms.events.publisher import EventPublisher

    bus_name = get_settings().event_bus_name
    if not bus_name:
        raise RuntimeError("EVENT_BUS_NAME must be set for the events publisher")
    client = botocore.session.get_session().create_client("events")
    return EventPublisher(cast("EventBridgeClient", client), bus_name)
