"""`make dev`: the whole API on http://127.0.0.1:$API_PORT over DynamoDB Local, until Ctrl-C.

API_PORT (3000), DDB_PORT (8000) and DDB_ENDPOINT (use a running DynamoDB instead) configure it;
data is kept in .local/dynamodb (`make dev-reset` deletes it). Domain events go through the local
EventBridge (local.eventbus, every event in .local/events.jsonl) to Ralph, the local LRS (local.lrs:
LRS_PORT, LRS_USER, LRS_PASSWORD).
"""

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from local.config import LocalConfig
from local.dynamodb_local import configured_endpoint, create_tables, dynamodb_client, dynamodb_endpoint
from local.eventbus import LocalEventBus
from local.gateway import Gateway
from local.lambdas import LambdaService
from local.loader import ROOT
from local.lrs import RunningLrs, credentials_from_env, running_lrs
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
    bus: LocalEventBus
    lrs: RunningLrs | None = None


@contextmanager
def running_api(
    api_port: int,
    ddb_port: int,
    db_path: Path | None,
    external_ddb: str | None = None,
    state_dir: Path = STATE_DIR,
    host: str = "127.0.0.1",
    lrs: RunningLrs | None = None,
) -> Iterator[LocalApi]:
    """DynamoDB Local with the template's tables, the functions, the stream poller and the gateway;
    everything is stopped on exit, in reverse order, even after an error."""
    with ExitStack() as stack:
        endpoint = stack.enter_context(dynamodb_endpoint(ddb_port, db_path, external_ddb))
        config = LocalConfig.from_env(endpoint, state_dir)
        if lrs is not None:  # the template's LRS parameters point at it; PARAMETER_OVERRIDES still win
            config = replace(config, parameter_overrides=lrs.parameter_overrides() | config.parameter_overrides)
        bus = LocalEventBus(config, lrs.secrets() if lrs else {})
        bus.start()
        stack.callback(bus.stop)
        config = replace(config, events_endpoint=bus.endpoint)
        create_tables(dynamodb_client(endpoint, config.region), config.stack)
        lambdas = stack.enter_context(LambdaService(config))
        poller = StreamPoller(lambdas, endpoint)
        poller.start()
        stack.callback(poller.stop)
        gateway = Gateway(lambdas, host, api_port)
        gateway.start()
        stack.callback(gateway.stop)
        yield LocalApi(gateway.url, endpoint, lambdas, gateway, poller, bus, lrs)


def banner(api: LocalApi) -> str:
    lines = [
        f"LMS API on {api.url}  (HTTP API $default stage: routes at the root)",
        f"DynamoDB at {api.ddb_endpoint}",
        f"EventBridge (PutEvents) at {api.bus.endpoint}; every event in {api.bus.events_path}",
        "Dev tokens, valid 24 h:",
    ]
    for role, sub in DEV_USERS:
        token = mint_token(sub, role, DEV_TOKEN_TTL_SECONDS)
        lines.append(f"  export {role.upper()}_TOKEN={token}  # sub {sub}")
    lines.append(f'Try: curl -H "Authorization: Bearer $STUDENT_TOKEN" {api.url}/enrollments')
    if api.lrs is not None:
        lrs = api.lrs
        lines.append(f"xAPI LRS (Ralph) at {lrs.xapi_url}  (Basic auth {lrs.user} / {lrs.password})")
        lines.append(
            f"  curl -u {lrs.user}:{lrs.password} -H 'X-Experience-API-Version: 1.0.3' {lrs.xapi_url}/statements"
        )
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
    lrs_port, lrs_user, lrs_password = credentials_from_env()
    with (
        running_lrs(lrs_port, lrs_user, lrs_password, STATE_DIR) as lrs,
        running_api(
            api_port=int(os.environ.get("API_PORT", "3000")),
            ddb_port=int(os.environ.get("DDB_PORT", "8000")),
            db_path=STATE_DIR / "dynamodb",
            external_ddb=configured_endpoint(),
            lrs=lrs,
        ) as api,
    ):
        print(banner(api), flush=True)
        _wait_for_signal()
        print("Stopping…", flush=True)


if __name__ == "__main__":
    main()
