"""The page types every list call shares, from the handler down to the table: what a call asks for
and what one page holds. How a client carries its place between pages (a signed cursor) is an HTTP
concern: see lms.cursors."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a list call asks for: a page size and where to start (already decoded)."""

    limit: int
    start_key: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Page[T]:
    items: list[T]
    last_key: dict[str, Any] | None
    scanned: int = 0  # items DynamoDB read for this page before any filter: what the page cost
