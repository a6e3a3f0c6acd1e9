"""Benchmarks on the local runtime (DynamoDB Local + the gateway + the stream poller).

Prints: request latency per route (warm), throughput of parallel progress writes, how fast learner
summaries catch up after a completion, DynamoDB calls per request, a roster of 100 learners
(benchmarks/roster.py), and every function's cold start against a floor (benchmarks/cold_start.py).
Local figures include the gateway and worker-process hop, so they bound what Lambda itself adds
rather than predict AWS latencies.
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from benchmarks import cold_start, erasure, roster, scale, seat_count
from local.dev import LocalApi, running_api
from local.loader import ROOT
from local.polling import poll_until
from local.ports import free_port
from local.token import mint_token

REQUESTS_PER_ROUTE = int(os.environ.get("BENCH_REQUESTS", "200"))
COMPLETIONS = int(os.environ.get("BENCH_COMPLETIONS", "50"))
PARALLEL_WRITERS = 8
WRITES_PER_WRITER = 40
BUSY_RETRIES = 5


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(name: str, samples_ms: list[float]) -> None:
    print(
        f"  {name:<44} n={len(samples_ms):<4} p50={percentile(samples_ms, 0.5):7.1f} ms"
        f"  p95={percentile(samples_ms, 0.95):7.1f} ms  max={max(samples_ms):7.1f} ms"
    )


class BusyError(RuntimeError):
    """503: the service asks for the request again (a write that ran out of its retry budget)."""


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, token: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        response = self.session.request(method, self.base_url + path, json=body, headers=headers, timeout=30)
        if response.status_code == 503:
            raise BusyError(f"{method} {path} -> 503 {response.text}")
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code} {response.text}")
        return response


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def setup_course(client: Client, instructor: str, lessons_per_module: int = 4, modules: int = 3) -> dict[str, Any]:
    outline = {
        "title": "Benchmark course",
        "modules": [
            {"title": f"Module {m}", "lessons": [{"title": f"Lesson {m}.{n}"} for n in range(lessons_per_module)]}
            for m in range(modules)
        ],
    }
    course: dict[str, Any] = client.call("POST", "/courses", instructor, outline).json()
    return course


def bench_latency(client: Client, api: LocalApi) -> None:
    instructor = mint_token(f"bench-instructor-{uuid.uuid4().hex[:8]}", "instructor")
    learner = mint_token(f"bench-learner-{uuid.uuid4().hex[:8]}", "student")
    course = setup_course(client, instructor)
    lesson = course["modules"][0]["lessons"][0]["id"]
    enrollment = client.call("POST", "/enrollments", learner, {"courseId": course["id"]}).json()
    routes: list[tuple[str, str, str, Any]] = [
        ("GET /courses/{id}", "GET", f"/courses/{course['id']}", None),
        ("GET /enrollments/{id}", "GET", f"/enrollments/{enrollment['id']}", None),
        ("GET /enrollments", "GET", "/enrollments", None),
        ("POST /progress (view)", "POST", "/progress", {"lessonId": lesson, "action": "view"}),
        ("GET /progress/course/{id}/summary", "GET", f"/progress/course/{course['id']}/summary", None),
    ]
    print(f"\nWarm latency through the local gateway ({REQUESTS_PER_ROUTE} sequential requests per route)")
    for name, method, path, body in routes:

        def request(method: str = method, path: str = path, body: Any = body) -> None:
            client.call(method, path, learner, body)

        request()  # warm the execution environment
        report(name, [timed(request) for _ in range(REQUESTS_PER_ROUTE)])


def bench_parallel_views(api: LocalApi) -> None:
    client = Client(api.url)
    instructor = mint_token(f"bench-instructor-{uuid.uuid4().hex[:8]}", "instructor")
    learner = mint_token(f"bench-learner-{uuid.uuid4().hex[:8]}", "student")
    course = setup_course(client, instructor, lessons_per_module=1, modules=1)
    lesson = course["modules"][0]["lessons"][0]["id"]
    client.call("POST", "/enrollments", learner, {"courseId": course["id"]})
    total = PARALLEL_WRITERS * WRITES_PER_WRITER

    busy: list[int] = []  # 503s: a write that ran out of its retry budget, which the client sends again

    def view(own: Client) -> None:
        for _ in range(BUSY_RETRIES):
            try:
                own.call("POST", "/progress", learner, {"lessonId": lesson, "action": "view"})
                return
            except BusyError:
                busy.append(1)
        raise RuntimeError(f"POST /progress answered 503 {BUSY_RETRIES} times in a row")

    def writer(_: int) -> list[float]:
        own = Client(api.url)
        return [timed(lambda: view(own)) for _ in range(WRITES_PER_WRITER)]

    start = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL_WRITERS) as pool:
        samples = [ms for batch in pool.map(writer, range(PARALLEL_WRITERS)) for ms in batch]
    elapsed = time.perf_counter() - start
    record = client.call("GET", "/progress", learner).json()["items"][0]
    print(f"\n{PARALLEL_WRITERS} writers x {WRITES_PER_WRITER} views of ONE lesson record (worst-case contention)")
    report("POST /progress under contention", samples)
    print(
        f"  throughput {total / elapsed:.0f} req/s; viewCount {record['viewCount']} of {total} (nothing lost); "
        f"503 (retry budget spent, sent again as the problem says) {len(busy)} times"
    )
    scale.update_results({"contention_views_per_s": round(total / elapsed), "contention_503s": len(busy)})


def bench_freshness(client: Client) -> None:
    instructor = mint_token(f"bench-instructor-{uuid.uuid4().hex[:8]}", "instructor")
    course = setup_course(client, instructor, lessons_per_module=COMPLETIONS, modules=1)
    lessons = [lesson["id"] for lesson in course["modules"][0]["lessons"]]
    learner = mint_token(f"bench-learner-{uuid.uuid4().hex[:8]}", "student")
    client.call("POST", "/enrollments", learner, {"courseId": course["id"]})
    summary_path = f"/progress/course/{course['id']}/summary"
    samples = []

    def summary() -> dict[str, Any]:
        body: dict[str, Any] = client.call("GET", summary_path, learner).json()
        return body

    for done, lesson in enumerate(lessons, start=1):
        client.call("POST", "/progress", learner, {"lessonId": lesson, "action": "complete"})
        start = time.perf_counter()

        def caught_up(current: dict[str, Any], done: int = done) -> bool:
            return bool(current["completedLessons"] == done)

        poll_until(
            summary,
            caught_up,
            timeout=30,
            interval=0.01,
            what="summary catching up",
        )
        samples.append((time.perf_counter() - start) * 1000)
    print("\nSummary freshness: a completion until GET .../summary shows it (stream poller + summarizer)")
    report("completion -> summary", samples)
    scale.update_results(
        {
            "summary_lag_completions": len(samples),
            "summary_lag_p50_s": round(percentile(samples, 0.5) / 1000, 3),
            "summary_lag_p95_s": round(percentile(samples, 0.95) / 1000, 3),
        }
    )


def bench_dynamodb_calls(api: LocalApi) -> None:
    """Run handlers in this process against the same DynamoDB and count the calls they make."""
    client = Client(api.url)
    instructor_id = f"bench-instructor-{uuid.uuid4().hex[:8]}"
    instructor = mint_token(instructor_id, "instructor")
    learner_id = f"bench-learner-{uuid.uuid4().hex[:8]}"
    course = setup_course(client, instructor, lessons_per_module=2, modules=1)
    client.call("POST", "/enrollments", mint_token(learner_id, "student"), {"courseId": course["id"]})
    env = {**os.environ, "DDB_ENDPOINT": api.ddb_endpoint}
    lesson = course["modules"][0]["lessons"][0]["id"]
    output = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, "-m", "benchmarks.count_calls", learner_id, course["id"], lesson, instructor_id],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    print("\nDynamoDB calls per request (handlers in-process, botocore events counted)")
    print(output.stdout.rstrip())


def bench_largest_outline(client: Client) -> None:
    """POST /courses with the largest outline one request may carry (100 modules, 500 lessons: 1,100
    items) must finish well inside the function's 10 s timeout."""
    instructor = mint_token(f"bench-instructor-{uuid.uuid4().hex[:8]}", "instructor")
    samples = [timed(lambda: setup_course(client, instructor, lessons_per_module=5, modules=100)) for _ in range(5)]
    print("\nLargest outline per request (100 modules x 5 lessons, parallel batch writes)")
    report("POST /courses (500 lessons)", samples)


def main() -> None:
    print("Benchmarks on the local runtime (2-core machine figures vary; compare runs on one machine)")
    with tempfile.TemporaryDirectory() as state, running_api(0, free_port(), None, state_dir=Path(state)) as api:
        client = Client(api.url)
        bench_latency(client, api)
        bench_parallel_views(api)
        bench_freshness(client)
        scale.run(api)
        bench_dynamodb_calls(api)
        roster.run(api)
        bench_largest_outline(client)
        erasure.run(api)
    seat_count.run()
    cold_start.run()


if __name__ == "__main__":
    main()
