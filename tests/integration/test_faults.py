"""Faults, on 127.0.0.1 only: DynamoDB Local killed under load (503 problems with Retry-After, every
function answering within its own timeout as the runtime measures it, never a hang; the same stack
serves again once it is back, and the summaries converge), and an execution environment killed
mid-request (API Gateway's 500, then a fresh environment for the next request).

Nothing here measures the wall clock: a busy machine slows every request, and the test asserts what
the functions did instead (the runtime's report of each invocation's duration, and its timeouts)."""

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from local.dev import LocalApi, running_api
from local.dynamodb_local import DynamoDBLocal
from local.polling import poll_until
from local.ports import free_port
from local.token import mint_token
from tests.integration.conftest import PROBLEM_JSON, ApiClient, Lms, User

pytestmark = pytest.mark.integration

# A guard against a hang (a request that never returns), never a measure of speed.
HANG_GUARD_SECONDS = 120
LOAD_THREADS = 4
LEARNERS = 6


@dataclass
class Outcome:
    status: int
    content_type: str
    retry_after: str | None
    body: str


@dataclass
class Load:
    """Learners completing lessons, reading their summaries and enrolling again (idempotently), from a
    few threads, until stopped."""

    api: ApiClient
    learners: list[User]
    lessons: list[str]
    course_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(LOAD_THREADS):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HANG_GUARD_SECONDS)
        assert not any(t.is_alive() for t in self._threads), "a request never answered"

    def _run(self, index: int) -> None:
        step = index
        while not self._stop.is_set():
            learner = self.learners[step % len(self.learners)]
            if step % 4 == 2:
                response = self.api.get(f"/progress/course/{self.course_id}/summary", learner.token)
            elif step % 4 == 3:  # through Powertools Idempotency's own store: 409, already enrolled
                key = {"Idempotency-Key": f"k-{step}"}
                response = self.api.post("/enrollments", learner.token, json={"courseId": self.course_id}, headers=key)
            else:
                lesson = self.lessons[(step // len(self.learners)) % len(self.lessons)]
                body = {"lessonId": lesson, "action": "complete"}
                response = self.api.post("/progress", learner.token, json=body)
            self._record(response)
            step += LOAD_THREADS

    def _record(self, response: requests.Response) -> None:
        outcome = Outcome(
            response.status_code,
            response.headers.get("content-type", ""),
            response.headers.get("retry-after"),
            response.text,
        )
        with self._lock:
            self.outcomes.append(outcome)

    def since(self, count: int) -> list[Outcome]:
        """The outcomes recorded after the first `count` (e.g. of requests sent after an event)."""
        with self._lock:
            return self.outcomes[count:]

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)


@dataclass
class FaultStack:
    api: LocalApi
    ddb: DynamoDBLocal
    lms: Lms


@pytest.fixture
def fault_stack(tmp_path: Path) -> Iterator[FaultStack]:
    """A stack of its own over a DynamoDB Local kept on disk (so it comes back with its data)."""
    ddb = DynamoDBLocal(free_port(), tmp_path / "dynamodb")
    ddb.start()
    try:
        with running_api(0, ddb.port, None, external_ddb=ddb.endpoint, state_dir=tmp_path / "state") as api:
            yield FaultStack(api, ddb, Lms(ApiClient(api.url), mint_token))
    finally:
        ddb.stop()


def _completed_in_records(lms: Lms, learner: User) -> int:
    page = lms.expect(200, lms.api.get("/progress", learner.token, params={"status": "COMPLETED", "limit": 100}))
    return len(page["items"])


def test_dynamodb_killed_under_load_gives_503s_then_the_same_stack_recovers_and_summaries_converge(
    fault_stack: FaultStack, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fault_stack.lms
    teacher = lms.user("teacher", "instructor")
    course = lms.create_course(teacher, 2, 2)
    learners = [lms.user() for _ in range(LEARNERS)]
    for learner in learners:
        lms.enroll(learner, course["id"])
    load = Load(lms.api, learners, lms.lesson_ids(course), course["id"])
    load.start()
    try:
        poll_until(lambda: sum(o.status < 300 for o in load.outcomes) >= 20, timeout=60, what="a warm load")
        fault_stack.ddb.kill()
        # Requests in flight when it died may still succeed: the outage is what follows them.
        killed_at = load.count() + LOAD_THREADS
        during = poll_until(lambda: load.since(killed_at), lambda got: len(got) >= 12, timeout=60, what="answers")
        fault_stack.ddb.start()
        back_at = load.count() + LOAD_THREADS  # answers from here on were all sent to a running DynamoDB
        poll_until(
            lambda: [o for o in load.since(back_at) if o.status < 300],
            lambda ok: len(ok) >= 10,
            timeout=60,
            what="successes after the restart",
        )
    finally:
        load.stop()

    failures = [o for o in load.outcomes if o.status >= 500]
    assert any(o.status == 503 for o in during), "the outage was never seen"
    for failure in failures:
        assert failure.status == 503, failure.body
        assert failure.content_type == PROBLEM_JSON
        assert failure.retry_after is not None
    assert all(o.status < 500 for o in load.since(back_at)), "a restarted DynamoDB still fails requests"
    # Every function answered within its own timeout, by the runtime's measure of each invocation.
    reports = fault_stack.api.lambdas.reports
    assert not reports.timeouts
    functions = fault_stack.api.lambdas.config.functions
    for function, slowest_ms in reports.slowest_ms.items():
        assert slowest_ms < functions[function].timeout_seconds * 1000, function

    for learner in learners:  # the summaries catch up with the records, whatever the outage interrupted
        completed = _completed_in_records(lms, learner)
        lms.wait_for_summary(learner, course["id"], lambda s, n=completed: s["completedLessons"] == n, timeout=30)
    with capsys.disabled():
        slowest = {f: f"{ms / 1000:.2f} s" for f, ms in sorted(reports.slowest_ms.items())}
        print(
            f"\nDynamoDB Local killed under load: {len(load.outcomes)} requests, {len(failures)} answered 503;"
            f" slowest invocation of each function: {slowest}"
        )


def test_a_worker_killed_mid_request_gives_api_gateways_500_and_the_next_request_succeeds(
    local_api: LocalApi, lms: Lms
) -> None:
    teacher = lms.user("teacher", "instructor")
    course = lms.create_course(teacher, 1)
    path = f"/courses/{course['id']}"
    lms.expect(200, lms.api.get(path, teacher.token))  # a warm execution environment exists
    pool = local_api.lambdas.pool("GetCourseFunction")
    pids = pool.worker_pids()
    for pid in pids:  # frozen: the next request reaches a worker that cannot answer
        os.kill(pid, signal.SIGSTOP)
    answer: dict[str, requests.Response] = {}
    in_flight = threading.Thread(target=lambda: answer.setdefault("r", lms.api.get(path, teacher.token)))
    in_flight.start()
    try:
        poll_until(lambda: pool.busy, what="the request in a (frozen) environment")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    in_flight.join(timeout=HANG_GUARD_SECONDS)

    killed = answer["r"]
    assert killed.status_code == 500
    assert killed.json() == {"message": "Internal Server Error"}
    following = lms.api.get(path, teacher.token)
    assert following.status_code == 200
    assert following.json()["id"] == course["id"]
    assert not set(pids) & set(pool.worker_pids())  # the dead environment was replaced
