"""Powertools Logger, Tracer and Metrics, configured by the POWERTOOLS_* environment variables.

The X-Ray SDK is loaded only where traces are recorded: in Lambda, unless POWERTOOLS_TRACE_DISABLED
(Powertools' own rule). Elsewhere (tests, the local runtime, `sam local`) the tracer is a stand-in
whose decorators return the function unchanged, because Powertools' Tracer imports the SDK even when
it is disabled. Where traces are recorded, only botocore is patched: it is the one library this code
calls out through, and patching every supported library imports each of them (sqlite3, httplib...).
"""

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.shared.functions import strtobool


def tracing_enabled() -> bool:
    """Whether Powertools would record traces here: in Lambda (not SAM's emulator) and not disabled."""
    if strtobool(os.environ.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL")


class UntracedTracer:
    """The part of Tracer the handlers use, recording nothing and importing nothing."""

    def capture_method[F: Callable[..., Any]](self, method: F) -> F:
        return method

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any]) -> Callable[..., Any]:
        return lambda_handler


logger = Logger()
tracer: Tracer | UntracedTracer = Tracer(patch_modules=["botocore"]) if tracing_enabled() else UntracedTracer()
metrics = Metrics()
