"""Wiring: builds the clients, repositories and services a handler holds at module level, so that
warm invocations reuse them."""

from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from pydantic import BaseModel

from lms.pagination import CursorCodec
from lms.repositories.courses import CourseRepository
from lms.repositories.dynamo import Table
from lms.repositories.enrollments import EnrollmentRepository
from lms.repositories.progress import ProgressRepository
from lms.repositories.summaries import SummaryRepository
from lms.services.catalog import CatalogService
from lms.services.enrollments import EnrollmentService
from lms.services.progress import ProgressService
from lms.services.summaries import SummaryService
from lms.settings import get_settings

if TYPE_CHECKING:
    from lms.idempotency import IdempotentRequest


def table() -> Table:
    return Table(boto3.client("dynamodb"), get_settings().table_name)


def catalog_service() -> CatalogService:
    return CatalogService(CourseRepository(table()))


def enrollment_service() -> EnrollmentService:
    shared = table()
    return EnrollmentService(EnrollmentRepository(shared), CourseRepository(shared))


def _cursor_key() -> str:
    settings = get_settings()
    if settings.cursor_secret:
        return settings.cursor_secret
    if not settings.cursor_secret_arn:
        raise RuntimeError("CURSOR_SECRET or CURSOR_SECRET_ARN must be set for list endpoints")
    from aws_lambda_powertools.utilities.parameters import get_secret  # only list functions pay for it

    return str(get_secret(settings.cursor_secret_arn, max_age=3600))


def cursor_codec() -> CursorCodec:
    return CursorCodec(_cursor_key)


def idempotent_by_key[B: BaseModel, R: BaseModel](
    action: Callable[["IdempotentRequest[B]"], R],
) -> Callable[["IdempotentRequest[B]"], R]:
    settings = get_settings()
    if not settings.idempotency_table_name:
        raise RuntimeError("IDEMPOTENCY_TABLE_NAME must be set for idempotent endpoints")
    from lms import idempotency  # only the functions that use it import Powertools Idempotency

    return idempotency.idempotent_by_key(action, settings.idempotency_table_name, settings.idempotency_ttl_seconds)


def summary_service() -> SummaryService:
    shared = table()
    return SummaryService(
        CourseRepository(shared), EnrollmentRepository(shared), ProgressRepository(shared), SummaryRepository(shared)
    )


def progress_service() -> ProgressService:
    shared = table()
    return ProgressService(ProgressRepository(shared), CourseRepository(shared), SummaryRepository(shared))
