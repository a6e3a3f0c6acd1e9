"""Fan-out segments: when a course's outline changes, one item per page of its enrolled learners, each
in its own partition, whose stream records reach the summarizer in parallel (ParallelizationFactor).
A segment item is written again to continue in the next invocation, and deleted when done."""

from typing import Any

from lms import keys
from lms.keys import Entity, Writer
from lms.repositories.dynamo import Item, Table


class FanoutRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def schedule_segments(self, course_id: str, starts: list[dict[str, Any]], cause: str, now: str) -> None:
        """Segment items 1, 2, ... one per start position, each running until the next one's start
        (the last to the end of the course's learners)."""
        ends: list[dict[str, Any] | None] = [*starts[1:], None]
        self._table.put_all(
            [
                self._segment_item(course_id, n, start, end, cause, now)
                for n, (start, end) in enumerate(zip(starts, ends, strict=True), 1)
            ]
        )

    def continue_segment(
        self,
        course_id: str,
        segment: int,
        cursor: dict[str, Any],
        until: dict[str, Any] | None,
        cause: str,
        now: str,
    ) -> None:
        """Leave the rest of a segment to the next invocation (the item's new stream record)."""
        self._table.put(self._segment_item(course_id, segment, cursor, until, cause, now))

    def finish_segment(self, course_id: str, segment: int) -> None:
        self._table.delete(keys.course_fanout_segment(course_id, segment))

    @staticmethod
    def _segment_item(
        course_id: str,
        segment: int,
        cursor: dict[str, Any] | None,
        until: dict[str, Any] | None,
        cause: str,
        now: str,
    ) -> Item:
        return {
            **keys.course_fanout_segment(course_id, segment),
            "entity": Entity.COURSE_RECOMPUTE,
            "writer": Writer.SUMMARIZER,
            "courseId": course_id,
            "segment": segment,
            "cursor": cursor,
            "until": until,
            "cause": cause,
            "updatedAt": now,
        }
