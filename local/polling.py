"""Wait for a condition with a deadline: the only way the local runtime and its tests synchronise."""

import time
from collections.abc import Callable


def poll_until[T](
    fn: Callable[[], T],
    predicate: Callable[[T], bool] = bool,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `fn` until `predicate(result)` holds and return that result; raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if predicate(result):
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g}s (last value: {result!r})")
        time.sleep(interval)
