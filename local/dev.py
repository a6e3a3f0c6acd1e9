"""`make dev`: the whole API on http://127.0.0.1:$API_PORT over DynamoDB Local, until Ctrl-C.

API_PORT (3000), DDB_PORT (8000) and DDB_ENDPOINT (use a running DynamoDB instead) configure it;
data is kept in .local/dynamodb (`make dev-reset` deletes it). Domain events go through the local
EventBridge (local.eventbus, every event in .local/events.jsonl) to Ralph, the local LRS (local.lrs:
LRS_PORT, LRS_USER, LRS_PASSWORD); scheduled functions run on their rate (local.schedules).
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

from local.config import LocalConfig
from local.dynamodb_local import create_tables, dynamodb_client, dynamodb_endpoint
from local.eventbus import LocalEventBus
from local.gateway import Gateway
from local.lambdas import LambdaService
from local.loader import ROOT
from local.lrs import DEFAULT_PASSWORD, DEFAULT_USER, RunningLrs, running_lrs
from local.schedules import Scheduler
from local.streams import StreamPoller
from local.token import mint_token

STATE_DIR = ROOT / ".local"
DEV_USERS = (("student", "dev-student"), ("instructor", "dev-instructor"), ("admin", "dev-admin"))


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
    """DynamoDB Local with the template's tables, the functions, the local EventBridge, the stream
    poller, the schedules and the gateway; all stopped on exit, in reverse order, even after an error."""
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
        poller, gateway = StreamPoller(lambdas, endpoint), Gateway(lambdas, host, api_port)
        for service in (poller, Scheduler(lambdas), gateway):
            service.start()
            stack.callback(service.stop)
        yield LocalApi(gateway.url, endpoint, lambdas, gateway, poller, bus, lrs)


def banner(api: LocalApi) -> str:
    lines = [
        f"LMS API on {api.url}  (HTTP API $default stage: routes at the root)",
        f"DynamoDB at {api.ddb_endpoint}",
        f"EventBridge (PutEvents) at {api.bus.endpoint}; every event in {api.bus.events_path}",
        "Dev tokens, valid 24 h:",
        *(f"  export {role.upper()}_TOKEN={mint_token(sub, role, 24 * 3600)}  # sub {sub}" for role, sub in DEV_USERS),
        f'Try: curl -H "Authorization: Bearer $STUDENT_TOKEN" {api.url}/enrollments',
    ]
    if (lrs := api.lrs) is not None:
        lines.append(f"xAPI LRS (Ralph) at {lrs.xapi_url}  (Basic auth {lrs.user} / {lrs.password})")
        lines.append(
            f"  curl -u {lrs.user}:{lrs.password} -H 'X-Experience-API-Version: 1.0.3' {lrs.xapi_url}/statements"
        )
    return "\n".join([*lines, "Ctrl-C stops everything."])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    lrs_user, lrs_password = os.environ.get("LRS_USER", DEFAULT_USER), os.environ.get("LRS_PASSWORD", DEFAULT_PASSWORD)
    with (
        running_lrs(int(os.environ.get("LRS_PORT", "8100")), lrs_user, lrs_password, STATE_DIR) as lrs,
        running_api(
            api_port=int(os.environ.get("API_PORT", "3000")),
            ddb_port=int(os.environ.get("DDB_PORT", "8000")),
            db_path=STATE_DIR / "dynamodb",
            external_ddb=os.environ.get("DDB_ENDPOINT") or None,
            lrs=lrs,
        ) as api,
    ):
        print(banner(api), flush=True)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        print("Stopping…", flush=True)


if __name__ == "__main__":
    main()
