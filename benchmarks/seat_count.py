"""Counting the seats of a course given a capacity after it took enrollments (docs/architecture.md,
"Seats"): 5,000 enrollments (every tenth DROPPED) seeded directly, the capacity given as
`PATCH /courses/{courseId}` gives it (its count due at once here instead of START_DELAY later), then
the scheduled run's seat count, in this process against DynamoDB Local with its units metered
(benchmarks.capacity): steps, DynamoDB calls, RCU and WCU, and seconds.

`python -m benchmarks.seat_count units` is the in-process half (run.py starts it, like erasure's).
"""

import json
import os
import sys
import time
import uuid
from typing import Any

ENROLLMENTS = 5_000
DROPPED_EVERY = 10


def seed(course_id: str) -> int:
    """An uncapped course's head and its enrollments, as the API stores them (`writer` summarizer:
    nothing wakes for them); the number that hold a seat."""
    from lms import container, keys
    from lms.models.enrollments import Enrollment, EnrollmentStatus
    from lms.repositories.enrollments import EnrollmentRepository

    table = container.table()
    at = "2026-11-26T10:00:00.000Z"
    head: dict[str, Any] = {
        **keys.course(course_id),
        "entity": "COURSE",
        "id": course_id,
        "title": "Bench",
        "instructorIds": [],
    }
    head |= {"lessonCount": 0, "requiredLessonCount": 0, "createdAt": at, "updatedAt": at, "outlineVersion": 1}
    repository = EnrollmentRepository(table)
    items = [head]
    held = 0
    for n in range(ENROLLMENTS):
        dropped = n % DROPPED_EVERY == 0
        held += not dropped
        enrollment = Enrollment(
            id=f"{course_id}e{n}",
            user_id=f"{course_id}u{n}",
            course_id=course_id,
            status=EnrollmentStatus.DROPPED if dropped else EnrollmentStatus.ACTIVE,
            enrolled_at=at,
            updated_at=at,
            enrolled_by=f"{course_id}u{n}",
            version=1,
        )
        items.append(repository._item(enrollment, 1) | {"writer": "summarizer"})
    table.put_all(items, parallel=8)
    return held


def _units() -> dict[str, Any]:
    from benchmarks.scale_inprocess import METER, measure, metered
    from lms import container
    from lms.clock import new_id, utc_now
    from lms.repositories.courses import CourseRepository, SeatCountStart
    from lms.services.seat_counts import SeatCountService

    course_id = f"benchseats{uuid.uuid4().hex[:8]}"
    held = seed(course_id)
    table = container.table()
    now = utc_now()
    start = SeatCountStart(new_id(), now)
    patch_rcu, patch_wcu = measure(
        lambda: CourseRepository(table).update_settings(
            course_id, {"capacity": ENROLLMENTS}, now, instructor=None, seat_count=start
        )
    )
    counting = container.seat_count_service()
    assert isinstance(counting, SeatCountService)
    METER.reset()
    started = time.perf_counter()
    with metered():
        while not counting.run(lambda: 60_000).finished:  # a run's time guard as Lambda's, never reached here
            pass
    seconds = time.perf_counter() - started
    rcu, wcu, calls = METER.rcu, METER.wcu, dict(METER.calls)
    taken = int((table.get({"pk": f"COURSE#{course_id}", "sk": "COURSE"}) or {}).get("seatsTaken", -1))
    assert taken == held, f"counted {taken} seats, {held} held"
    return {
        "seat_count_enrollments": ENROLLMENTS,
        "seat_count_seats_held": held,
        "seat_count_exact": taken == held,
        "seat_count_rcu": round(rcu, 1),
        "seat_count_wcu": round(wcu, 1),
        "seat_count_wcu_per_seat": round(wcu / held, 2),
        "seat_count_calls": calls,
        "seat_count_seconds_inprocess": round(seconds, 1),
        "seat_count_patch_rcu": round(patch_rcu, 1),
        "seat_count_patch_wcu": round(patch_wcu, 1),
    }


def run() -> dict[str, Any]:
    from benchmarks import scale

    # On a DynamoDB Local of its own: a local runtime's scheduled function would count this course too.
    with scale.own_dynamodb() as endpoint:
        figures = scale.inprocess("units", endpoint, module="benchmarks.seat_count")
    calls = ", ".join(f"{name} x{count}" for name, count in sorted(figures["seat_count_calls"].items()))
    held = figures["seat_count_seats_held"]
    print(f"\nCounting the seats of a course given a capacity: {ENROLLMENTS:,} enrollments, {held:,} holding a seat")
    print(
        f"  the count: {figures['seat_count_rcu']:,.0f} RCU, {figures['seat_count_wcu']:,.0f} WCU "
        f"({figures['seat_count_wcu_per_seat']} WCU per seat counted), {calls}; "
        f"{figures['seat_count_seconds_inprocess']} s in-process on DynamoDB Local; "
        f"exact: {figures['seat_count_exact']}"
    )
    print(f"  the PATCH that starts it: {figures['seat_count_patch_rcu']} RCU, {figures['seat_count_patch_wcu']} WCU")
    scale.update_results(figures)
    return figures


if __name__ == "__main__":
    if sys.argv[1:] == ["units"]:
        result = _units()
        with open(os.environ["BENCH_RESULT"], "w", encoding="utf-8") as handle:
            json.dump(result, handle)
