"""PutEvents in batches: at most 10 entries and 256 KB a request, failed entries retried with
backoff, and the stream records whose events still could not be published returned, for the
partial batch response (Lambda retries from the first of them; the ids make the repeats harmless)."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from lms.batch import sequence_number
from lms.events.derive import DomainEvent, events_for
from lms.events.models import EVENT_SOURCE
from lms.observability import logger, metrics
from lms.retry import Retry

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef
else:
    EventBridgeClient = Any
    PutEventsRequestEntryTypeDef = dict

MAX_ENTRIES_PER_REQUEST = 10
MAX_REQUEST_BYTES = 256 * 1024
# Failed entries are sent again after waits of up to 0.1 s doubling to 1 s, tries starting within
# 10 s: the publisher times out after 60 s, and what still fails is the stream's to retry.
PUBLISH_RETRY = Retry(attempts=4, base=0.1, cap=1.0, budget=10.0)
_TIME_BYTES = 14  # how EventBridge counts an entry's Time toward the request size


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event and the stream record (sequence number) it came from."""

    sequence_number: str
    event: DomainEvent


class EventPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str, retry: Retry = PUBLISH_RETRY) -> None:
        self._client = client
        self._bus_name = bus_name
        self._retry = retry

    def publish(self, events: Sequence[PendingEvent]) -> list[PendingEvent]:
        """Publish every event; return those still failing when the retries run out (in their order)."""
        pending = list(events)
        for _ in self._retry.tries():
            pending = self._put_once(pending)
            if not pending:
                break
        return pending

    def _put_once(self, events: list[PendingEvent]) -> list[PendingEvent]:
        failed: list[PendingEvent] = []
        for chunk in _requests(events, self._entry):
            entries = [self._entry(pending.event) for pending in chunk]
            try:
                response = self._client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as error:  # throttled, bus unreachable: retry them all
                logger.warning("PutEvents failed", extra={"error": str(error), "entries": len(chunk)})
                failed += chunk
                continue
            for pending, result in zip(chunk, response["Entries"], strict=True):
                if "ErrorCode" in result:
                    logger.warning(
                        "event not accepted",
                        extra={"eventId": pending.event.event_id, "code": result["ErrorCode"]},
                    )
                    failed.append(pending)
        return failed

    def _entry(self, event: DomainEvent) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": event.detail_type.value,
            # An optional field is absent, never null: rules select on it with `exists`.
            "Detail": event.detail.model_dump_json(exclude_none=True),
            "Time": datetime.fromisoformat(event.detail.occurredAt),
            "EventBusName": self._bus_name,
        }


def _entry_size(entry: PutEventsRequestEntryTypeDef) -> int:
    text = entry["Source"] + entry["DetailType"] + entry["Detail"]
    return len(text.encode()) + _TIME_BYTES


def _requests(
    events: list[PendingEvent], entry: Callable[[DomainEvent], PutEventsRequestEntryTypeDef]
) -> Iterator[list[PendingEvent]]:
    chunk: list[PendingEvent] = []
    size = 0
    for pending in events:
        entry_size = _entry_size(entry(pending.event))
        if chunk and (len(chunk) == MAX_ENTRIES_PER_REQUEST or size + entry_size > MAX_REQUEST_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(pending)
        size += entry_size
    if chunk:
        yield chunk


def publish_records(records: list[dict[str, Any]], publisher: EventPublisher) -> set[str]:
    """Publish the events of a batch of stream records, each record read once; returns the sequence
    numbers of the records whose events (or whose reading) failed."""
    failed: set[str] = set()
    pending: list[PendingEvent] = []
    for record in records:
        number = sequence_number(record)
        try:
            pending += [PendingEvent(number, event) for event in events_for(record)]
        except (KeyError, ValueError):
            logger.exception("unreadable stream record", extra={"sequenceNumber": number})
            failed.add(number)
    unpublished = publisher.publish(pending)
    failed |= {p.sequence_number for p in unpublished}
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=len(pending) - len(unpublished))
    metrics.add_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=len(unpublished))
    if pending:
        logger.info("events published", extra={"events": len(pending) - len(unpublished), "failed": len(unpublished)})
    return failed
