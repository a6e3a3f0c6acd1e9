"""Summaries at scale (issue: a completion's cost independent of the course, no hot item per course,
parallel fan-out). Writes its keys into benchmarks/results.json and draws benchmarks/read_units.png.

Phases measured with the handlers in-process (benchmarks.scale_inprocess, on a DynamoDB Local of its
own with no stream poller, so nothing else writes meanwhile): units per completion, stream backlog.
Phases through the local runtime (gateway, stream poller with the template's ParallelizationFactor,
worker processes): fan-out of a lesson added to a 1,000-learner course, 40 learners completing at
once, the aggregate checked against the learners' summaries.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from local.config import LocalConfig
from local.dev import LocalApi
from local.dynamodb_local import create_tables, dynamodb_client, dynamodb_endpoint
from local.loader import LAYER_PATH, ROOT
from local.polling import poll_until
from local.ports import free_port
from local.token import mint_token

RESULTS = ROOT / "benchmarks" / "results.json"
CHART = ROOT / "benchmarks" / "read_units.png"
FANOUT_LEARNERS = int(os.environ.get("BENCH_FANOUT_LEARNERS", "1000"))
CONCURRENT_LEARNERS = 40
LESSONS_EACH = 10

if str(LAYER_PATH) not in sys.path:
    sys.path.insert(0, str(LAYER_PATH))
from lms import keys  # noqa: E402
from lms.repositories.dynamo import deserialize, serialize  # noqa: E402


def update_results(figures: dict[str, Any]) -> None:
    """Merge this phase's keys into results.json, keeping every other phase's keys."""
    current = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    current.update(figures)
    RESULTS.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


def inprocess(command: str, endpoint: str, *args: str, module: str = "benchmarks.scale_inprocess") -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        env = {**os.environ, "DDB_ENDPOINT": endpoint, "BENCH_RESULT": result.name}
        subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", module, command, *args], env=env, cwd=ROOT, check=True
        )
        figures: dict[str, Any] = json.loads(Path(result.name).read_text())
        return figures


@contextmanager
def own_dynamodb() -> Iterator[str]:
    """A DynamoDB Local of its own, with the stack's tables: no local runtime polls its stream or runs
    its schedules, so an in-process phase measures only its own calls."""
    with tempfile.TemporaryDirectory() as state, dynamodb_endpoint(free_port(), None) as endpoint:
        config = LocalConfig.from_env(endpoint, Path(state))
        create_tables(dynamodb_client(endpoint, config.region), config.stack)
        yield endpoint


def bench_inprocess_phases() -> dict[str, Any]:
    with own_dynamodb() as endpoint:
        figures = inprocess("cost", endpoint)
        figures |= inprocess("backlog", endpoint)
        figures |= inprocess("items", endpoint, module="benchmarks.per_item")
    rcu, wcu = figures["completion_rcu"], figures["completion_wcu"]
    figures["completion_rcu_ratio_500_vs_10"] = round(rcu["500"] / rcu["10"], 2)
    figures["completion_wcu_ratio_500_vs_10"] = round(wcu["500"] / wcu["10"], 2)
    return figures


class LineCounter:
    """Counts the lines written to stderr (the functions' logs) that contain `needle`."""

    def __init__(self, stream: TextIO, needle: str) -> None:
        self._stream, self._needle, self.count = stream, needle, 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.count += text.count(self._needle)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()


def _batch_get(api: LocalApi, key_list: list[dict[str, str]]) -> list[dict[str, Any]]:
    client = dynamodb_client(api.ddb_endpoint)
    found: list[dict[str, Any]] = []
    for start in range(0, len(key_list), 100):
        pending: dict[str, Any] = {"lms-dev": {"Keys": [serialize(k) for k in key_list[start : start + 100]]}}
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            found += [deserialize(i) for i in response["Responses"].get("lms-dev", [])]
            pending = response.get("UnprocessedKeys") or {}
    return found


def _call(api: LocalApi, method: str, path: str, token: str, body: Any = None) -> Any:
    import requests

    response = requests.request(
        method, api.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path} -> {response.status_code} {response.text}")
    return response.json() if response.text else None


def _summaries(api: LocalApi, course_id: str, learners: list[str]) -> list[dict[str, Any]]:
    return _batch_get(api, [keys.summary(user, course_id) for user in learners])


def _wait_for_summaries(api: LocalApi, course_id: str, learners: list[str], required: int, timeout: float) -> None:
    poll_until(
        lambda: _summaries(api, course_id, learners),
        lambda found: len(found) == len(learners) and all(s["requiredLessons"] == required for s in found),
        timeout=timeout,
        interval=0.25,
        what=f"{len(learners)} summaries with {required} required lessons",
    )


def bench_fanout(api: LocalApi) -> dict[str, Any]:
    instructor_id = f"bench-instructor-{uuid.uuid4().hex[:8]}"
    setup = inprocess("enroll", api.ddb_endpoint, "10", str(FANOUT_LEARNERS), instructor_id)
    course_id, learners = setup["courseId"], setup["learners"]
    _wait_for_summaries(api, course_id, learners, 10, timeout=600)
    counter = LineCounter(sys.stderr, '"course outline read"')
    sys.stderr = counter
    try:
        start = time.perf_counter()
        path = f"/courses/{course_id}/modules/{setup['moduleId']}/lessons"
        _call(api, "POST", path, mint_token(instructor_id, "instructor"), {"title": "Added for everyone"})
        _wait_for_summaries(api, course_id, learners, 11, timeout=900)
        elapsed = time.perf_counter() - start
    finally:
        sys.stderr = counter._stream
    workers = api.lambdas.config.max_workers_per_function
    return {
        "fanout_learners": len(learners),
        "fanout_seconds": round(elapsed, 2),
        "fanout_learners_per_s": round(len(learners) / elapsed, 1),
        "fanout_outline_reads": counter.count,
        "fanout_outline_reads_per_learner": round(counter.count / len(learners), 4),
        "fanout_parallelism": f"ParallelizationFactor 10, at most {workers} concurrent summarizer workers locally",
        "_fanout_course": [course_id, learners],
    }


def bench_concurrent_completions(api: LocalApi) -> dict[str, Any]:
    """40 learners complete every lesson of a 10-lesson course at the same time, 8 requests at once."""
    instructor_id = f"bench-instructor-{uuid.uuid4().hex[:8]}"
    instructor = mint_token(instructor_id, "instructor")
    outline = {
        "title": "Concurrent",
        "modules": [{"title": "M", "lessons": [{"title": f"L{n}"} for n in range(LESSONS_EACH)]}],
    }
    course = _call(api, "POST", "/courses", instructor, outline)
    lessons = [lesson["id"] for lesson in course["modules"][0]["lessons"]]
    learners = [f"bench-concurrent-{n:02d}-{uuid.uuid4().hex[:6]}" for n in range(CONCURRENT_LEARNERS)]
    tokens = {user: mint_token(user, "student") for user in learners}
    for user in learners:
        _call(api, "POST", "/enrollments", tokens[user], {"courseId": course["id"]})
    work = [(user, lesson) for lesson in lessons for user in learners]  # learners interleaved
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda w: _call(api, "POST", "/progress", tokens[w[0]], {"lessonId": w[1], "action": "complete"}), work
            )
        )
    poll_until(
        lambda: _call(api, "GET", f"/progress/course/{course['id']}/summary", instructor),
        lambda aggregate: aggregate["completed"] == CONCURRENT_LEARNERS,
        timeout=300,
        interval=0.25,
        what="every learner completed in the aggregate",
    )
    shards = _batch_get(api, keys.course_aggregate_shards(course["id"]))
    writes = [int(item.get("writes", 0)) for item in shards]
    return {
        "aggregate_writes": sum(writes),
        "aggregate_shards_written": sum(1 for w in writes if w),
        "aggregate_write_max_share": round(max(writes) / sum(writes), 3),
        "_concurrent_course": [course["id"], learners, instructor_id],
    }


def aggregate_matches(api: LocalApi, course_id: str, learners: list[str], instructor_id: str) -> bool:
    aggregate = _call(api, "GET", f"/progress/course/{course_id}/summary", mint_token(instructor_id, "instructor"))
    summaries = _summaries(api, course_id, learners)
    enrollments = _batch_get(api, [keys.enrollment(user, course_id) for user in learners])
    expected = {
        "enrolled": len(enrollments),
        "active": sum(1 for e in enrollments if e["status"] == "ACTIVE"),
        "completed": sum(1 for e in enrollments if e["status"] == "COMPLETED"),
        "averagePercent": round(sum(s["percent"] for s in summaries) / len(summaries), 2) if summaries else 0,
    }
    actual = {name: aggregate[name] for name in expected}
    if actual != expected:
        print(f"  aggregate of {course_id}: {actual} != sum over learners {expected}")
    return actual == expected


def draw_chart(figures: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(size) for size in figures["completion_rcu"]]
    figure, axis = plt.subplots(figsize=(7, 4.2), dpi=110)
    before = [figures["completion_rcu_rebuild_baseline"][str(s)] for s in sizes]
    after = [figures["completion_rcu"][str(s)] for s in sizes]
    axis.plot(sizes, before, marker="o", label="before: summary rebuilt from scratch")
    axis.plot(sizes, after, marker="o", label="after: patched from the changed records")
    for x, y in zip(sizes, before, strict=True):
        axis.annotate(f"{y:g}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    for x, y in zip(sizes, after, strict=True):
        axis.annotate(f"{y:g}", (x, y), textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    axis.set_xlabel("lessons in the course")
    axis.set_ylabel("read units per completion (AWS accounting)")
    axis.set_title("Read units per completion: API + summarizer")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(CHART)
    plt.close(figure)


def run(api: LocalApi) -> dict[str, Any]:
    print("\nSummaries at scale (results in benchmarks/results.json, chart in benchmarks/read_units.png)")
    figures = bench_inprocess_phases()
    figures |= bench_fanout(api)
    figures |= bench_concurrent_completions(api)
    fanout_course, fanout_learners = figures.pop("_fanout_course")
    concurrent_course, concurrent_learners, instructor = figures.pop("_concurrent_course")
    fanout_instructor = _batch_get(api, [keys.course(fanout_course)])[0]["instructorIds"][0]
    figures["aggregate_exact"] = aggregate_matches(
        api, concurrent_course, concurrent_learners, instructor
    ) and aggregate_matches(api, fanout_course, fanout_learners, fanout_instructor)
    update_results(figures)
    draw_chart(figures)
    for name, value in sorted(figures.items()):
        print(f"  {name:<38} {value}")
    return figures
