"""Local settings and the environment each function runs with, derived from template.yaml."""

import json
import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from local.iam import Policy, function_policies
from local.loader import ROOT
from local.template import FunctionSpec, function_specs
from local.token import DEFAULT_JWT_SETTINGS
from tools.template import Stack, expand

LOCAL_CURSOR_SECRET = "local-cursor-signing-key"  # noqa: S105 - a local-only key, by design
LOCAL_ERASURE_KEY = "local-erasure-hash-key"
# Variables a developer may set in their own shell to change what every function sees.
DEVELOPER_OVERRIDABLE = ("CURSOR_SECRET", "ERASURE_KEY", *DEFAULT_JWT_SETTINGS)
_APPEND_LOCK = threading.Lock()


@dataclass(frozen=True)
class LocalConfig:
    ddb_endpoint: str
    region: str = "us-east-1"
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    max_workers_per_function: int = 4
    state_dir: Path = ROOT / ".local"
    events_endpoint: str | None = None  # the local EventBridge (local.eventbus), when it runs

    @classmethod
    def from_env(cls, ddb_endpoint: str, state_dir: Path = ROOT / ".local") -> "LocalConfig":
        """PARAMETER_OVERRIDES="LogLevel=DEBUG Stage=dev" works like `sam --parameter-overrides`."""
        return cls(
            ddb_endpoint=ddb_endpoint,
            state_dir=state_dir,
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            parameter_overrides=dict(
                i.split("=", 1) for i in os.environ.get("PARAMETER_OVERRIDES", "").split() if "=" in i
            ),
            max_workers_per_function=int(os.environ.get("LOCAL_MAX_WORKERS", "4")),
        )

    @cached_property
    def stack(self) -> Stack:
        """What template.yaml creates with these parameters, in this region."""
        return expand(self.parameter_overrides, self.region)

    @cached_property
    def functions(self) -> dict[str, FunctionSpec]:
        return function_specs(self.stack)

    @cached_property
    def policies(self) -> dict[str, Policy]:
        """Each template function's execution role, as `sam deploy` would create it (a function the
        template does not define, a test probe, has none: IAM is not checked)."""
        return function_policies(self.stack)

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What a Lambda execution environment of `spec` sees, nothing from the host but PATH/LANG.

        Layering, later wins: Lambda's reserved variables, local stand-ins for cloud-only settings,
        the template's variables, the local endpoint and dummy credentials, the developer's overrides.
        """
        reserved = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "LAMBDA_TASK_ROOT": str((ROOT / spec.code_uri).resolve()),
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if spec.snap_start else "on-demand",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",  # logs reach the dev console as they are written
            "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only on Lambda: no __pycache__ in functions/
        } | ({"AWS_LAMBDA_LOG_LEVEL": spec.log_level} if spec.log_level else {})
        local_aws = {
            "AWS_ENDPOINT_URL_DYNAMODB": self.ddb_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.ddb_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            # Never let ~/.aws (profiles, endpoints, credentials) leak into a function.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POWERTOOLS_TRACE_DISABLED": "true",
        } | ({"AWS_ENDPOINT_URL_EVENTBRIDGE": self.events_endpoint} if self.events_endpoint else {})
        return {
            **{name: os.environ[name] for name in ("PATH", "LANG") if name in os.environ},
            **reserved,
            "CURSOR_SECRET": LOCAL_CURSOR_SECRET,
            "ERASURE_KEY": LOCAL_ERASURE_KEY,
            **DEFAULT_JWT_SETTINGS,
            **spec.environment,
            **local_aws,
            **{name: os.environ[name] for name in DEVELOPER_OVERRIDABLE if name in os.environ},
        }


def append_line(path: Path, entry: Any) -> None:
    """One JSON line more in a local state file (.local/*.jsonl), whole even with writers in threads."""
    with _APPEND_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
