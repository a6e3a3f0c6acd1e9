"""Lambda, locally: each function runs in its own worker processes (`local.worker`), with its own
environment, scaled out like Lambda scales execution environments and kept warm between invocations."""

import json
import queue
import subprocess
import sys
import threading
import uuid
from collections import Counter
from contextlib import AbstractContextManager
from functools import partial
from types import TracebackType
from typing import IO, Any, cast

from local.config import LocalConfig
from local.iam import Policy
from local.loader import ROOT
from local.template import FunctionSpec
from local.worker import argument

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
        self.lock = threading.Lock()


class _Worker:
    """One execution environment: a `python -m local.worker` child speaking JSON lines."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str], policy: Policy | None) -> None:
        self.spec = spec
        self.warm = False
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local.worker", argument(spec, policy)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._stdin = cast(IO[str], self.process.stdin)
        self._answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_answers, daemon=True).start()
        threading.Thread(target=self._forward_log, daemon=True).start()

    def _read_answers(self) -> None:
        for line in cast(IO[str], self.process.stdout):
            self._answers.put(line)
        self._answers.put(None)

    def _forward_log(self) -> None:
        # Every log line prefixed with the function, as CloudWatch keeps one log group per function.
        for line in cast(IO[str], self.process.stderr):
            sys.stderr.write(f"[{self.spec.logical_id}] {line}")

    def invoke(self, event: Any, reports: Reports) -> Any:
        function = self.spec.logical_id
        timeout = self.spec.timeout_seconds + (0 if self.warm else INIT_TIMEOUT_SECONDS)
        try:
            self._stdin.write(json.dumps({"event": event, "requestId": str(uuid.uuid4())}) + "\n")
            self._stdin.flush()
        except OSError as exc:
            raise InvocationError(function, "Runtime.ExitError", str(exc)) from exc
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            # Lambda stops a timed-out environment; its next invocation gets a fresh one.
            self.kill()
            with reports.lock:
                reports.timeouts[function] += 1
            raise InvocationError(function, TIMEOUT_ERROR, f"Task timed out after {timeout} seconds") from None
        if line is None:
            raise InvocationError(function, "Runtime.ExitError", "the worker exited")
        self.warm = True
        message: dict[str, Any] = json.loads(line)
        with reports.lock:
            reports.slowest_ms[function] = max(reports.slowest_ms.get(function, 0.0), float(message["durationMs"]))
            reports.iam_calls.update(message.get("iam", {}))
        if "error" in message:
            raise InvocationError(function, message["error"]["errorType"], message["error"]["errorMessage"])
        return message["result"]

    def stop(self) -> None:
        """Let the worker finish: closing stdin ends its loop; kill it if it does not comply."""
        try:
            self._stdin.close()
            self.process.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class FunctionPool:
    """The execution environments of one function: reuse an idle one, start another when all are
    busy (up to `max_workers`, then wait for one to free up, as a reserved-concurrency queue would)."""

    def __init__(
        self, spec: FunctionSpec, environment: dict[str, str], max_workers: int, policy: Policy | None, reports: Reports
    ) -> None:
        self.spec = spec
        self._start = partial(_Worker, spec, environment, policy)
        self._reports = reports
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
            return [worker.process.pid for worker in self._all]

    def invoke(self, event: Any) -> Any:
        worker = self._acquire()
        try:
            return worker.invoke(event, self._reports)
        finally:
            with self._condition:
                if worker.process.poll() is None and not self._closed:
                    self._idle.append(worker)
                else:
                    self._all.discard(worker)
                    worker.stop()
                self._condition.notify()

    def _acquire(self) -> _Worker:
        with self._condition:
            while True:
                if self._closed:
                    raise InvocationError(self.spec.logical_id, "Runtime.Shutdown", "the runtime stopped")
                while self._idle:
                    worker = self._idle.pop()  # the most recently used, the warmest
                    if worker.process.poll() is None:
                        return worker
                    self._all.discard(worker)  # died while idle (e.g. the handler called exit)
                if len(self._all) < self._max_workers:
                    worker = self._start()
                    self._all.add(worker)
                    return worker
                self._condition.wait()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            workers, self._idle = list(self._all), []
            self._condition.notify_all()
        for worker in workers:
            worker.stop()


class LambdaService(AbstractContextManager["LambdaService"]):
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
                spec, config = self.spec(logical_id), self.config
                environment, policy = config.function_environment(spec), config.policies.get(logical_id)
                self._pools[logical_id] = FunctionPool(
                    spec, environment, config.max_workers_per_function, policy, self.reports
                )
            return self._pools[logical_id]

    def invoke(self, logical_id: str, event: Any) -> Any:
        with self._lock:
            self.invocations[logical_id] += 1
        return self.pool(logical_id).invoke(event)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
