"""Amazon EventBridge, locally: the template's event buses and rules behind an HTTP endpoint that
speaks the PutEvents JSON protocol, so functions reach it through botocore's endpoint override
(AWS_ENDPOINT_URL_EVENTBRIDGE: botocore names it after the service id) on the same code path as on AWS.

What a received event goes through, as on EventBridge: it is appended in EventBridge's event shape to
.local/events.jsonl, matched against every rule of its bus (event patterns: tools.event_filters), transformed
per target (InputTransformer: InputPathsMap + InputTemplate, see `transform`) and delivered
asynchronously to the target's API destination: the connection's Basic auth and header parameters, a
5 s timeout, retries with backoff for 401/407/409/429/5xx and network errors within the target's
RetryPolicy, then the dead-letter file (.local/eventbus-dlq.jsonl) when the target has a
DeadLetterConfig. Only API destination targets are emulated; any other target fails at load.

Connection credentials written as `{{resolve:secretsmanager:<secret>:SecretString:<key>}}` are read
from the local secrets given to the bus, as CloudFormation reads them from Secrets Manager.
"""

import base64
import json
import logging
import queue
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.config import LocalConfig
from tools.event_filters import EventPattern, load_pattern
from tools.template import ACCOUNT_ID, Stack

log = logging.getLogger("local.eventbus")

MAX_ENTRIES_PER_REQUEST = 10
API_DESTINATION_TIMEOUT_SECONDS = 5  # EventBridge's own limit for an API destination call
RETRYABLE_STATUSES = frozenset({401, 407, 409, 429})
MAX_BACKOFF_SECONDS = 2.0
_DYNAMIC_SECRET = re.compile(r"^\{\{resolve:secretsmanager:(?P<secret>.+):SecretString:(?P<key>[^:}]+)\}\}$")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


# ---------------------------------------------------------------------- the template's rules


@dataclass(frozen=True)
class ApiDestination:
    name: str
    endpoint: str
    method: str
    headers: dict[str, str]
    basic_auth: tuple[str, str] | None


@dataclass(frozen=True)
class Target:
    id: str
    destination: ApiDestination
    input_paths: dict[str, str] | None  # None: no InputTransformer, the whole event is sent
    input_template: str | None
    maximum_retry_attempts: int = 185  # RetryPolicy's (its MaximumEventAgeInSeconds is not emulated)
    dead_letter: bool = False


@dataclass(frozen=True)
class Rule:
    name: str
    bus_name: str
    pattern: EventPattern
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class BusSpec:
    bus_names: frozenset[str]
    rules: tuple[Rule, ...]


def bus_spec(config: LocalConfig, secrets: Mapping[str, Mapping[str, str]]) -> BusSpec:
    """The buses and the rules of the stack template.yaml creates with these parameters."""
    stack = config.stack
    resources = {
        logical_id: (resource["Type"], resource.get("Properties", {}))
        for logical_id, resource in stack.resources.items()
        if resource["Type"].startswith("AWS::Events::")
    }
    buses = frozenset(
        stack.names[lid]["Ref"] for lid, (kind, _) in resources.items() if kind == "AWS::Events::EventBus"
    )
    rules = tuple(
        Rule(
            props["Name"],
            props.get("EventBusName", "default"),
            load_pattern(json.dumps(props["EventPattern"])),
            tuple(_target(props["Name"], target, stack, resources, secrets) for target in props.get("Targets", [])),
        )
        for kind, props in resources.values()
        if kind == "AWS::Events::Rule" and props.get("State", "ENABLED") == "ENABLED"
    )
    return BusSpec(buses | {"default"}, rules)


def _target(
    rule: str,
    props: dict[str, Any],
    stack: Stack,
    resources: dict[str, tuple[str, dict[str, Any]]],
    secrets: Mapping[str, Mapping[str, str]],
) -> Target:
    kind, destination = resources.get(stack.logical_id(props["Arn"]), ("", {}))
    if kind != "AWS::Events::ApiDestination":
        raise ValueError(f"rule {rule}: only API destination targets are emulated, not {props['Arn']}")
    _, connection = resources[stack.logical_id(destination["ConnectionArn"])]
    transformer = props.get("InputTransformer")
    retry = props.get("RetryPolicy", {})
    return Target(
        id=props["Id"],
        destination=ApiDestination(
            name=destination["Name"],
            endpoint=destination["InvocationEndpoint"],
            method=destination["HttpMethod"],
            headers={str(h["Key"]): str(h["Value"]) for h in _header_parameters(connection)},
            basic_auth=_basic_auth(rule, connection, secrets),
        ),
        input_paths=transformer.get("InputPathsMap", {}) if transformer else None,
        input_template=transformer["InputTemplate"] if transformer else None,
        maximum_retry_attempts=int(retry.get("MaximumRetryAttempts", 185)),
        dead_letter="DeadLetterConfig" in props,
    )


def _header_parameters(connection: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = (
        connection.get("AuthParameters", {}).get("InvocationHttpParameters", {}).get("HeaderParameters", [])
    )
    return parameters


def _basic_auth(
    rule: str, connection: dict[str, Any], secrets: Mapping[str, Mapping[str, str]]
) -> tuple[str, str] | None:
    if connection.get("AuthorizationType") != "BASIC":
        raise ValueError(f"rule {rule}: only BASIC connections are emulated")
    basic = connection["AuthParameters"]["BasicAuthParameters"]
    return _secret_value(basic["Username"], secrets), _secret_value(basic["Password"], secrets)


def _secret_value(value: str, secrets: Mapping[str, Mapping[str, str]]) -> str:
    match = _DYNAMIC_SECRET.match(value)
    if match is None:
        return value
    secret = secrets.get(match["secret"])
    if secret is None or match["key"] not in secret:
        raise ValueError(f"secret {match['secret']!r} (key {match['key']!r}) is not known locally")
    return secret[match["key"]]


# ---------------------------------------------------------------------- input transformer


def json_path(event: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a dot/index path such as $.detail.userId or $.resources[0]."""
    value = event
    for step in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        key, index = step
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return True, value


def transform(event: dict[str, Any], target: Target) -> str:
    """What the target receives: the event itself, or the (JSON) InputTemplate filled in the way
    EventBridge fills it: a placeholder inside a string literal takes the value's text with JSON
    escaping (a string without its quotes); outside quotes it takes the value as JSON. A path the
    event lacks leaves an empty text in quotes, null outside. (The template uses no text template
    and no predefined `aws.events.*` variable: neither is emulated.)"""
    if target.input_paths is None or target.input_template is None:
        return json.dumps(event)
    values = {name: json_path(event, path) for name, path in target.input_paths.items()}
    template = target.input_template
    output: list[str] = []
    in_string = escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        placeholder = _PLACEHOLDER.match(template, position) if char == "<" else None
        if placeholder and placeholder[1] in values:
            found, value = values[placeholder[1]]
            output.append(_render(found, value, quoted=in_string))
            position = placeholder.end()
            continue
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = in_string
        elif char == '"':
            in_string = not in_string
        output.append(char)
        position += 1
    return "".join(output)


def _render(found: bool, value: Any, quoted: bool) -> str:
    if not found:
        return "" if quoted else "null"
    text = json.dumps(value, ensure_ascii=False)
    if quoted:
        # Inside a JSON string: the string's own escaped content, or the escaped JSON of anything else.
        return text[1:-1] if isinstance(value, str) else json.dumps(text, ensure_ascii=False)[1:-1]
    return text


# ---------------------------------------------------------------------- the bus


@dataclass
class _Delivery:
    event: dict[str, Any]
    rule: Rule
    target: Target
    attempts: int = 0


class PutEventsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LocalEventBus:
    """The template's buses on http://host:port (port 0 picks a free one; see `endpoint`)."""

    def __init__(
        self,
        config: LocalConfig,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.spec = bus_spec(config, secrets or {})
        self.region = config.region
        self.events_path: Path = config.state_dir / "events.jsonl"
        self.dlq_path: Path = config.state_dir / "eventbus-dlq.jsonl"
        self.stats: Counter[str] = Counter()
        self._fail_next_entries = 0
        self._lock = threading.Lock()
        self._deliveries: queue.Queue[_Delivery | None] = queue.Queue()
        self._server = _Server((host, port), self)
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True),
            threading.Thread(target=self._deliver_forever, name="eventbus-delivery", daemon=True),
        ]

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if self._threads[0].is_alive():  # shutdown() would wait forever for a server never started
            self._server.shutdown()
        self._deliveries.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=API_DESTINATION_TIMEOUT_SECONDS + 1)
        self._server.server_close()

    def fail_next_entries(self, count: int) -> None:
        """Answer the next `count` entries with InternalFailure, as EventBridge sometimes does."""
        with self._lock:
            self._fail_next_entries = count

    # ------------------------------------------------------------------ PutEvents

    def put_events(self, request: dict[str, Any]) -> dict[str, Any]:
        entries = request.get("Entries")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES_PER_REQUEST:
            raise PutEventsError("ValidationException", "Entries must hold between 1 and 10 entries")
        results = [self._put_entry(entry) for entry in entries]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    def _put_entry(self, entry: dict[str, Any]) -> dict[str, str]:
        with self._lock:
            injected = self._fail_next_entries > 0
            self._fail_next_entries -= int(injected)
        if injected:
            self._count("entries_failed")
            return {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service error (injected locally)."}
        try:
            event = self._event(entry)
        except PutEventsError as error:
            self._count("entries_failed")
            return {"ErrorCode": error.code, "ErrorMessage": str(error)}
        self._record(event)
        for rule in self.spec.rules:
            if rule.bus_name == event["_bus"] and rule.pattern.matches_event(event["body"]):
                for target in rule.targets:
                    self._deliveries.put(_Delivery(event["body"], rule, target))
        return {"EventId": event["body"]["id"]}

    def _event(self, entry: dict[str, Any]) -> dict[str, Any]:
        bus = str(entry.get("EventBusName") or "default").rpartition("/")[2]
        if bus not in self.spec.bus_names:
            raise PutEventsError("ResourceNotFoundException", f"Event bus {bus} does not exist.")
        if not entry.get("Source") or not entry.get("DetailType"):
            raise PutEventsError("InvalidArgument", "Parameter(s) Source and DetailType are required.")
        try:
            detail = json.loads(entry.get("Detail", ""))
        except json.JSONDecodeError:
            detail = None
        if not isinstance(detail, dict):
            raise PutEventsError("MalformedDetail", "Detail is malformed.")
        at = datetime.fromtimestamp(float(entry["Time"]), UTC) if "Time" in entry else datetime.now(UTC)
        body = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": ACCOUNT_ID,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": list(entry.get("Resources", [])),
            "detail": detail,
        }
        return {"_bus": bus, "body": body}

    def _record(self, event: dict[str, Any]) -> None:
        self._count("events_received")
        with self._lock:
            self.events_path.parent.mkdir(parents=True, exist_ok=True)
            with self.events_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(event["body"], separators=(",", ":")) + "\n")

    # ------------------------------------------------------------------ delivery

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _deliver_forever(self) -> None:
        while (delivery := self._deliveries.get()) is not None:
            self._attempt(delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        delivery.attempts += 1
        target = delivery.target
        try:
            body = transform(delivery.event, target)
            status = _call(target.destination, body)
        except OSError as error:
            status, reason = 0, str(error)
        else:
            reason = f"HTTP {status}"
        if 200 <= status < 300:
            self._count("deliveries_succeeded")
            return
        self._count("deliveries_failed")
        retryable = status == 0 or status >= 500 or status in RETRYABLE_STATUSES
        if retryable and delivery.attempts <= target.maximum_retry_attempts:
            # Queued again after a backoff; other deliveries go on meanwhile.
            backoff = min(MAX_BACKOFF_SECONDS, 0.1 * 2**delivery.attempts)
            retry = threading.Timer(backoff, self._deliveries.put, (delivery,))
            retry.daemon = True
            retry.start()
            log.warning("delivery to %s failed (%s); retrying", target.destination.name, reason)
            return
        log.error("delivery to %s failed (%s) after %d attempts", target.destination.name, reason, delivery.attempts)
        if target.dead_letter:
            self._dead_letter(delivery, reason)

    def _dead_letter(self, delivery: _Delivery, reason: str) -> None:
        self._count("dead_lettered")
        entry = {"rule": delivery.rule.name, "target": delivery.target.id, "error": reason, "event": delivery.event}
        with self._lock:
            self.dlq_path.parent.mkdir(parents=True, exist_ok=True)
            with self.dlq_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")


def _call(destination: ApiDestination, body: str) -> int:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Amazon/EventBridge/ApiDestinations",
        **destination.headers,
    }
    if destination.basic_auth is not None:
        token = base64.b64encode(":".join(destination.basic_auth).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(  # noqa: S310 - the template's own endpoint
        destination.endpoint, data=body.encode(), headers=headers, method=destination.method
    )
    try:
        with urllib.request.urlopen(request, timeout=API_DESTINATION_TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# ---------------------------------------------------------------------- the PutEvents endpoint


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], bus: LocalEventBus) -> None:
        super().__init__(address, _Handler)
        self.bus = bus


class _Handler(BaseHTTPRequestHandler):
    """The JSON 1.1 protocol botocore speaks to EventBridge: POST / with X-Amz-Target."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        operation = self.headers.get("X-Amz-Target", "").removeprefix("AWSEvents.")
        try:
            if operation != "PutEvents":
                raise PutEventsError("UnknownOperationException", f"{operation or 'no operation'} is not emulated")
            answer = self.server.bus.put_events(json.loads(body or b"{}"))
            self._reply(200, answer)
        except PutEventsError as error:
            self._reply(400, {"__type": error.code, "message": str(error)})
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            self._reply(400, {"__type": "SerializationException", "message": str(error)})

    def _reply(self, status: int, answer: dict[str, Any]) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)
