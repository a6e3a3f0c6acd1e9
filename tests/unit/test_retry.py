"""The one retry policy (lms.retry.Retry): attempts, full-jitter backoff, the errors it retries and
a time budget, on an injected clock: nothing here sleeps."""

import pytest

from lms.retry import Retry


class FakeTime:
    """A clock that only moves when slept on, or when an attempt says it took time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def policy(time: FakeTime, *, attempts: int = 5, budget: float = 100.0, jitter: float = 1.0) -> Retry:
    """`jitter`: the fraction of the ceiling that the injected uniform draw returns."""
    return Retry(
        attempts=attempts,
        base=0.1,
        cap=0.5,
        budget=budget,
        sleep=time.sleep,
        uniform=lambda low, high: low + (high - low) * jitter,
        clock=lambda: time.now,
    )


def test_waits_grow_exponentially_up_to_the_cap_and_none_comes_before_the_first_try() -> None:
    time = FakeTime()

    tries = list(policy(time).tries())

    assert tries == [0, 1, 2, 3, 4]
    assert time.waits == [0.1, 0.2, 0.4, 0.5]


def test_each_wait_is_drawn_between_zero_and_its_ceiling() -> None:
    time = FakeTime()
    ceilings: list[tuple[float, float]] = []
    retry = Retry(
        attempts=4,
        base=0.1,
        cap=10,
        budget=100,
        sleep=time.sleep,
        uniform=lambda low, high: ceilings.append((low, high)) or 0.0,
        clock=lambda: time.now,
    )

    list(retry.tries())

    assert ceilings == [(0, 0.1), (0, 0.2), (0, 0.4)]
    assert time.waits == [0.0, 0.0, 0.0]


def test_no_try_starts_past_the_budget() -> None:
    """Given a budget of 1 s and tries that take 0.3 s each, no try starts after 1 s: the caller's
    timeout needs room for the budget and one try."""
    time = FakeTime()
    starts = []
    for _ in policy(time, attempts=10, budget=1.0).tries():
        starts.append(round(time.now, 2))
        time.now += 0.3

    assert starts == [0.0, 0.4, 0.9]  # waits 0.1, 0.2; the next (0.4) would start at 1.6


def test_call_retries_the_named_errors_and_returns_the_first_success() -> None:
    time = FakeTime()
    outcomes: list[Exception | str] = [KeyError("busy"), KeyError("busy"), "done"]

    def action() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert policy(time).call(action, on=(KeyError,)) == "done"
    assert len(time.waits) == 2


def test_call_raises_the_last_error_when_attempts_run_out_and_never_retries_others() -> None:
    time = FakeTime()
    calls: list[int] = []

    def always(error: Exception) -> None:
        calls.append(1)
        raise error

    with pytest.raises(KeyError):
        policy(time, attempts=3).call(lambda: always(KeyError("busy")), on=(KeyError,))
    assert len(calls) == 3
    with pytest.raises(ValueError, match="bad"):
        policy(time).call(lambda: always(ValueError("bad")), on=(KeyError,))
    assert len(calls) == 4


def test_the_first_try_runs_even_with_no_budget_left() -> None:
    time = FakeTime()

    assert list(policy(time, budget=0.0).tries()) == [0]
