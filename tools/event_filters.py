"""Event patterns, as Lambda's FilterCriteria and EventBridge's rules apply them (for the local
stream poller and event bus, and the redrive tool, which replays what Lambda would have delivered):
moto's matcher, which a table-driven unit test (tests/unit/test_event_patterns.py) holds to AWS's
semantics for every pattern template.yaml uses.
"""

from collections.abc import Sequence
from typing import Any

from moto.events.models import EventPattern as EventPattern  # re-exported: the pattern type

from tools.template import Stack, expand


def load_pattern(text: str) -> EventPattern:
    """A pattern, validated as EventBridge validates it (an object whose leaves are arrays)."""
    return EventPattern.load(text)


def passes(patterns: Sequence[EventPattern], record: Any) -> bool:
    """Whether an event source with these filter patterns delivers the record (no filter: all pass)."""
    return not patterns or any(pattern.matches_event(record) for pattern in patterns)


def filter_patterns(event_properties: dict[str, Any]) -> tuple[EventPattern, ...]:
    """The patterns of an event source's FilterCriteria (its `Properties` in the template)."""
    return tuple(load_pattern(f["Pattern"]) for f in event_properties.get("FilterCriteria", {}).get("Filters", []))


def stream_filters(function: str, stack: Stack | None = None) -> tuple[EventPattern, ...]:
    """The FilterCriteria of a function's DynamoDB stream event (the function by its logical id in
    template.yaml): the one reading of them that the local poller, the redrive tool and the tests
    share. Empty when the function has no stream event."""
    resource = (stack or expand()).serverless.get(function, {})
    for event in resource.get("Properties", {}).get("Events", {}).values():
        if event["Type"] == "DynamoDB":
            return filter_patterns(event["Properties"])
    return ()
