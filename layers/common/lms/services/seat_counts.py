"""Seat counts: a capacity given to a course that had none (docs/architecture.md, "Seats").

An uncapped course takes enrollments without writing its head, so no item holds the seats taken.
Given a capacity, its head gets a new seat counter at 0, with an epoch, and a count to make: no seat
is taken until the count is done (409 `/seats-being-counted`). The count may start once no
enrollment that read the head before the capacity can still commit: every function that takes a
seat times out within 10 s, and an eventually consistent read is a second or so behind, so it starts
START_DELAY after the capacity was set, at the scheduled run of the minute after that. It reads the
course's enrollment index shard by shard and counts each seat held that the counter does not count
yet (`EnrollmentRepository.count_seats`), then lets seats be taken again."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lms.clock import Clock, utc_now
from lms.repositories.enrollments import EnrollmentRepository

# Longer than any seat-taking function's timeout (10 s, tests/unit/test_template.py) plus the lag of
# an eventually consistent read of the head.
START_DELAY = timedelta(seconds=30)
# A run stops starting steps with this much of its 60 s left.
RESERVE_MS = 5_000


def seat_count_due(now: str) -> str:
    """When the count of a capacity set at `now` may start (clock.utc_now's form)."""
    due = datetime.fromisoformat(now) + START_DELAY
    return due.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SeatCountRun:
    """What one run did: courses whose count it finished, and steps (pages) it counted."""

    finished: int
    steps: int


class SeatCountService:
    def __init__(self, enrollments: EnrollmentRepository, *, clock: Clock = utc_now) -> None:
        self._enrollments = enrollments
        self._now = clock

    def run(self, time_left_ms: Callable[[], int]) -> SeatCountRun:
        """Count the seats of every course whose count is due, step after step while time is left;
        a count not finished goes on at the next run, from its cursor on the head."""
        finished = steps = 0
        for course_id in self._enrollments.due_seat_counts(self._now()):
            while time_left_ms() >= RESERVE_MS:
                if self._enrollments.count_seats(course_id):
                    finished += 1
                    break
                steps += 1
        return SeatCountRun(finished, steps)
