"""Ralph, a real Learning Record Store, on this machine: its file-system backend, Basic auth with dev
credentials, run from its own venv (.venv-lrs, `make` installs it from requirements-lrs.txt).

LRS_PORT (8100), LRS_USER and LRS_PASSWORD (below) configure it for `make dev`.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from local.loader import ROOT
from local.polling import poll_until
from local.ports import is_listening, terminate

LRS_VENV = ROOT / ".venv-lrs"
# The name the template's LrsCredentialsSecret parameter gets locally; local.eventbus resolves the
# connection's dynamic references to it from the credentials below.
LOCAL_SECRET_NAME = "lms-local-lrs-credentials"  # noqa: S105 - a secret name, not a secret
STARTUP_TIMEOUT_SECONDS = 60
DEFAULT_USER = "lms"
DEFAULT_PASSWORD = "local-lrs-secret"  # noqa: S105 - a dev-only credential, by design


@dataclass(frozen=True)
class RunningLrs:
    host: str
    port: int
    user: str
    password: str

    @property
    def xapi_url(self) -> str:
        """The xAPI base: statements live at <xapi_url>/statements."""
        return f"http://{self.host}:{self.port}/xAPI"

    def parameter_overrides(self) -> dict[str, str]:
        return {"LrsEndpoint": self.xapi_url, "LrsCredentialsSecret": LOCAL_SECRET_NAME}

    def secrets(self) -> dict[str, dict[str, str]]:
        return {LOCAL_SECRET_NAME: {"username": self.user, "password": self.password}}


@contextmanager
def running_lrs(port: int, user: str, password: str, state_dir: Path, host: str = "127.0.0.1") -> Iterator[RunningLrs]:
    """Ralph with its statements in `state_dir`/lrs, stopped on exit."""
    ralph = LRS_VENV / "bin" / "ralph"
    if not ralph.exists():
        raise RuntimeError(f"Ralph is not installed in {LRS_VENV}: run `make {LRS_VENV.name}/.installed`")
    if is_listening(port, host):
        raise RuntimeError(f"port {port} is taken: set LRS_PORT to a free port")
    app_dir = state_dir / "lrs"
    app_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        "PATH": f"{LRS_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        "RALPH_APP_DIR": str(app_dir),
        "RALPH_AUTH_FILE": str(app_dir / "auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(app_dir / "statements"),
        "RALPH_SENTRY_DSN": "",
    }
    (app_dir / "auth.json").unlink(missing_ok=True)  # `ralph auth -w` appends: one user, always fresh
    subprocess.run(  # noqa: S603 - the venv's own ralph
        [str(ralph), "auth", "-u", user, "-p", password, "-s", "all", "-M", "mailto:lms-dev@example.org", "-w"],
        env=environment,
        check=True,
        capture_output=True,
    )
    log_path = state_dir / "lrs.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            # -P: local/ (whose token.py would shadow the stdlib module) stays off sys.path
            [str(LRS_VENV / "bin" / "python"), "-P", str(ROOT / "local" / "ralph_server.py"), host, str(port)],
            env=environment,
            cwd=app_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        poll_until(
            lambda: process.poll() is not None or is_listening(port, host),
            timeout=STARTUP_TIMEOUT_SECONDS,
            interval=0.1,
            what=f"Ralph listening on {host}:{port}",
        )
        if process.poll() is not None:
            raise RuntimeError(f"Ralph exited with {process.returncode}: see {log_path}")
        yield RunningLrs(host, port, user, password)
    finally:
        terminate(process)
