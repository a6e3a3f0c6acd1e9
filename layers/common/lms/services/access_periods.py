"""Access periods that end by themselves: the scheduled run that expires every ACTIVE enrollment whose
`accessEndsAt` has passed (`lms.services.enrollments.expire`, written as one conditional update), read
from the sparse index of pending access ends by the minute they end (docs/architecture.md, "Access
periods"). The learner's writes are refused from the access end on by the write path itself; this
run only moves the status, within a minute, so that events and aggregates follow."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from lms import keys
from lms.clock import Clock, utc_now
from lms.pagination import PageRequest
from lms.repositories.courses import CourseRepository
from lms.repositories.enrollments import EnrollmentRepository, PendingAccessEnd, SeatBusyError
from lms.retry import Retry

# Minutes read again on every run, however far the checkpoint is: the index is eventually
# consistent, so an entry written in the last seconds of a minute may appear after a run read it.
GRACE_MINUTES = 2
# Without a checkpoint (the first run of a stack), how far back the run looks.
FIRST_LOOK_BACK_MINUTES = 10
# Bounded work per run, whatever ends at once; what is left waits for the next minute's run, which
# starts at the checkpoint (never moved past an unfinished minute).
MINUTES_PER_RUN = 180
EXPIRIES_PER_SHARD = 2_500  # per run: 40,000 in all (the time guard below stops a slower run sooner)
PAGE = 100
# A run stops starting pages with this much of its 60 s left.
RESERVE_MS = 5_000
# The expiries of one capped course all free a seat on its head, in transactions that may meet there.
SEAT_RETRY = Retry(attempts=8, base=0.01, cap=0.2, budget=2.0)
_shards = ThreadPoolExecutor(max_workers=keys.ACCESS_SHARDS, thread_name_prefix="access-ends")


@dataclass(frozen=True, slots=True)
class ExpiryRun:
    """What one run did: enrollments expired, index entries whose condition no longer held (already
    expired, extended or completed meanwhile), minutes read, and whether it caught up with now."""

    expired: int
    skipped: int
    minutes: int
    caught_up: bool


def _minute(timestamp: str, minus: int = 0) -> str:
    moment = datetime.fromisoformat(timestamp) - timedelta(minutes=minus)
    return keys.minute_of(moment.isoformat())


def _next(minute: str) -> str:
    return keys.minute_of((datetime.fromisoformat(minute) + timedelta(minutes=1)).isoformat())


def minutes_to_read(checkpoint: str | None, now: str) -> list[str]:
    """The minutes a run at `now` reads: from its checkpoint, or the grace period when that is later
    (or the first look-back when there is none), through the current minute; at most MINUTES_PER_RUN."""
    start = min(checkpoint or _minute(now, FIRST_LOOK_BACK_MINUTES), _minute(now, GRACE_MINUTES))
    minutes: list[str] = []
    minute, last = start, _minute(now)
    while minute <= last and len(minutes) < MINUTES_PER_RUN:
        minutes.append(minute)
        minute = _next(minute)
    return minutes


class AccessExpiryService:
    def __init__(self, enrollments: EnrollmentRepository, courses: CourseRepository, *, clock: Clock = utc_now) -> None:
        self._enrollments = enrollments
        self._courses = courses
        self._now = clock

    def run(self, time_left_ms: Callable[[], int]) -> ExpiryRun:
        """Expire what is due, minute after minute from the checkpoint, the shards of a minute in
        parallel; then move the checkpoint to the first minute not finished (never past the grace
        period). Every write is conditional, so overlapping or repeated runs are harmless."""
        now = self._now()
        minutes = minutes_to_read(self._enrollments.access_checkpoint(), now)
        epochs: dict[str, str | None] = {}  # per course, for this run
        expired = skipped = 0
        unfinished: str | None = None
        for minute in minutes:
            results = list(
                _shards.map(
                    lambda partition: self._expire_partition(partition, now, epochs, time_left_ms),
                    keys.access_end_partitions(minute),
                )
            )
            expired += sum(done for done, _, _ in results)
            skipped += sum(refused for _, refused, _ in results)
            if not all(finished for _, _, finished in results):
                unfinished = minute
                break
        read = minutes.index(unfinished) + 1 if unfinished else len(minutes)
        caught_up = unfinished is None and (not minutes or minutes[-1] == _minute(now))
        if unfinished is None and minutes:
            unfinished = _next(minutes[-1])
        if unfinished is not None:
            self._enrollments.advance_access_checkpoint(min(unfinished, _minute(now, GRACE_MINUTES)))
        return ExpiryRun(expired, skipped, read, caught_up)

    def _expire_partition(
        self, partition: str, now: str, epochs: dict[str, str | None], time_left_ms: Callable[[], int]
    ) -> tuple[int, int, bool]:
        """(expired, skipped, finished) for one index partition of one minute."""
        expired = skipped = 0
        start: dict[str, object] | None = None
        while True:
            if expired + skipped >= EXPIRIES_PER_SHARD or time_left_ms() < RESERVE_MS:
                return expired, skipped, False
            page = self._enrollments.pending_access_ends(partition, now, PageRequest(PAGE, start))
            for entry in page.items:
                epoch = self._seat_epoch(entry, epochs)
                try:
                    done = SEAT_RETRY.call(
                        partial(self._enrollments.expire, entry, now, epoch=epoch), on=(SeatBusyError,)
                    )
                except SeatBusyError:
                    return expired, skipped, False  # left for the next run, which starts at this minute
                expired, skipped = expired + done, skipped + (not done)
            if page.last_key is None:
                return expired, skipped, True
            start = page.last_key

    def _seat_epoch(self, entry: PendingAccessEnd, epochs: dict[str, str | None]) -> str | None:
        """The epoch of the course's seat counter, None when it counts no seats (its head, read once
        per course and run). A deleted course counts none."""
        if entry.course_id not in epochs:
            head = self._courses.get_head(entry.course_id)
            epochs[entry.course_id] = head.seat_epoch if head is not None else None
        return epochs[entry.course_id]
