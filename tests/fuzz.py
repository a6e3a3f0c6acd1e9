"""Property-based fuzzing of the whole API from openapi.json (schemathesis) against the local
runtime: no request, whatever it holds, may produce a 5xx. Run as each role, so every permission
path is exercised.

`make fuzz` (part of `make test`); FUZZ_EXAMPLES sets the examples per operation (default 25).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from local.dev import running_api
from local.loader import ROOT
from local.ports import free_port
from local.token import mint_token

ROLES = ("student", "instructor", "admin")

# Schemathesis keeps integers within the schema's bounds; Python converts at most 4,300 digits to an
# int, and json.loads once raised past that (a 500, issue 16). Every route with a body gets such
# bodies explicitly, as each role.
TOO_LONG_INTEGER = "9" * 4_301
BODIES_WITH_A_TOO_LONG_INTEGER = ('{"unknown": ' + TOO_LONG_INTEGER + "}", "[-" + TOO_LONG_INTEGER + "]")


def too_long_integers(url: str, token: str) -> list[str]:
    """The operations of openapi.json that answer a body holding a 4,301-digit integer with anything
    but a 400 or 422 (the ids in the path need not exist: the body is parsed first)."""
    document = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    failures = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            for body in BODIES_WITH_A_TOO_LONG_INTEGER:
                status = requests.request(
                    method,
                    url + re.sub(r"\{[^}]+\}", "x1", path),
                    data=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    timeout=30,
                ).status_code
                if status not in (400, 422):
                    failures.append(f"{method.upper()} {path}: {status} to a {len(TOO_LONG_INTEGER)}-digit integer")
                    break
    return failures


def own_data(url: str, token: str, user_id: str) -> list[str]:
    """The learner data routes on the caller's own id, which schemathesis's random ids (404) rarely
    reach: the export's pages with every `limit`, the erasure asked twice and read (no 5xx)."""
    failures = []
    headers = {"Authorization": f"Bearer {token}"}
    calls: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", f"/users/{user_id}/export", {"limit": str(limit)}) for limit in (1, 7, 100)
    ]
    calls += [("GET", f"/users/{user_id}/export", {"cursor": "x"}), ("GET", f"/users/{user_id}/erasure", None)]
    calls += [("DELETE", f"/users/{user_id}", None)] * 2 + [("GET", f"/users/{user_id}/erasure", None)]
    for method, path, params in calls:
        status = requests.request(method, url + path, params=params, headers=headers, timeout=30).status_code
        if status >= 500:
            failures.append(f"{method} {path} {params or ''}: {status}")
    return failures


def main() -> int:
    examples = os.environ.get("FUZZ_EXAMPLES", "25")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    failed = []
    with tempfile.TemporaryDirectory() as state, running_api(0, free_port(), None, state_dir=Path(state)) as api:
        for role in ROLES:
            token = mint_token(f"fuzz-{role}", role)
            command = [
                str(schemathesis),
                "run",
                str(ROOT / "openapi.json"),
                "--url",
                api.url,
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                examples,
                "--workers",
                "2",
            ]
            print(f"== fuzzing as {role}", flush=True)
            if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - our own tool and arguments
                failed.append(role)
            if too_long := too_long_integers(api.url, token):
                print("\n".join(too_long), flush=True)
                failed.append(f"{role} (integers of more than 4,300 digits)")
            if own := own_data(api.url, token, f"fuzz-{role}"):
                print("\n".join(own), flush=True)
                failed.append(f"{role} (its own learner data)")
        iam = api.lambdas.reports.iam_calls
        print(f"local IAM: {iam['checked']} AWS calls checked, {iam['denied']} denied", flush=True)
        if iam["denied"]:
            failed.append("IAM (a function was refused an action it needs: fix its policy in template.yaml)")
    if failed:
        print(f"server errors found as: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
