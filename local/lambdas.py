"""Lambda, locally: each function runs in its own worker processes (`local.worker`), with its own
environment, scaled out like Lambda scales execution environments and kept warm between invocations."""

import json
import queue
import subprocess
import sys
import threading
import uuid
from collections import Counter
from types import TracebackType
from typing import IO, Any, Self

from local.config import LocalConfig
from local.iam import Policy
from local.loader import ROOT
from local.template import FunctionSpec

# Lambda gives the init phase (imports, cold start) its own 10 s on top of the function's timeout.
INIT_TIMEOUT_SECONDS = 10
TIMEOUT_ERROR = "Sandbox.Timedout"


class InvocationError(Exception):
    """The function failed: it raised, timed out, crashed or returned something that is not JSON."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.error_type = error_type


class Reports:
    """What Lambda's REPORT lines and metrics tell: each function's slowest invocation as its
    environment measured it, timeouts, and the AWS calls IAM checked ("checked") and refused ("denied")."""

    def __init__(self) -> None:
        self.slowest_ms: dict[str, float] = {}
        self.timeouts: Counter[str] = Counter()
        self.iam_calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, function: str, message: dict[str, Any]) -> None:
        with self._lock:
            self.slowest_ms[function] = max(self.slowest_ms.get(function, 0.0), float(message["durationMs"]))
            self.iam_calls.update(message.get("iam", {}))

    def timed_out(self, function: str) -> None:
        with self._lock:
            self.timeouts[function] += 1


class _Worker:
    """One execution environment: a `python -m local.worker` child speaking JSON lines."""

    def __init__(
        self, spec: FunctionSpec, environment: dict[str, str], policy: Policy | None, reports: Reports
    ) -> None:
        self.spec = spec
        self.warm = False
        self._reports = reports
        policy_argument = [policy.to_json()] if policy is not None else []
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local.worker", spec.to_json(), *policy_argument],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_answers, daemon=True).start()
        threading.Thread(target=self._forward_log, daemon=True).start()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def invoke(self, event: Any) -> Any:
        timeout = self.spec.timeout_seconds + (0 if self.warm else INIT_TIMEOUT_SECONDS)
        self._send({"event": event, "requestId": str(uuid.uuid4())})
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            # Lambda stops a timed-out environment; its next invocation gets a fresh one.
            self.kill()
            self._reports.timed_out(self.spec.logical_id)
            raise InvocationError(
                self.spec.logical_id, TIMEOUT_ERROR, f"Task timed out after {timeout} seconds"
            ) from None
        if line is None:
            raise InvocationError(self.spec.logical_id, "Runtime.ExitError", "the worker exited")
        self.warm = True
        message: dict[str, Any] = json.loads(line)
        self._reports.add(self.spec.logical_id, message)
        if "error" in message:
            error = message["error"]
            raise InvocationError(self.spec.logical_id, error["errorType"], error["errorMessage"])
        return message["result"]

    def _send(self, request: dict[str, Any]) -> None:
        stdin = self._pipe(self._process.stdin)
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except OSError as exc:
            raise InvocationError(self.spec.logical_id, "Runtime.ExitError", str(exc)) from exc

    def _read_answers(self) -> None:
        for line in self._pipe(self._process.stdout):
            self._answers.put(line)
        self._answers.put(None)

    def _forward_log(self) -> None:
        # Prefix every log line with the function, as CloudWatch keeps one log group per function.
        for line in self._pipe(self._process.stderr):
            sys.stderr.write(f"[{self.spec.logical_id}] {line}")

    @staticmethod
    def _pipe(stream: IO[str] | None) -> IO[str]:
        assert stream is not None, "started with PIPE"
        return stream

    def stop(self) -> None:
        """Let the worker finish: closing stdin ends its loop; kill it if it does not comply."""
        try:
            self._pipe(self._process.stdin).close()
            self._process.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()


class FunctionPool:
    """The execution environments of one function: reuse an idle one, start another when all are
    busy (up to `max_workers`, then wait for one to free up, as a reserved-concurrency queue would)."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        max_workers: int,
        policy: Policy | None = None,
        reports: Reports | None = None,
    ) -> None:
        self.spec = spec
        self._environment = environment
        self._policy = policy
        self._reports = Reports() if reports is None else reports
        self._max_workers = max_workers
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._condition = threading.Condition()
        self._closed = False

    @property
    def size(self) -> int:
        with self._condition:
            return len(self._all)

    @property
    def busy(self) -> int:
        """Environments running an invocation now."""
        with self._condition:
            return len(self._all) - len(self._idle)

    def worker_pids(self) -> list[int]:
        """The process ids of the execution environments (for fault tests)."""
        with self._condition:
            return [worker.pid for worker in self._all]

    def invoke(self, event: Any) -> Any:
        worker = self._acquire()
        try:
            return worker.invoke(event)
        finally:
            self._release(worker)

    def _acquire(self) -> _Worker:
        with self._condition:
            while True:
                if self._closed:
                    raise InvocationError(self.spec.logical_id, "Runtime.Shutdown", "the runtime stopped")
                while self._idle:
                    worker = self._idle.pop()  # the most recently used, the warmest
                    if worker.alive:
                        return worker
                    self._all.discard(worker)  # died while idle (e.g. the handler called exit)
                if len(self._all) < self._max_workers:
                    worker = _Worker(self.spec, self._environment, self._policy, self._reports)
                    self._all.add(worker)
                    return worker
                self._condition.wait()

    def _release(self, worker: _Worker) -> None:
        with self._condition:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                worker.stop()
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            workers, self._idle = list(self._all), []
            self._condition.notify_all()
        for worker in workers:
            worker.stop()


class LambdaService:
    """Invoke any function of the template by logical id; pools start lazily, on first use."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.invocations: Counter[str] = Counter()
        self.reports = Reports()
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()

    def spec(self, logical_id: str) -> FunctionSpec:
        return self.config.functions[logical_id]

    def pool(self, logical_id: str) -> FunctionPool:
        with self._lock:
            if logical_id not in self._pools:
                spec = self.spec(logical_id)
                environment = self.config.function_environment(spec)
                self._pools[logical_id] = FunctionPool(
                    spec,
                    environment,
                    self.config.max_workers_per_function,
                    self.config.function_policy(spec),
                    self.reports,
                )
            return self._pools[logical_id]

    def invoke(self, logical_id: str, event: Any) -> Any:
        with self._lock:
            self.invocations[logical_id] += 1
        return self.pool(logical_id).invoke(event)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
