"""Consumed capacity in AWS's accounting, measured on DynamoDB Local.

Every DynamoDB call made through a botocore session gets ReturnConsumedCapacity=INDEXES; the figures
DynamoDB Local returns are then brought to what AWS charges where they differ (checked on DynamoDB
Local 2.x, see docs/performance.md):
- BatchGetItem: Local charges only the items it found; AWS charges every requested key (a key not
  found costs like an item of up to 4 KB): + 1 RCU (0.5 eventually consistent) per key not returned.
- GetItem / Query: AWS charges at least 1 RCU (0.5 eventually consistent) even when nothing is found;
  Local reports 0 for an empty Query.
- TransactWriteItems: Local's figure is not used (DynamoDB Local 2026-01-16 reported 6 WCU both for
  a transaction of 3 writes and for one of 49); each part is charged by AWS's rule from its
  item's size: 2 WCU per KB per Put, Update or Delete, 2 per ConditionCheck, and for an item that
  carries the index's key 1 WCU per KB more (the index write is a standard write). An Update's or
  Delete's item is taken as under 1 KB: here those are enrollments, aggregate shards and the course
  head (benchmarks.per_item checks their size).

Local reports a call's units per table and index, not per item: `partitions` attributes each call's
units (as corrected above) to the partition keys it touched, table or `gsi1`, since AWS's limits
(3,000 RCU/s, 1,000 WCU/s) hold per partition. A GetItem, Query or single write goes to its key; a
BatchGetItem to each key by the size of what it returned (a missing key as the minimum); each part of
a transaction, and each index write, to its own key.
"""

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

_READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
_SUPPORTED = _READS | {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
_INDEX_KEY = "gsi1pk"
# Items whose sort key begins so carry gsi1 keys (progress, enrollments): their updates write the index too.
_INDEXED_SORT_KEYS = ("PROGRESS#", "ENROLLMENT#")


def _units(consumed: Any) -> float:
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    return float(sum(entry.get("CapacityUnits", 0.0) for entry in entries))


def _s(value: dict[str, Any]) -> str:
    return str(next(iter(value.values())))


@dataclass
class PartitionUnits:
    rcu: float = 0.0
    wcu: float = 0.0


@dataclass
class CapacityMeter:
    """Sums read and write units (AWS accounting) of every call while `active`, in all and per
    partition key (`partitions`; an index partition is named `gsi1:<key>`), and the items read."""

    active: bool = False
    rcu: float = 0.0
    wcu: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    partitions: defaultdict[str, PartitionUnits] = field(default_factory=lambda: defaultdict(PartitionUnits))
    items_read: set[tuple[str, str]] = field(default_factory=set)
    # (pk, sk) -> gsi1pk of every indexed item written through this session: an Update's index write
    # goes to the partition of the item's index key, which the request does not carry.
    _index_keys: dict[tuple[str, str], str] = field(default_factory=dict)

    def reset(self) -> None:
        self.rcu = self.wcu = 0.0
        self.calls.clear()
        self.partitions.clear()
        self.items_read.clear()

    def add_parameter(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in _SUPPORTED:
            params["ReturnConsumedCapacity"] = "INDEXES"
            context["metered_params"] = params
        for item in _written_items(model.name, params):
            if _INDEX_KEY in item:
                self._index_keys[(_s(item["pk"]), _s(item["sk"]))] = _s(item[_INDEX_KEY])

    def record(self, http_response: Any, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if not self.active or model.name not in _SUPPORTED:
            return
        operation, params = model.name, kwargs.get("context", {}).get("metered_params", {})
        self.calls[operation] += 1
        units = _units(parsed.get("ConsumedCapacity"))
        if operation in _READS:
            total = units + self._read_correction(operation, params, parsed, units)
            self.rcu += total
            self._attribute_read(operation, params, parsed, total)
        elif operation == "TransactWriteItems":
            for partition, charged in self._transaction_parts(params):
                self.wcu += charged
                self.partitions[partition].wcu += charged
        else:
            self.wcu += units
            self._attribute_write(operation, params, parsed)

    @staticmethod
    def _read_correction(operation: str, params: dict[str, Any], parsed: dict[str, Any], units: float) -> float:
        if operation == "BatchGetItem":
            correction = 0.0
            for table, request in params.get("RequestItems", {}).items():
                per_key = 1.0 if request.get("ConsistentRead") else 0.5
                found = len(parsed.get("Responses", {}).get(table, []))
                unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
                correction += per_key * (len(request["Keys"]) - found - unprocessed)
            return correction
        minimum = 1.0 if params.get("ConsistentRead") else 0.5
        return max(0.0, minimum - units)

    def _attribute_read(self, operation: str, params: dict[str, Any], parsed: dict[str, Any], total: float) -> None:
        if operation == "GetItem":
            key = params["Key"]
            self.partitions[_s(key["pk"])].rcu += total
            self.items_read.add((_s(key["pk"]), _s(key["sk"])))
        elif operation == "Query":
            placeholder = _PARTITION_CONDITION.findall(params["KeyConditionExpression"])[0]
            prefix = f"{params['IndexName']}:" if "IndexName" in params else ""
            self.partitions[prefix + _s(params["ExpressionAttributeValues"][placeholder])].rcu += total
            self.items_read.update((_s(i["pk"]), _s(i["sk"])) for i in parsed.get("Items", []))
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                per_key = 1.0 if request.get("ConsistentRead") else 0.5
                found = {(_s(i["pk"]), _s(i["sk"])): i for i in parsed.get("Responses", {}).get(table, [])}
                for key in request["Keys"]:
                    pk, sk = _s(key["pk"]), _s(key["sk"])
                    item = found.get((pk, sk))
                    self.partitions[pk].rcu += per_key * (math.ceil(item_size(item) / 4096) if item else 1)
                    self.items_read.add((pk, sk))

    def _attribute_write(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "BatchWriteItem":
            for item in _written_items(operation, params):
                kb = math.ceil(item_size(item) / 1024)
                self.partitions[_s(item["pk"])].wcu += kb
                if _INDEX_KEY in item:
                    self.partitions[f"gsi1:{_s(item[_INDEX_KEY])}"].wcu += kb
            return
        key = params.get("Key") or {name: params["Item"][name] for name in ("pk", "sk")}
        pk, sk = _s(key["pk"]), _s(key["sk"])
        consumed = parsed.get("ConsumedCapacity") or {}
        self.partitions[pk].wcu += float(consumed.get("Table", {}).get("CapacityUnits", 0.0))
        for units in consumed.get("GlobalSecondaryIndexes", {}).values():
            self.partitions[f"gsi1:{self._index_keys.get((pk, sk), '?')}"].wcu += float(units["CapacityUnits"])

    def _transaction_parts(self, params: dict[str, Any]) -> list[tuple[str, float]]:
        """Each part of a transaction as (partition, WCU), by AWS's rule."""
        parts: list[tuple[str, float]] = []
        for action in params.get("TransactItems", []):
            ((kind, body),) = action.items()
            key = body.get("Key") or {name: body["Item"][name] for name in ("pk", "sk")}
            pk, sk = _s(key["pk"]), _s(key["sk"])
            kb = math.ceil(item_size(body["Item"]) / 1024) if kind == "Put" else 1
            parts.append((pk, 2 * kb))
            index_key = _s(body["Item"][_INDEX_KEY]) if kind == "Put" and _INDEX_KEY in body["Item"] else None
            if index_key is None and kind == "Update" and sk.startswith(_INDEXED_SORT_KEYS):
                index_key = self._index_keys.get((pk, sk), "?")
            if index_key is not None:
                parts.append((f"gsi1:{index_key}", kb))
        return parts


# The partition key's placeholder in a KeyConditionExpression: `pk = :pk`, `gsi1pk = :pk`.
_PARTITION_CONDITION = re.compile(r"\w+ = (:\w+)")


def _written_items(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "PutItem":
        return [params["Item"]]
    if operation == "BatchWriteItem":
        return [r["PutRequest"]["Item"] for rs in params["RequestItems"].values() for r in rs if "PutRequest" in r]
    if operation == "TransactWriteItems":
        return [a["Put"]["Item"] for a in params.get("TransactItems", []) if "Put" in a]
    return []


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (names + values), for the types this service stores."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return math.ceil(len(str(raw).lstrip("-").replace(".", "")) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    return len(str(raw))


def install(session: Any) -> CapacityMeter:
    meter = CapacityMeter()
    session.register("provide-client-params.dynamodb", meter.add_parameter)
    session.register("after-call.dynamodb", meter.record)
    return meter
