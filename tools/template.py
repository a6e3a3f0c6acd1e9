"""template.yaml as `sam deploy` creates it, read through SAM CLI's own tools: tools/sam_transform.py,
run with the SAM CLI's venv, expands the language extensions, applies the SAM transform and resolves
every intrinsic with local names and ARNs (account ACCOUNT_ID). The template is the only schema:
production tools, the local runtime and the tests all read it here.

An expansion is cached in .local/template/, keyed by the template, the parameters, the region, the
script and the SAM CLI's pins, so tests and worker processes run the SAM venv once per change, not
once per read.
"""

import copy
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SCRIPT = ROOT / "tools" / "sam_transform.py"
SAM_PINS = ROOT / "requirements-sam.txt"
CACHE_DIR = ROOT / ".local" / "template"
ACCOUNT_ID = "000000000000"
# Secrets Manager appends 6 random characters to a secret's name in its ARN.
SECRET_SUFFIX = "-AbCdEf"  # noqa: S105 - part of an ARN, not a secret
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Stack:
    """One expansion of the template (see tools/sam_transform.py for each part)."""

    source: dict[str, Any]  # the template as SAM parses it: the short-form tags in their long form
    parameters: dict[str, str]  # every parameter's value, its default unless given
    conditions: dict[str, bool]
    names: dict[str, dict[str, str]]  # logical id -> what its Ref ("Ref") and attributes stand for
    serverless: dict[str, Any]  # the resources after the language extensions (AWS::Serverless::* kept)
    resources: dict[str, Any]  # the CloudFormation resources after the SAM transform

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """The properties of every resource of a type, by logical id: SAM's types before the SAM
        transform, CloudFormation's after it."""
        resources = self.serverless if kind.startswith("AWS::Serverless::") else self.resources
        return {lid: r.get("Properties", {}) for lid, r in resources.items() if r["Type"] == kind}

    @cached_property
    def _ids(self) -> dict[str, str | None]:
        ids: dict[str, str | None] = {}
        for logical_id, values in self.names.items():
            for value in set(values.values()):
                ids[value] = None if value in ids else logical_id  # None: the name of several resources
        return ids

    def logical_id(self, name_or_arn: str) -> str:
        """The resource a resolved Ref or attribute (a queue's ARN, a role's name, ...) stands for."""
        found = self._ids[name_or_arn]
        if found is None:  # a table and the event bus are both lms-<stage>, for one
            raise KeyError(f"{name_or_arn} names several resources of the stack")
        return found


def expand(
    parameters: Mapping[str, str] | None = None,
    region: str = DEFAULT_REGION,
    template: dict[str, Any] | None = None,
) -> Stack:
    """The stack these parameter values (the others at their defaults) create in `region`, from
    template.yaml or from `template` (a modified copy of `source()`)."""
    request = {
        "template": template,
        "path": str(TEMPLATE_PATH),
        "parameters": dict(parameters or {}),
        "region": region,
        "account": ACCOUNT_ID,
        "secretSuffix": SECRET_SUFFIX,
        # SAM resolves policy names in Policies with this map; the template names none.
        "managedPolicies": {},
    }
    template_text = TEMPLATE_PATH.read_text(encoding="utf-8") if template is None else ""
    inputs = (
        json.dumps(request, sort_keys=True),
        template_text,
        SCRIPT.read_text(encoding="utf-8"),
        SAM_PINS.read_text(),
    )
    cached = CACHE_DIR / f"{hashlib.sha256(''.join(inputs).encode()).hexdigest()}.json"
    if not cached.exists():
        # Unsorted: the template's order is the order of its resources (and of the local functions).
        _write_atomically(cached, _run(json.dumps(request)))
    return Stack(**json.loads(cached.read_text(encoding="utf-8")))


def source() -> dict[str, Any]:
    """template.yaml as SAM parses it, a copy to modify (and to pass to `expand`)."""
    return copy.deepcopy(expand().source)


def _run(request: str) -> str:
    if not SAM_PYTHON.exists():
        raise FileNotFoundError(f"{SAM_PYTHON} not found: run `make install` (the template is read with SAM CLI)")
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        # -I: not local/ on sys.path (its token.py would shadow the standard library's).
        [str(SAM_PYTHON), "-I", str(SCRIPT)],
        input=request,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"expanding template.yaml failed: {completed.stderr.strip()[-2000:]}")
    return completed.stdout


def _write_atomically(path: Path, text: str) -> None:
    """Workers and test processes may expand at once: each writes its own file, then renames it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)
