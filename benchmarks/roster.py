"""Roster enrollment of 100 learners (POST /courses/{courseId}/enrollments): its time through the
local gateway, and the DynamoDB calls it makes, counted with the handler run in this process.

Part of `make bench`; alone: `python -m benchmarks.roster` (starts its own local runtime).
`python -m benchmarks.roster count <course> <instructor> <prefix>` is the in-process count (run in a
subprocess by `run`, so that the counting session patched in never reaches the benchmark)."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import botocore.session
import requests

from benchmarks import scale
from benchmarks.environment import use_local_dynamodb
from local.dev import LocalApi, running_api
from local.loader import ROOT
from local.ports import free_port
from local.token import mint_token

LEARNERS = 100
SAMPLES = int(os.environ.get("BENCH_ROSTER_SAMPLES", "5"))


def _course(session: requests.Session, url: str, token: str, capacity: int | None) -> str:
    body: dict[str, Any] = {"title": "Roster", "modules": [{"title": "M", "lessons": [{"title": "L"}]}]}
    if capacity is not None:
        body["capacity"] = capacity
    response = session.post(f"{url}/courses", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    course_id: str = response.json()["id"]
    return course_id


def _learners(prefix: str) -> dict[str, Any]:
    return {"learners": [{"userId": f"{prefix}-{n:03}"} for n in range(LEARNERS)]}


def _roster(session: requests.Session, url: str, token: str, course_id: str, prefix: str, seats: int) -> float:
    """Seconds one roster of LEARNERS new learners took over HTTP: the first `seats` must be created,
    the others refused (the course full)."""
    start = time.perf_counter()
    response = session.post(
        f"{url}/courses/{course_id}/enrollments",
        json=_learners(prefix),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    outcomes = [item["outcome"] for item in response.json()["items"]]
    if outcomes != ["created"] * seats + ["refused"] * (LEARNERS - seats):
        raise RuntimeError(f"roster outcomes {outcomes}")
    return elapsed


def run(api: LocalApi) -> None:
    instructor_id = f"bench-instructor-{uuid.uuid4().hex[:8]}"
    token = mint_token(instructor_id, "instructor")
    session = requests.Session()
    print(f"\nRoster enrollment: {LEARNERS} new learners in one POST /courses/{{id}}/enrollments")
    figures: dict[str, Any] = {}
    # A course with room for all, and one that fills up halfway (50 learners then written one by one).
    for label, capacity in (("uncapped", None), ("capped", 1000), ("half_full", 50)):
        seats = min(LEARNERS, capacity or LEARNERS)
        samples = []
        for _ in range(SAMPLES + 1):  # the first warms the execution environment
            course_id = _course(session, api.url, token, capacity)
            samples.append(_roster(session, api.url, token, course_id, f"r{uuid.uuid4().hex[:6]}", seats))
        warm = sorted(samples[1:])
        median, worst = warm[len(warm) // 2], warm[-1]
        print(
            f"  {label:<9} ({seats} admitted) through the gateway: first {samples[0] * 1000:.0f} ms,"
            f" then p50 {median * 1000:.0f} ms, max {worst * 1000:.0f} ms (n={len(warm)})"
        )
        course_id = _course(session, api.url, token, capacity)
        output = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [sys.executable, "-m", "benchmarks.roster", "count", course_id, instructor_id, f"c{uuid.uuid4().hex[:6]}"],
            env={**os.environ, "DDB_ENDPOINT": api.ddb_endpoint},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if output.returncode:
            raise RuntimeError(f"counting the roster's calls failed:\n{output.stderr}")
        print(output.stdout.rstrip())
        figures |= {f"roster_100_{label}_p50_s": round(median, 3), f"roster_100_{label}_max_s": round(worst, 3)}
    scale.update_results(figures)


def count(course_id: str, instructor: str, prefix: str) -> None:
    """The handler in this process, against DDB_ENDPOINT: its DynamoDB calls for one roster."""
    from benchmarks import count_calls

    # The table name as the local runtime names it; no Idempotency-Key is sent, so its table is never called.
    use_local_dynamodb(POWERTOOLS_METRICS_DISABLED="true", IDEMPOTENCY_TABLE_NAME="lms-idempotency-dev")
    # Handlers build their clients from a fresh botocore session: hand them one that counts.
    session = botocore.session.get_session()
    session.register("before-call.dynamodb", count_calls.count)
    botocore.session.get_session = lambda env_vars=None: session
    sample = count_calls.event("enroll_roster", instructor, {"courseId": course_id}, _learners(prefix), "instructor")
    count_calls.handler_of("enroll_roster")  # loaded first: the time below is the request's alone
    start = time.perf_counter()
    count_calls.measure(f"{LEARNERS} learners, in-process", "enroll_roster", sample)
    print(f"  {'':<40} {(time.perf_counter() - start) * 1000:.0f} ms in-process (the environment's first request)")


def main() -> None:
    with tempfile.TemporaryDirectory() as state, running_api(0, free_port(), None, state_dir=Path(state)) as api:
        run(api)


if __name__ == "__main__":
    if sys.argv[1:2] == ["count"]:
        count(*sys.argv[2:5])
    else:
        main()
