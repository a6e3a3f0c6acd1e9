"""Property-based fuzzing of the whole API from openapi.json (schemathesis) against the local
runtime: no request, whatever it holds, may produce a 5xx. Run as each role, so every permission
path is exercised.

`make fuzz` (part of `make test`); FUZZ_EXAMPLES sets the examples per operation (default 25).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from local.dev import running_api
from local.loader import ROOT
from local.ports import free_port
from local.token import mint_token

ROLES = ("student", "instructor", "admin")


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
        iam = api.lambdas.iam_calls
        print(f"local IAM: {iam['checked']} AWS calls checked, {iam['denied']} denied", flush=True)
        if iam["denied"]:
            failed.append("IAM (a function was refused an action it needs: fix its policy in template.yaml)")
    if failed:
        print(f"server errors found as: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
