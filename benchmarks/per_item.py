"""Units per partition key, and the per-course ceilings they imply, measured with the handlers in this
process against DDB_ENDPOINT (the metered environment of benchmarks.scale_inprocess). Writes one JSON
object to the file named by BENCH_RESULT.

- Completions: LEARNERS learners of one course each complete a lesson (POST /progress, then the
  summarizer on its stream record), at batch size 1 and again at 100.
- Enrollments: LEARNERS learners enroll (POST /enrollments, then the summarizer on the enrollment's
  stream record), in a course without a capacity and in one with.
- A learner's own summary read; a rebuild after an outline edit, busy learner against a new one.

Every call's units are attributed to the partitions it touched (benchmarks.capacity). A per-course
ceiling is the smallest, over every partition a course's operations share (course head, lesson
references, aggregate shards, index shards, fan-out segments), of AWS's per-partition limit divided by
the busiest partition's units per operation. Learners' own partitions (`USER#`, id references) are
shared by no two learners and listed apart.

`python -m benchmarks.per_item`
"""

import json
import math
import os
from collections import Counter, defaultdict
from typing import Any

from benchmarks.capacity import item_size
from benchmarks.count_calls import event as api_event
from benchmarks.scale_inprocess import (
    CONTEXT,
    COURSES,
    METER,
    RECORD_PROGRESS,
    TABLE,
    enroll,
    make_course,
    measure,
    metered,
    new_id,
    progress_item,
    stored,
    stream_record,
    summarize,
)
from lms import keys
from lms.clock import utc_now
from lms.models.catalog import Course, Lesson
from lms.models.progress import Progress, ProgressStatus
from lms.repositories.dynamo import serialize
from local.loader import load_module

READ_LIMIT, WRITE_LIMIT = 3_000.0, 1_000.0  # per partition and second, AWS
# 7 learners per aggregate shard, so 14 per index shard: the shards evenly filled, as 100,000 learners
# nearly fill them (the busiest index shard then holds 1.03 x the mean). 224 >= 200 completions.
LEARNERS = 7 * keys.AGGREGATE_SHARDS
LESSONS = 20  # the course's completions spread over its lessons, learner n completing lesson n % 20
OTHER_COURSES, LESSONS_ELSEWHERE = 20, 10
_, CREATE_ENROLLMENT = load_module("functions/create_enrollment")
_, GET_SUMMARY = load_module("functions/get_progress_summary")

# The kinds of partition (by key shape, keys.py) a course's learners share.
PER_COURSE = (
    "course head partition",
    "lesson reference",
    "aggregate shard",
    "gsi1 progress shard",
    "gsi1 enrollments shard",
    "fan-out segment",
)


def category(partition: str) -> str:
    parts = partition.removeprefix("gsi1:").split("#")
    if parts[0] == "COURSE":
        if len(parts) == 2:
            return "course head partition"
        return {
            "AGGREGATE": "aggregate shard",
            "PROGRESS": "gsi1 progress shard",
            "ENROLLMENTS": "gsi1 enrollments shard",
            "FANOUT": "fan-out segment",
        }[parts[2]]
    return {
        "LESSON": "lesson reference",
        "USER": "learner partition",
        "PROGRESS": "progress reference",
        "ENROLLMENT": "enrollment reference",
    }[parts[0]]


def balanced_learners(prefix: str) -> list[str]:
    """LEARNERS ids, 7 in each aggregate shard (so 14 in each index shard), in name order."""
    per_shard = LEARNERS // keys.AGGREGATE_SHARDS
    chosen: Counter[int] = Counter()
    learners: list[str] = []
    n = 0
    while len(learners) < LEARNERS:
        user = f"{prefix}-{n:05d}"
        n += 1
        shard = keys.aggregate_shard(user)
        if chosen[shard] < per_shard:
            chosen[shard] += 1
            learners.append(user)
    return learners


def per_item(operations: int) -> tuple[dict[str, Any], float]:
    """The meter's partitions by kind: how many, units in all, the busiest one's units per operation
    and the rate it allows; and the smallest such rate among the partitions a course shares."""
    kinds: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for partition, units in METER.partitions.items():
        kinds[category(partition)].append((units.rcu, units.wcu))
    table: dict[str, Any] = {}
    ceiling = math.inf
    for kind, found in sorted(kinds.items()):
        busiest_rcu = max(rcu for rcu, _ in found) / operations
        busiest_wcu = max(wcu for _, wcu in found) / operations
        allows = min(
            READ_LIMIT / busiest_rcu if busiest_rcu else math.inf,
            WRITE_LIMIT / busiest_wcu if busiest_wcu else math.inf,
        )
        table[kind] = {
            "partitions": len(found),
            "rcu": round(sum(rcu for rcu, _ in found), 1),
            "wcu": round(sum(wcu for _, wcu in found), 1),
            "busiest_rcu_per_op": round(busiest_rcu, 4),
            "busiest_wcu_per_op": round(busiest_wcu, 4),
            "ceiling_per_s": round(allows) if allows != math.inf else None,
        }
        if kind in PER_COURSE:
            ceiling = min(ceiling, allows)
    return table, round(ceiling)


def ready_learners(course: Course, prefix: str) -> list[str]:
    """Learners enrolled with their summaries made (not metered)."""
    learners = balanced_learners(prefix)
    for user in learners:
        enroll(user, course.id)
    records = [stream_record(stored(keys.enrollment(user, course.id)), "INSERT") for user in learners]
    for start in range(0, len(records), 100):
        summarize(records[start : start + 100])
    return learners


def completions(batch_size: int) -> tuple[dict[str, Any], float, Course, list[str]]:
    course = make_course(LESSONS)
    lessons = [lesson.id for module in course.modules for lesson in module.lessons]
    learners = ready_learners(course, f"bench-item-{batch_size}-{new_id()[:6]}")
    METER.reset()
    pending: list[dict[str, Any]] = []
    for n, user in enumerate(learners):
        lesson = lessons[n % LESSONS]
        request = api_event("record_progress", user, {}, {"lessonId": lesson, "action": "complete"})
        with metered():
            RECORD_PROGRESS(request, CONTEXT)
        pending.append(stream_record(stored(keys.progress(user, course.id, lesson)), "INSERT", sequence=n + 1))
        if len(pending) == batch_size:
            with metered():
                summarize(pending)
            pending = []
    if pending:
        with metered():
            summarize(pending)
    table, ceiling = per_item(len(learners))
    return table, ceiling, course, learners


def enrollments(capacity: int | None) -> tuple[dict[str, Any], float]:
    course = make_course(LESSONS, capacity=capacity)
    METER.reset()
    learners = balanced_learners(f"bench-enrol-{new_id()[:6]}")
    for n, user in enumerate(learners):
        with metered():
            CREATE_ENROLLMENT(api_event("create_enrollment", user, {}, {"courseId": course.id}), CONTEXT)
        record = stream_record(stored(keys.enrollment(user, course.id)), "INSERT", sequence=n + 1)
        with metered():
            summarize([record])
    return per_item(len(learners))


def updated_items_max_bytes(course: Course, learners: list[str]) -> int:
    """The largest item a transaction updates rather than puts (the meter takes them as under 1 KB)."""
    updated = [keys.course(course.id), *keys.course_aggregate_shards(course.id)]
    updated += [keys.enrollment(user, course.id) for user in learners]
    return max(item_size(serialize(item)) for item in TABLE.batch_get(updated))


def summary_read_items(course: Course, learner: str) -> int:
    measure(lambda: GET_SUMMARY(api_event("get_progress_summary", learner, {"courseId": course.id}), CONTEXT))
    return len(METER.items_read)


def _records(user: str, course: Course, done: int) -> list[dict[str, Any]]:
    now = utc_now()
    lessons = [(module.id, lesson.id) for module in course.modules for lesson in module.lessons]
    return [
        progress_item(
            Progress(
                id=new_id(),
                user_id=user,
                course_id=course.id,
                module_id=module_id,
                lesson_id=lesson_id,
                status=ProgressStatus.COMPLETED,
                view_count=1,
                time_spent_seconds=60,
                first_viewed_at=now,
                last_viewed_at=now,
                completed_at=now,
                updated_at=now,
            ),
            1,
        )
        for module_id, lesson_id in lessons[:done]
    ]


def rebuild_units(learner: str, elsewhere: int) -> float:
    """Read units of the summarizer's recompute after a lesson is added to a course where `learner`
    completed half the lessons, having completed every lesson of `elsewhere` other courses."""
    course = make_course(LESSONS_ELSEWHERE)
    items = _records(learner, course, LESSONS_ELSEWHERE // 2)
    for _ in range(elsewhere):
        other = make_course(LESSONS_ELSEWHERE)
        enroll(learner, other.id)
        items += _records(learner, other, LESSONS_ELSEWHERE)
    enroll(learner, course.id)
    TABLE.put_all(items)
    summarize([stream_record(stored(keys.enrollment(learner, course.id)), "INSERT")])
    lesson = Lesson(id=new_id(), title="Added", position=0, required=True)
    COURSES.append_lesson(course.id, course.modules[0].id, lesson, utc_now())
    record = stream_record(stored(keys.lesson(course.id, lesson.id)), "INSERT")
    rcu, _ = measure(lambda: summarize([record]))
    return rcu


def main() -> None:
    figures: dict[str, Any] = {"per_item_learners": LEARNERS}
    batch_1, ceiling_1, course, learners = completions(1)
    batch_100, ceiling_100, _, _ = completions(100)
    uncapped, ceiling_uncapped = enrollments(None)
    capped, ceiling_capped = enrollments(10 * LEARNERS)
    busy = rebuild_units(f"bench-busy-{new_id()[:6]}", OTHER_COURSES)
    new = rebuild_units(f"bench-new-{new_id()[:6]}", 0)
    figures |= {
        "per_item_completions_batch_1": batch_1,
        "per_item_completions_batch_100": batch_100,
        "course_ceiling_completions_per_s": ceiling_1,
        "course_ceiling_completions_per_s_batch_100": ceiling_100,
        "per_item_enrollments_uncapped": uncapped,
        "per_item_enrollments_capped": capped,
        "course_ceiling_enrollments_per_s_uncapped": ceiling_uncapped,
        "course_ceiling_enrollments_per_s_capped": ceiling_capped,
        "per_item_updated_items_max_bytes": updated_items_max_bytes(course, learners),
        "summary_read_items": summary_read_items(course, learners[0]),
        "rebuild_rcu_busy": busy,
        "rebuild_rcu_new": new,
        "rebuild_rcu_ratio_busy_vs_new": round(busy / new, 2),
    }
    with open(os.environ["BENCH_RESULT"], "w", encoding="utf-8") as handle:
        json.dump(figures, handle)


if __name__ == "__main__":
    main()
