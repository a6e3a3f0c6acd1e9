"""Summaries at scale, measured with the handlers in this process against DDB_ENDPOINT (DynamoDB
Local): read/write units per completion by course size (and the rebuild-from-scratch baseline), and
a stream backlog in batches of 100 against batches of 1. Writes one JSON object to the file named by
BENCH_RESULT (stdout shows the progress).

`python -m benchmarks.scale_inprocess cost|backlog|enroll <args>`
"""

import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session

from benchmarks.capacity import CapacityMeter, install
from benchmarks.count_calls import event as api_event
from benchmarks.environment import use_local_dynamodb
from benchmarks.progress import progress_bar
from local.context import LambdaContext
from local.loader import LAYER_PATH, load_module

SIZES = (10, 100, 500)
LESSONS_PER_MODULE = 25
COMPLETIONS_PER_SIZE = 5
BACKLOG_LEARNERS = 100
BACKLOG_EVENTS_PER_LEARNER = 100
BACKLOG_ROUNDS = 10  # a round is 1,000 events: 10 per learner, whole batches of 100
BACKLOG_LESSONS = 20


def _environment() -> None:
    use_local_dynamodb(
        IDEMPOTENCY_TABLE_NAME="lms-idempotency-dev",
        POWERTOOLS_METRICS_NAMESPACE="LMS",
        POWERTOOLS_SERVICE_NAME="lms-enrollments",
    )
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))


_environment()
sys.stdout = sys.stderr  # the handlers' metrics (EMF lines) go to the function log, like on Lambda
SESSION = botocore.session.get_session()
METER: CapacityMeter = install(SESSION)
botocore.session.get_session = lambda env_vars=None: SESSION  # handlers build their clients from it

from lms import container, keys  # noqa: E402 - after the environment and the metered session
from lms.clock import utc_now  # noqa: E402
from lms.models.catalog import Course, Lesson, Module  # noqa: E402
from lms.models.enrollments import Enrollment, EnrollmentStatus  # noqa: E402
from lms.models.progress import Progress, ProgressStatus  # noqa: E402
from lms.repositories.courses import CourseRepository  # noqa: E402
from lms.repositories.dynamo import serialize  # noqa: E402
from lms.repositories.enrollments import EnrollmentRepository  # noqa: E402
from lms.repositories.progress import ProgressRepository  # noqa: E402
from lms.repositories.summaries import SummaryRepository  # noqa: E402

TABLE = container.table()
COURSES, ENROLLMENTS = CourseRepository(TABLE), EnrollmentRepository(TABLE)
PROGRESS, SUMMARIES = ProgressRepository(TABLE), SummaryRepository(TABLE)
CONTEXT = LambdaContext("summarize_progress", timeout_seconds=120)
_, RECORD_PROGRESS = load_module("functions/record_progress")
SUMMARIZER_MODULE, SUMMARIZE = load_module("functions/summarize_progress")


def new_id() -> str:
    return uuid.uuid4().hex[:26]


def make_course(
    lessons: int,
    instructor: str = "bench-instructor",
    *,
    lessons_per_module: int = LESSONS_PER_MODULE,
    capacity: int | None = None,
) -> Course:
    now = utc_now()
    modules = [
        Module(
            id=new_id(),
            title=f"Module {m}",
            position=m + 1,
            lessons=[
                Lesson(id=new_id(), title=f"Lesson {m}.{n}", position=n + 1, required=True)
                for n in range(min(lessons_per_module, lessons - m * lessons_per_module))
            ],
        )
        for m in range((lessons + lessons_per_module - 1) // lessons_per_module)
    ]
    course = Course(
        id=new_id(),
        title=f"{lessons} lessons",
        instructor_ids=[instructor],
        capacity=capacity,
        lesson_count=lessons,
        required_lesson_count=lessons,
        modules=modules,
        created_at=now,
        updated_at=now,
    )
    COURSES.create(course)
    return course


def enroll(user_id: str, course_id: str) -> Enrollment:
    now = utc_now()
    enrollment = Enrollment(
        id=new_id(),
        user_id=user_id,
        course_id=course_id,
        status=EnrollmentStatus.ACTIVE,
        enrolled_at=now,
        updated_at=now,
        enrolled_by=user_id,
        version=1,
    )
    ENROLLMENTS.create(enrollment, outline_version=1)
    return enrollment


def stream_record(item: dict[str, Any], name: str = "MODIFY", sequence: int = 1) -> dict[str, Any]:
    """A stream record for an item as it is stored now, in Lambda's shape."""
    image = serialize(item)
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": f"{sequence:021d}",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/lms-dev/stream/bench",
    }


def summarize(records: list[dict[str, Any]]) -> None:
    result = SUMMARIZE({"Records": records}, CONTEXT)
    if result["batchItemFailures"]:
        raise RuntimeError(f"summarizer failed {len(result['batchItemFailures'])} records")


def stored(key: dict[str, str]) -> dict[str, Any]:
    item = TABLE.get(key)
    assert item is not None, key
    return item


@contextmanager
def metered() -> Iterator[None]:
    """Count the calls made meanwhile (on top of what the meter holds)."""
    METER.active = True
    try:
        yield
    finally:
        METER.active = False


def measure(action: Callable[[], Any]) -> tuple[float, float]:
    METER.reset()
    with metered():
        action()
    return METER.rcu, METER.wcu


# ------------------------------------------------------------------------------ cost per completion
def completion_cost(lessons: int, lessons_per_module: int = LESSONS_PER_MODULE) -> dict[str, float]:
    """Average units of one completion (POST /progress and the summarizer's batch for it) over
    lessons spread through the course, with the summary and the outline cache already warm; and the
    reads the rebuild-from-scratch design made for the same completion."""
    course = make_course(lessons, lessons_per_module=lessons_per_module)
    learner = f"bench-cost-{new_id()}"
    enroll(learner, course.id)
    summarize([stream_record(stored(keys.enrollment(learner, course.id)), "INSERT")])
    lesson_ids = [lesson.id for module in course.modules for lesson in module.lessons]
    picks = [
        lesson_ids[round(i * (len(lesson_ids) - 1) / (COMPLETIONS_PER_SIZE - 1))] for i in range(COMPLETIONS_PER_SIZE)
    ]
    totals = {"rcu": 0.0, "wcu": 0.0, "naive_rcu": 0.0}
    for lesson_id in picks:
        body = {"lessonId": lesson_id, "action": "complete"}
        request = api_event("record_progress", learner, {}, body)
        api_rcu, api_wcu = measure(lambda: RECORD_PROGRESS(request, CONTEXT))  # noqa: B023 - called at once
        record = stream_record(stored(keys.progress(learner, course.id, lesson_id)), "INSERT")
        naive_rcu, _ = measure(lambda: rebuild_reads(learner, course.id))
        rcu, wcu = measure(lambda: summarize([record]))  # noqa: B023 - called at once
        totals["rcu"] += api_rcu + rcu
        totals["wcu"] += api_wcu + wcu
        totals["naive_rcu"] += api_rcu + naive_rcu
    return {name: round(value / len(picks), 2) for name, value in totals.items()}


def rebuild_reads(user_id: str, course_id: str) -> None:
    """The reads of the design this replaced: the whole outline, a key per lesson, two items."""
    course = COURSES.get_outline(course_id)
    assert course is not None
    ENROLLMENTS.get(user_id, course_id)
    TABLE.batch_get(
        [keys.progress(user_id, course_id, lesson.id) for module in course.modules for lesson in module.lessons]
    )
    SUMMARIES.get(user_id, course_id)


def cost() -> dict[str, Any]:
    rcu: dict[str, float] = {}
    wcu: dict[str, float] = {}
    naive: dict[str, float] = {}
    for size in progress_bar(SIZES, "completion cost by course size"):
        figures = completion_cost(size)
        rcu[str(size)], wcu[str(size)], naive[str(size)] = figures["rcu"], figures["wcu"], figures["naive_rcu"]
    # The largest outline in its most modules (100 of 5 lessons): the summary lists every module.
    wide = completion_cost(500, lessons_per_module=5)
    return {
        "completion_rcu": rcu,
        "completion_wcu": wcu,
        "completion_rcu_rebuild_baseline": naive,
        "completion_wcu_100_modules": wide["wcu"],
    }


# --------------------------------------------------------------------------------- stream backlog
def backlog_course() -> tuple[str, list[dict[str, Any]]]:
    """A course whose learners' summaries predate their progress: 100 learners, 20 lessons, the
    records already in their final state, and 10,000 stream records about them, learners interleaved."""
    course = make_course(BACKLOG_LESSONS)
    lessons = [(module.id, lesson.id) for module in course.modules for lesson in module.lessons]
    learners = [f"bench-backlog-{new_id()}" for _ in range(BACKLOG_LEARNERS)]
    for learner in learners:
        enroll(learner, course.id)
    enrollments = [stream_record(stored(keys.enrollment(u, course.id)), "INSERT") for u in learners]
    summarize(enrollments)
    now = utc_now()
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for learner in learners:
        for index, (module_id, lesson_id) in enumerate(lessons):
            done = index % 3 != 2
            progress = Progress(
                id=new_id(),
                user_id=learner,
                course_id=course.id,
                module_id=module_id,
                lesson_id=lesson_id,
                status=ProgressStatus.COMPLETED if done else ProgressStatus.IN_PROGRESS,
                view_count=BACKLOG_EVENTS_PER_LEARNER // BACKLOG_LESSONS,
                time_spent_seconds=60,
                first_viewed_at=now,
                last_viewed_at=now,
                completed_at=now if done else None,
                updated_at=now,
            )
            items[(learner, lesson_id)] = progress_item(progress, BACKLOG_EVENTS_PER_LEARNER // BACKLOG_LESSONS)
    TABLE.put_all(list(items.values()))
    records = [
        stream_record(items[(learner, lessons[event % BACKLOG_LESSONS][1])], sequence=event * BACKLOG_LEARNERS + n)
        for event in range(BACKLOG_EVENTS_PER_LEARNER)
        for n, learner in enumerate(learners)
    ]
    return course.id, records


def progress_item(progress: Progress, version: int) -> dict[str, Any]:
    """A lesson record as POST /progress stores it."""
    return {
        **keys.progress(progress.user_id, progress.course_id, progress.lesson_id),
        **keys.progress_index(progress.user_id, progress.course_id, progress.lesson_id),
        **progress.model_dump(by_alias=True, mode="json"),
        "entity": "PROGRESS",
        "writer": "api",
        "version": version,
    }


def drain(records: list[dict[str, Any]], batch_size: int) -> float:
    start = time.perf_counter()
    for begin in range(0, len(records), batch_size):
        summarize(records[begin : begin + batch_size])
    return time.perf_counter() - start


def backlog() -> dict[str, Any]:
    """Batches of 1 and of 100 drain equal backlogs in alternating rounds, so that a machine whose
    speed drifts (other work on it) slows both alike."""
    _, one_by_one = backlog_course()
    _, hundreds = backlog_course()
    size = len(hundreds) // BACKLOG_ROUNDS
    naive = batched = 0.0
    for n in progress_bar(range(BACKLOG_ROUNDS), "backlog, batches of 1 and 100 in turn"):
        naive += drain(one_by_one[n * size : (n + 1) * size], 1)
        batched += drain(hundreds[n * size : (n + 1) * size], 100)
    events = len(hundreds)
    return {
        "stream_backlog_events": events,
        "stream_events_per_s_batch_1": round(events / naive, 1),
        "stream_events_per_s_batch_100": round(events / batched, 1),
        "stream_speedup_vs_naive": round(naive / batched, 2),
    }


# ------------------------------------------------------------------------------ fan-out setup
def enroll_many(course_lessons: int, learners: int, instructor: str) -> dict[str, Any]:
    """A course taught by `instructor` with `learners` enrolled (their summaries come from the stream)."""
    course = make_course(course_lessons, instructor)
    users = [f"bench-fanout-{n:05d}-{new_id()[:6]}" for n in range(learners)]
    for user in progress_bar(users, f"enrolling {learners} learners"):
        enroll(user, course.id)
    return {"courseId": course.id, "moduleId": course.modules[0].id, "learners": users}


def main() -> None:
    command = sys.argv[1]
    if command == "cost":
        result = cost()
    elif command == "backlog":
        result = backlog()
    else:
        result = enroll_many(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    with open(os.environ["BENCH_RESULT"], "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
