"""One Lambda execution environment: `python -m local.worker '<FunctionSpec JSON>'`.

The parent (local.lambdas) starts it with the function's environment and sends one JSON line per
invocation on stdin; the answer comes back as one JSON line on the original stdout. Like on Lambda,
the handler is imported on the first invocation (cold start) and stays warm for the next ones.
"""

import decimal
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from local.context import LambdaContext
from local.iam import Enforcer, Policy
from local.loader import LAYER_PATH, ROOT, Handler, load_module
from local.template import FunctionSpec


class ExecutionEnvironment:
    """Imports and runs one function's handler; shared by the worker and `make invoke`."""

    def __init__(self, spec: FunctionSpec, policy: Policy | None = None) -> None:
        self.spec = spec
        self.code_dir = (ROOT / spec.code_uri).resolve()
        self._handler: Handler | None = None
        self._enforcer: Enforcer | None = None
        if policy is not None:
            # Before the handler is imported, so every client it creates is checked.
            self._enforcer = Enforcer(policy, os.environ.get("AWS_REGION", "us-east-1"))
            self._enforcer.install()

    def isolate_sys_path(self) -> None:
        """The function sees its code directory and the layer, as /var/task and /opt/python on Lambda,
        and not the repository (so it cannot import `local` or `tests` by accident)."""
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
        for path in (str(LAYER_PATH), str(self.code_dir)):
            if path not in sys.path:
                sys.path.insert(0, path)

    def invoke(self, event: Any, request_id: str) -> Any:
        if self._handler is None:
            _, self._handler = load_module(self.code_dir, self.spec.handler)
            if self.spec.snap_start:
                _snapshot_and_restore()
        context = LambdaContext(
            function_name=self.spec.name,
            memory_mb=self.spec.memory_mb,
            timeout_seconds=self.spec.timeout_seconds,
            aws_request_id=request_id,
            log_group_name=self.spec.log_group_name,
            log_stream_name=f"local/{os.getpid()}",
        )
        return self._handler(event, context)

    def invoke_to_line(self, event: Any, request_id: str) -> str:
        """Run one invocation and describe its outcome as a protocol line; the traceback goes to the
        log (stderr) only, as on Lambda."""
        started = time.monotonic()
        try:
            outcome: dict[str, Any] = {"result": self.invoke(event, request_id)}
        except Exception as exc:
            traceback.print_exc()
            outcome = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}
        report = self._report(started)
        try:
            return to_json({**outcome, **report})
        except MarshalError as exc:
            traceback.print_exc()
            return json.dumps({"error": {"errorType": "Runtime.MarshalError", "errorMessage": str(exc)}, **report})

    def _report(self, started: float) -> dict[str, Any]:
        """What travels with the answer for the parent to count, as Lambda's REPORT line: the
        invocation's duration, and what IAM checked during it."""
        iam = {"iam": self._enforcer.take_counts()} if self._enforcer else {}
        return {"durationMs": round((time.monotonic() - started) * 1000, 1), **iam}


def _snapshot_and_restore() -> None:
    """SnapStart's runtime hooks after the init, as Lambda's Python runtime runs them when it snapshots
    a published version and restores an environment from it: before-snapshot hooks in reverse order
    of registration, then after-restore hooks in order."""
    import snapshot_restore_py

    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        hook(*args, **kwargs)
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)


class MarshalError(TypeError):
    """The handler returned something that is not JSON."""


def _decimal_default(value: Any) -> Any:
    # What the Lambda Python runtime does with Decimal (boto3's number type); anything else fails.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise MarshalError(f"Unable to marshal response: {type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_decimal_default)


def _protocol_streams() -> tuple[TextIO, TextIO]:
    """Keep the protocol on private copies of fds 0/1 and point the real ones elsewhere, so a print()
    or a C extension writing to fd 1 ends up in the log (stderr) instead of corrupting the protocol."""
    protocol_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return protocol_in, protocol_out


def main() -> None:
    # Ctrl-C in the dev console reaches the whole process group; the parent decides when we stop
    # (it closes our stdin), so a stray SIGINT must not kill an invocation halfway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    policy = Policy.from_json(sys.argv[2]) if len(sys.argv) > 2 else None
    environment = ExecutionEnvironment(FunctionSpec.from_json(sys.argv[1]), policy)
    environment.isolate_sys_path()
    protocol_in, protocol_out = _protocol_streams()
    for line in protocol_in:
        request = json.loads(line)
        protocol_out.write(environment.invoke_to_line(request["event"], request["requestId"]) + "\n")
        protocol_out.flush()


if __name__ == "__main__":
    main()
