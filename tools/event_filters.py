"""Lambda event filtering: the EventBridge-pattern subset the template uses, as Lambda (and the
local emulator, and the redrive tool, which replays what Lambda would have delivered) applies it.

Supported: nested objects, lists of exact values, `prefix`, `anything-but` (a value, a list, or
`{"prefix": ...}`) and `exists`. Anything else is rejected when the pattern is loaded, so a template
using more than this fails loudly instead of silently matching differently than Lambda would.
"""

import json
from collections.abc import Sequence
from typing import Any

from tools.template import Stack, expand

_OPERATORS = frozenset({"prefix", "anything-but", "exists"})


def load_pattern(text: str) -> dict[str, Any]:
    pattern = json.loads(text)
    if not isinstance(pattern, dict):
        raise ValueError(f"a filter pattern must be a JSON object: {text}")
    _validate(pattern)
    return pattern


def _validate(pattern: dict[str, Any]) -> None:
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            _validate(expected)
        elif not isinstance(expected, list):
            raise ValueError(f"filter pattern key {key!r}: expected an object or a list of rules")
        for rule in expected if isinstance(expected, list) else ():
            if isinstance(rule, dict) and (len(rule) != 1 or next(iter(rule)) not in _OPERATORS):
                raise ValueError(f"filter rule {rule} is not emulated locally (only {sorted(_OPERATORS)})")


def matches(pattern: dict[str, Any], data: Any) -> bool:
    """Whether `data` (a record, as JSON) matches every field of `pattern`."""
    for key, expected in pattern.items():
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(expected, dict):
            if not (present and matches(expected, value)):
                return False
        elif not _any_rule(expected, present, value):
            return False
    return True


def _any_rule(rules: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]  # a rule matching any element matches
    return any(_rule(rule, present, item) for rule in rules for item in values)


def _rule(rule: Any, present: bool, value: Any) -> bool:
    if not isinstance(rule, dict):
        return present and _equal(value, rule)
    (operator, argument), *_ = rule.items()
    if operator == "exists":
        return present == bool(argument) and not isinstance(value, dict)
    if not present:
        return False  # only `exists: false` matches a missing field
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if isinstance(argument, dict):  # anything-but: {"prefix": ...}
        return not (isinstance(value, str) and value.startswith(argument["prefix"]))
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_equal(value, item) for item in excluded)


def _equal(value: Any, expected: Any) -> bool:
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(expected, numbers) and not isinstance(value, bool):
        return float(value) == float(expected)
    return bool(value == expected)


def passes(patterns: Sequence[dict[str, Any]], record: Any) -> bool:
    """Whether an event source with these filter patterns delivers the record (no filter: all pass)."""
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def filter_patterns(event_properties: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The patterns of an event source's FilterCriteria (its `Properties` in the template)."""
    return tuple(load_pattern(f["Pattern"]) for f in event_properties.get("FilterCriteria", {}).get("Filters", []))


def stream_filters(function: str, stack: Stack | None = None) -> tuple[dict[str, Any], ...]:
    """The FilterCriteria of a function's DynamoDB stream event (the function by its logical id in
    template.yaml): the one reading of them that the local poller, the redrive tool and the tests
    share. Empty when the function has no stream event."""
    resource = (stack or expand()).serverless.get(function, {})
    for event in resource.get("Properties", {}).get("Events", {}).values():
        if event["Type"] == "DynamoDB":
            return filter_patterns(event["Properties"])
    return ()
