"""Reading a course-wide `gsi1` list that is written in shards (see keys.INDEX_SHARDS) as one list.

The partitions are read one after another, in the order keys gives them (shards 0 to 15). A page's
position is the partition's index and DynamoDB's LastEvaluatedKey within it, `{"shard": n, "key":
{...}}`; the cursor codec signs it like any start key.
"""

from decimal import Decimal
from typing import Any

from lms import keys
from lms.errors import InvalidCursorError
from lms.pagination import Page, PageRequest
from lms.repositories.dynamo import READS_PER_PAGE, Item, Table, values


def _position(start_key: dict[str, Any] | None, partitions: int) -> tuple[int, dict[str, Any] | None]:
    if start_key is None:
        return 0, None
    shard, key = start_key.get("shard"), start_key.get("key")
    # An int from a cursor's JSON; a Decimal from a fan-out segment's stream image.
    if isinstance(shard, bool) or not isinstance(shard, int | Decimal) or shard not in range(partitions):
        raise InvalidCursorError
    if not (key is None or isinstance(key, dict)):
        raise InvalidCursorError
    return int(shard), key


def precedes(position: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether a list position (a page's last key) comes before another, in reading order:
    partition first, then the learner's index sort key."""
    return _order(position) < _order(other)


def _order(position: dict[str, Any]) -> tuple[int, str]:
    return int(position["shard"]), str((position.get("key") or {}).get("gsi1sk", ""))


def query_partitions(
    table: Table,
    page: PageRequest,
    partitions: list[str],
    *,
    sort_prefix: str | None = None,
    status: str | None = None,
    reads: int | None = READS_PER_PAGE,
) -> Page[Item]:
    """One page over `partitions` of `gsi1`, read in order. A request reads at most `reads` times
    the page size in items (None: whatever it takes to fill the page, for the summarizer's fan-out),
    as any bounded page does, so a filtered page may hold fewer items than asked for and still have
    a cursor. An empty shard costs one call and no page: a small course's list comes whole."""
    shard, start_key = _position(page.start_key, len(partitions))
    condition = "gsi1pk = :pk" + (" AND begins_with(gsi1sk, :prefix)" if sort_prefix is not None else "")
    budget = None if reads is None else reads * page.limit  # items the request may read
    calls = len(partitions) + (reads or 0)  # every partition once, and a few more within one
    items: list[Item] = []
    scanned = made = 0
    while shard < len(partitions) and len(items) < page.limit:
        room = page.limit - len(items)
        if budget is not None:
            if scanned >= budget or made >= calls:
                break
            room = min(room, budget - scanned)
        expression_values = values(pk=partitions[shard])
        if sort_prefix is not None:
            expression_values |= values(prefix=sort_prefix)
        result = table.query_page(
            PageRequest(room, start_key),
            index=keys.GSI1,
            key_condition=condition,
            expression_values=expression_values,
            status=status,
            reads=1,
        )
        made += 1
        scanned += result.scanned
        items += result.items
        start_key = result.last_key
        if start_key is None:
            shard += 1
    if shard >= len(partitions):
        return Page(items, None)
    return Page(items, {"shard": shard} | ({"key": start_key} if start_key else {}))
