"""Wiring: builds the clients, repositories and services a handler holds at module level, so that
warm invocations reuse them. Each factory imports only what its service needs: a handler's cold
start pays for its own domain, not for every other one.

Clients are plain botocore clients from one session per container (boto3 adds nothing here but
import time, and a second client reuses the session's parsed endpoint data). Under SnapStart, what
must not be shared by every environment restored from one snapshot is renewed after a restore.
"""

import random
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from pydantic import BaseModel
from snapshot_restore_py import register_after_restore

from lms.aws import CLIENT_CONFIG
from lms.clock import Clock, IdGenerator, new_id, utc_now
from lms.repositories.dynamo import Table, read_raw_json
from lms.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

    from lms.cursors import CursorCodec
    from lms.events.publisher import EventPublisher
    from lms.idempotency import IdempotentRequest
    from lms.services.access_periods import AccessExpiryService
    from lms.services.catalog import CatalogService
    from lms.services.enrollments import EnrollmentService
    from lms.services.erasure import ErasureJob
    from lms.services.privacy import PrivacyService
    from lms.services.progress import ProgressService
    from lms.services.roster import RosterService
    from lms.services.seat_counts import SeatCountService
    from lms.services.summaries.reading import SummaryReader
    from lms.stream import Summarizer


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


_clients: list[Any] = []


def _client(service: str, **config: Any) -> Any:
    """A client with CLIENT_CONFIG, and `config` on top."""
    client = _session().create_client(
        service, config=CLIENT_CONFIG.merge(Config(**config)) if config else CLIENT_CONFIG
    )
    _clients.append(client)
    return client


def _after_restore() -> None:
    """Run by Lambda in every environment restored from a SnapStart snapshot: the snapshot's random
    state and pooled connections were taken once and are shared by every restored copy."""
    random.seed()
    for client in _clients:
        client.close()  # drops pooled connections; the next call opens its own


register_after_restore(_after_restore)


def table() -> Table:
    # Every request to the table is built by `Table` from a few fixed shapes, and DynamoDB checks
    # each anyway: botocore's client-side check walks every attribute of every item (a transaction of
    # 25 learners carries about 1,000), per call.
    client = cast("DynamoDBClient", _client("dynamodb", parameter_validation=False))
    read_raw_json(client)
    return Table(client, get_settings().table_name)


def catalog_service(*, clock: Clock = utc_now, ids: IdGenerator = new_id) -> "CatalogService":
    from lms.repositories.courses import CourseRepository
    from lms.services.catalog import CatalogService

    return CatalogService(CourseRepository(table()), clock=clock, ids=ids)


def enrollment_service(*, clock: Clock = utc_now, ids: IdGenerator = new_id) -> "EnrollmentService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.services.enrollments import EnrollmentService

    shared = table()
    return EnrollmentService(EnrollmentRepository(shared), CourseRepository(shared), clock=clock, ids=ids)


def access_expiry_service(*, clock: Clock = utc_now) -> "AccessExpiryService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.services.access_periods import AccessExpiryService

    shared = table()
    return AccessExpiryService(EnrollmentRepository(shared), CourseRepository(shared), clock=clock)


def seat_count_service(*, clock: Clock = utc_now) -> "SeatCountService":
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.services.seat_counts import SeatCountService

    return SeatCountService(EnrollmentRepository(table()), clock=clock)


def roster_service(*, clock: Clock = utc_now, ids: IdGenerator = new_id) -> "RosterService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.services.roster import RosterService

    shared = table()
    return RosterService(EnrollmentRepository(shared), CourseRepository(shared), clock=clock, ids=ids)


def progress_service(*, clock: Clock = utc_now, ids: IdGenerator = new_id) -> "ProgressService":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.progress import ProgressRepository
    from lms.services.progress import ProgressService

    shared = table()
    return ProgressService(ProgressRepository(shared), CourseRepository(shared), clock=clock, ids=ids)


def summary_reader() -> "SummaryReader":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.progress import ProgressRepository
    from lms.repositories.summaries import SummaryRepository
    from lms.services.summaries.reading import SummaryReader

    shared = table()
    return SummaryReader(CourseRepository(shared), ProgressRepository(shared), SummaryRepository(shared))


def summarizer(*, clock: Clock = utc_now) -> "Summarizer":
    from lms.repositories.courses import CourseRepository
    from lms.repositories.enrollments import EnrollmentRepository
    from lms.repositories.fanout import FanoutRepository
    from lms.repositories.progress import ProgressRepository
    from lms.repositories.summaries import SummaryRepository
    from lms.services.summaries.fanout import FanoutService
    from lms.services.summaries.reading import Outlines
    from lms.services.summaries.recompute import SummaryRecomputer
    from lms.stream import Summarizer

    shared = table()
    recompute = SummaryRecomputer(
        Outlines(CourseRepository(shared)), ProgressRepository(shared), SummaryRepository(shared), clock=clock
    )
    fanout = FanoutService(recompute, EnrollmentRepository(shared), FanoutRepository(shared), clock=clock)
    return Summarizer(recompute, fanout, _erasure_job(shared, clock))


def _erasure_job(shared: Table, clock: Clock) -> "ErasureJob":
    from lms.repositories.erasures import ErasureRepository
    from lms.services.erasure import ErasureJob

    idempotency_table = get_settings().idempotency_table_name
    idempotency = Table(shared.client, idempotency_table) if idempotency_table else None
    return ErasureJob(ErasureRepository(shared, idempotency), clock=clock)


def privacy_service(*, clock: Clock = utc_now) -> "PrivacyService":
    from lms.repositories.erasures import ErasureRepository
    from lms.services.privacy import PrivacyService
    from lms.user_hash import UserHasher

    return PrivacyService(ErasureRepository(table()), UserHasher(_erasure_key), clock=clock)


def _erasure_key() -> str:
    settings = get_settings()
    if settings.erasure_key:
        return settings.erasure_key
    if not settings.erasure_key_arn:
        raise RuntimeError("ERASURE_KEY or ERASURE_KEY_SECRET_ARN must be set for the erasure routes")
    return _secret(settings.erasure_key_arn)


def _cursor_key() -> str:
    settings = get_settings()
    if settings.cursor_secret:
        return settings.cursor_secret
    if not settings.cursor_secret_arn:
        raise RuntimeError("CURSOR_SECRET or CURSOR_SECRET_ARN must be set for list endpoints")
    return _secret(settings.cursor_secret_arn)


def _secret(arn: str) -> str:
    # Fetched when a cursor is first signed or checked, through Powertools Parameters' cache (max_age),
    # whose shared Secrets Manager provider is given our botocore client: no boto3 session or client.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, get_secret
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=_client("secretsmanager"))
    # Powertools caches the value for max_age seconds: a rotated key is in use within 5 minutes.
    return str(get_secret(arn, max_age=300))


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

    return idempotency.idempotent_by_key(
        action, settings.idempotency_table_name, settings.idempotency_ttl_seconds, _client("dynamodb")
    )


def event_publisher() -> "EventPublisher":
    from lms.events.publisher import EventPublisher

    bus_name = get_settings().event_bus_name
    if not bus_name:
        raise RuntimeError("EVENT_BUS_NAME must be set for the events publisher")
    return EventPublisher(cast("EventBridgeClient", _client("events")), bus_name)
