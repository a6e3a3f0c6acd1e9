"""Consumed capacity in AWS's accounting, measured on DynamoDB Local.

Every DynamoDB call made through a botocore session gets ReturnConsumedCapacity=INDEXES; the figures
DynamoDB Local returns are then brought to what AWS charges where they differ (checked on DynamoDB
Local 2.x, see the README "Performance and scale"):
- BatchGetItem: Local charges only the items it found; AWS charges every requested key (a key not
  found costs like an item of up to 4 KB): + 1 RCU (0.5 eventually consistent) per key not returned.
- GetItem / Query: AWS charges at least 1 RCU (0.5 eventually consistent) even when nothing is found;
  Local reports 0 for an empty Query.
- TransactWriteItems: Local charges 2 WCU per KB per Put/Update/Delete but nothing for a
  ConditionCheck, and omits the global secondary index: + 2 WCU per ConditionCheck, + 1 WCU for each
  written item that carries the index's key (the index write is a standard write).
Items here are all below 1 KB except summaries, whose size Local measures itself.
"""

import math
from collections import Counter
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


@dataclass
class CapacityMeter:
    """Sums read and write units (AWS accounting) of every call while `active`."""

    active: bool = False
    rcu: float = 0.0
    wcu: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.rcu = self.wcu = 0.0
        self.calls.clear()

    def add_parameter(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in _SUPPORTED:
            params["ReturnConsumedCapacity"] = "INDEXES"
            context["metered_params"] = params

    def record(self, http_response: Any, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if not self.active or model.name not in _SUPPORTED:
            return
        operation, params = model.name, kwargs.get("context", {}).get("metered_params", {})
        self.calls[operation] += 1
        units = _units(parsed.get("ConsumedCapacity"))
        if operation in _READS:
            self.rcu += units + self._read_correction(operation, params, parsed, units)
        else:
            self.wcu += units + self._write_correction(operation, params)

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

    @staticmethod
    def _write_correction(operation: str, params: dict[str, Any]) -> float:
        if operation != "TransactWriteItems":
            return 0.0
        correction = 0.0
        for action in params.get("TransactItems", []):
            ((kind, body),) = action.items()
            if kind == "ConditionCheck":
                correction += 2
            elif kind == "Put" and _INDEX_KEY in body["Item"]:
                correction += math.ceil(_size(body["Item"]) / 1024)
            elif kind == "Update" and body["Key"]["sk"]["S"].startswith(_INDEXED_SORT_KEYS):
                correction += 1
        return correction


def _size(item: dict[str, Any]) -> int:
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
