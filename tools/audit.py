"""`make infra-check`: pip-audit over every pinned requirements file (exact pins, no resolution).

Offline or behind a registry mirror, the vulnerability service cannot audit anything: then the audit
is skipped with a message (and a zero exit), not failed; any vulnerability it does find fails.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = (
    "layers/common/requirements.txt",
    "requirements-dev.txt",
    "requirements-sam.txt",
    "requirements-infra.txt",
)


def main() -> int:
    command = [str(Path(sys.executable).with_name("pip-audit")), "--no-deps", "--disable-pip", "--format", "json"]
    command += ["--progress-spinner", "off"]
    for requirements in REQUIREMENTS:
        command += ["-r", str(ROOT / requirements)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit skipped: the vulnerability service could not be reached ({last_line})")
        return 0
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"{dependency['name']}=={dependency['version']}: {ids}")
    if not audited:
        print(f"pip-audit skipped: the vulnerability service could audit none of the {len(dependencies)} pins here")
        return 0
    skipped = len(dependencies) - len(audited)
    print(f"pip-audit: {len(audited)} pins audited, {len(vulnerable)} vulnerable, {skipped} not found by the service")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
