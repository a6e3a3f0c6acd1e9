"""The one retry policy of the code: a number of attempts, exponential backoff with full jitter
between them, and a time budget within which every try starts, so that a retry never outlives the
function that runs it. Each use states its policy, and why it fits, next to it.

Two shapes over one loop: `call` retries a function on the errors it names; `tries()` is the
loop itself, for retries that carry state from one attempt to the next (what is still pending).
No AWS import: services use it as the table gateway does."""

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Retry:
    """`attempts` tries at most; before try n (from 1) a wait drawn uniformly from 0 to
    min(`cap`, `base` x 2^(n-1)) seconds (full jitter: writers that collided spread out instead of
    colliding again); no try starts later than `budget` seconds after the first, so a caller's
    timeout must hold the budget and one try. `sleep`, `uniform` and `clock` are injected by tests."""

    attempts: int
    base: float
    cap: float
    budget: float
    sleep: Callable[[float], None] = time.sleep
    uniform: Callable[[float, float], float] = random.uniform
    clock: Callable[[], float] = time.monotonic

    def tries(self) -> Iterator[int]:
        """Yields the number of each try (0, 1, ...), waiting before every one but the first; ends
        when attempts or budget run out, so the code after the loop handles exhaustion."""
        deadline = self.clock() + self.budget
        for attempt in range(self.attempts):
            if attempt:
                wait = self.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))
                if self.clock() + wait > deadline:
                    return
                self.sleep(wait)
            yield attempt

    def call[R](self, action: Callable[[], R], *, on: tuple[type[Exception], ...]) -> R:
        """`action()`, tried again on the errors `on` names; the last of them is raised when attempts
        or budget run out."""
        last: Exception | None = None
        for _ in self.tries():
            try:
                return action()
            except on as error:
                last = error
        assert last is not None  # the first attempt always runs
        raise last
