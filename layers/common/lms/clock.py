"""Time and identifiers, in one place so tests and services agree on their formats."""

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds and a Z suffix, e.g. 2026-11-26T10:15:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    """A 26-character, time-ordered, URL-safe id (ULID layout, lower-case Crockford base32)."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


# What services take, so that tests hand them a fixed or stepping clock and known ids.
Clock = Callable[[], str]
IdGenerator = Callable[[], str]
