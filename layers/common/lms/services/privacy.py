"""A learner's rights over their data: the export of everything kept about them, and the request and
status of their erasure (the erasure itself runs from the stream: lms.services.erasure)."""

from lms.clock import Clock, utc_now
from lms.errors import ConcurrencyError, NotFoundError
from lms.identity import Identity
from lms.keys import Entity
from lms.models.enrollments import Enrollment
from lms.models.privacy import ErasedCounts, Erasure, ErasureStatus, ExportItem, ExportKind, SentStatements
from lms.models.progress import Progress
from lms.pagination import Page, PageRequest
from lms.repositories.dynamo import Item
from lms.repositories.erasures import (
    ErasureExistsError,
    ErasureRepository,
    counts_of,
    new_record,
)
from lms.repositories.summaries import stored_summary
from lms.user_hash import UserHasher

# One UpdateItem each, a few ms: 200 take well under a second.
MARKED_BY_THE_REQUEST = 200


def require_self_or_admin(identity: Identity, user_id: str) -> None:
    """The user themself or an admin; to anyone else the user's data does not exist (404)."""
    if identity.user_id != user_id and not identity.is_admin:
        raise NotFoundError("User not found.")


def export_item(item: Item) -> ExportItem | None:
    """An item of the user's partition in the public shape of its kind; None for the erasure guard
    (an erasure under way is answered by GET /users/{userId}/erasure)."""
    match item.get("entity"):
        case Entity.ENROLLMENT:
            return ExportItem(kind=ExportKind.ENROLLMENT, data=Enrollment.model_validate(item))
        case Entity.PROGRESS:
            return ExportItem(kind=ExportKind.PROGRESS, data=Progress.model_validate(item))
        case Entity.SUMMARY:
            return ExportItem(kind=ExportKind.SUMMARY, data=stored_summary(item).summary)
        case Entity.SENT_STATEMENTS:
            return ExportItem(kind=ExportKind.SENT_STATEMENTS, data=SentStatements.model_validate(item))
    return None


def erasure_of(user_id: str, record: Item) -> Erasure:
    return Erasure(
        user_id=user_id,
        status=ErasureStatus(record["status"]),
        requested_at=record["requestedAt"],
        completed_at=record.get("completedAt"),
        erased=ErasedCounts.model_validate(counts_of(record)),
    )


class PrivacyService:
    def __init__(self, erasures: ErasureRepository, hasher: UserHasher, *, clock: Clock = utc_now) -> None:
        self._erasures = erasures
        self._hasher = hasher
        self._now = clock

    def export(self, identity: Identity, user_id: str, page: PageRequest) -> Page[ExportItem]:
        """One page of the user's partition, every kind in its public shape. The partition holds
        everything kept about the user (docs/privacy.md); a page is at most `limit` items."""
        require_self_or_admin(identity, user_id)
        found = self._erasures.page(user_id, page)
        items = [exported for item in found.items if (exported := export_item(item)) is not None]
        return Page(items, found.last_key)

    def _mark(self, user_id: str) -> None:
        """Mark the user's enrollments, so that the checks their writes already make refuse them: up
        to MARKED_BY_THE_REQUEST within the request's 10 s; the erasure's steps mark any other before
        removing it."""
        self._erasures.mark_enrollments(user_id, self._erasures.enrollments(user_id)[:MARKED_BY_THE_REQUEST])

    def status(self, identity: Identity, user_id: str) -> Erasure:
        require_self_or_admin(identity, user_id)
        record = self._erasures.find([h.value for h in self._hasher.hashes(user_id)])
        if record is None:
            raise NotFoundError("No erasure of this user was requested.")
        return erasure_of(user_id, record)

    def request(self, identity: Identity, user_id: str) -> Erasure:
        """Record an erasure (PENDING) and mark the user's enrollments, so that their writes are
        refused from now on; the stream runs the erasure. Asked again while it runs, or after it is
        done with nothing kept since, the same erasure; done, and the user came back since, a new one."""
        require_self_or_admin(identity, user_id)
        hashes = self._hasher.hashes(user_id)
        for _ in range(2):  # a concurrent request that recorded one first is answered with it
            existing = self._erasures.find([h.value for h in hashes])
            replacing = existing is not None and existing["status"] == ErasureStatus.DONE
            if existing is not None and (not replacing or not self._erasures.has_data(user_id)):
                if existing["status"] != ErasureStatus.DONE:
                    self._mark(user_id)
                return erasure_of(user_id, existing)
            current = hashes[0]
            record = new_record(current.value, current.key_id, user_id, self._now())
            same_key = existing is not None and existing["userHash"] == current.value
            try:
                self._erasures.start(record, replacing=replacing and same_key)
            except ErasureExistsError:
                continue
            self._mark(user_id)
            return erasure_of(user_id, record)
        raise ConcurrencyError("The erasure request collided with another; retry it.")
