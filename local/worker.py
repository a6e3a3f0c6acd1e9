"""One Lambda execution environment: `python -m local.worker '<argument(spec, policy)>'`.

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
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from local.context import LambdaContext
from local.iam import Enforcer, Policy
from local.loader import LAYER_PATH, ROOT, Handler, load_module
from local.template import FunctionSpec


def argument(spec: FunctionSpec, policy: Policy | None) -> str:
    """What the parent tells a worker: its function and its role (None: no IAM, for test probes)."""
    return json.dumps({"spec": asdict(spec), "policy": asdict(policy) if policy else None})


def from_argument(text: str) -> tuple[FunctionSpec, Policy | None]:
    parsed = json.loads(text)
    policy = parsed["policy"]
    return FunctionSpec(**parsed["spec"]), Policy(
        **policy | {"statements": tuple(policy["statements"])}
    ) if policy else None


class ExecutionEnvironment:
    """Imports and runs one function's handler."""

    def __init__(self, spec: FunctionSpec, policy: Policy | None = None) -> None:
        self.spec = spec
        self.code_dir = (ROOT / spec.code_uri).resolve()
        self._handler: Handler | None = None
        # Before the handler is imported, so every client it creates is checked.
        self._enforcer = Enforcer(policy, os.environ.get("AWS_REGION", "us-east-1")) if policy else None
        if self._enforcer:
            self._enforcer.install()
        # The function sees its code directory and the layer, as /var/task and /opt/python on Lambda,
        # and not the repository (so it cannot import `local` or `tests` by accident).
        sys.path[:] = [str(self.code_dir), str(LAYER_PATH), *(p for p in sys.path if Path(p or ".").resolve() != ROOT)]

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
        """Run one invocation and describe its outcome as a protocol line, with what Lambda's REPORT
        line tells (its duration) and what IAM checked; the traceback goes to the log (stderr) only."""
        started = time.monotonic()
        try:
            outcome: dict[str, Any] = {"result": self.invoke(event, request_id)}
        except Exception as exc:
            traceback.print_exc()
            outcome = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}
        report: dict[str, Any] = {"durationMs": round((time.monotonic() - started) * 1000, 1)}
        report |= {"iam": self._enforcer.take_counts()} if self._enforcer else {}
        try:
            return json.dumps({**outcome, **report}, default=_decimal_default)
        except MarshalError as exc:
            traceback.print_exc()
            return json.dumps({"error": {"errorType": "Runtime.MarshalError", "errorMessage": str(exc)}, **report})


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
    environment = ExecutionEnvironment(*from_argument(sys.argv[1]))
    protocol_in, protocol_out = _protocol_streams()
    for line in protocol_in:
        request = json.loads(line)
        protocol_out.write(environment.invoke_to_line(request["event"], request["requestId"]) + "\n")
        protocol_out.flush()


if __name__ == "__main__":
    main()
