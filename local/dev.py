"""`make dev`: the whole API on http://127.0.0.1:$API_PORT over DynamoDB Local, until Ctrl-C.

API_PORT (3000), DDB_PORT (8000) and DDB_ENDPOINT (use a running DynamoDB instead) configure it;
data is kept in .local/dynamodb (`make dev-reset` deletes it).
"""

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from local.config import LocalConfig
from local.dynamodb_local import configured_endpoint, create_tables, dynamodb_client, dynamodb_endpoint
from local.gateway import Gateway
from local.lambdas import LambdaService
from local.loader import ROOT
from local.streams import StreamPoller
from local.token import mint_token

STATE_DIR = ROOT / ".local"
DEV_USERS = (("student", "dev-student"), ("instructor", "dev-instructor"), ("admin", "dev-admin"))
DEV_TOKEN_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LocalApi:
    url: str
    ddb_endpoint: str
    lambdas: LambdaService
    gateway: Gateway
    poller: StreamPoller


@contextmanager
def running_api(
    api_port: int,
    ddb_port: int,
    db_path: Path | None,
    external_ddb: str | None = None,
    state_dir: Path = STATE_DIR,
    host: str = "127.0.0.1",
) -> Iterator[LocalApi]:
    """DynamoDB Local with the template's tables, the functions, the stream poller and the gateway;
    everything is stopped on exit, in reverse order, even after an error."""
    with ExitStack() as stack:
        endpoint = stack.enter_context(dynamodb_endpoint(ddb_port, db_path, external_ddb))
        config = LocalConfig.from_env(endpoint, state_dir)
        create_tables(dynamodb_client(endpoint, config.region), config.parameters)
        lambdas = stack.enter_context(LambdaService(config))
        poller = StreamPoller(lambdas, endpoint)
        poller.start()
        stack.callback(poller.stop)
        gateway = Gateway(lambdas, host, api_port)
        gateway.start()
        stack.callback(gateway.stop)
        yield LocalApi(gateway.url, endpoint, lambdas, gateway, poller)


def banner(api: LocalApi) -> str:
    lines = [
        f"LMS API on {api.url}  (HTTP API $default stage: routes at the root)",
        f"DynamoDB at {api.ddb_endpoint}",
        "Dev tokens, valid 24 h:",
    ]
    for role, sub in DEV_USERS:
        token = mint_token(sub, role, DEV_TOKEN_TTL_SECONDS)
        lines.append(f"  export {role.upper()}_TOKEN={token}  # sub {sub}")
    lines.append(f'Try: curl -H "Authorization: Bearer $STUDENT_TOKEN" {api.url}/enrollments')
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    with running_api(
        api_port=int(os.environ.get("API_PORT", "3000")),
        ddb_port=int(os.environ.get("DDB_PORT", "8000")),
        db_path=STATE_DIR / "dynamodb",
        external_ddb=configured_endpoint(),
    ) as api:
        print(banner(api), flush=True)
        _wait_for_signal()
        print("Stopping…", flush=True)


if __name__ == "__main__":
    main()
