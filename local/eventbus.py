"""Amazon EventBridge, locally: the template's buses and event pattern rules behind an HTTP endpoint
speaking the PutEvents JSON protocol, reached through botocore's endpoint override
(AWS_ENDPOINT_URL_EVENTBRIDGE) on the same code path as on AWS. A received event is appended in
EventBridge's shape to .local/events.jsonl, matched against every rule of its bus (moto's matcher,
tools.event_filters), transformed per target and delivered asynchronously to the target's API
destination (the only target emulated): Basic auth and headers from the connection, a 5 s timeout,
retries with backoff for 401/407/409/429/5xx and network errors within the target's RetryPolicy,
then .local/eventbus-dlq.jsonl. `{{resolve:secretsmanager:...}}` credentials are read from the local
secrets given to the bus. Scheduled rules are local.schedules'.
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
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from local.config import LocalConfig, append_line
from local.ports import LocalServer
from tools.event_filters import EventPattern, load_pattern
from tools.template import ACCOUNT_ID

log = logging.getLogger("local.eventbus")

API_DESTINATION_TIMEOUT_SECONDS = 5  # EventBridge's own limit for an API destination call
RETRYABLE_STATUSES = frozenset({401, 407, 409, 429})
MAX_BACKOFF_SECONDS = 2.0
_DYNAMIC_SECRET = re.compile(r"^\{\{resolve:secretsmanager:(?P<secret>.+):SecretString:(?P<key>[^:}]+)\}\}$")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_SEGMENT = re.compile(r'"(?:[^"\\]|\\.)*"|' + _PLACEHOLDER.pattern)  # a JSON string literal, or a placeholder
Secrets = Mapping[str, Mapping[str, str]]


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


def bus_spec(config: LocalConfig, secrets: Secrets) -> BusSpec:
    """The buses and the event pattern rules of the stack template.yaml creates with these parameters."""
    stack = config.stack
    events = {lid: r for lid, r in stack.resources.items() if r["Type"].startswith("AWS::Events::")}

    def resource(arn: str, kind: str) -> dict[str, Any]:
        found = events.get(stack.logical_id(arn), {})
        if found.get("Type") != kind:
            raise ValueError(f"only API destination targets with BASIC connections are emulated, not {arn}")
        properties: dict[str, Any] = found["Properties"]
        return properties

    def target(props: dict[str, Any]) -> Target:
        destination = resource(props["Arn"], "AWS::Events::ApiDestination")
        connection = resource(destination["ConnectionArn"], "AWS::Events::Connection")
        if connection.get("AuthorizationType") != "BASIC":
            raise ValueError(f"connection {connection['Name']}: only BASIC connections are emulated")
        auth = connection["AuthParameters"]
        basic = auth["BasicAuthParameters"]
        transformer = props.get("InputTransformer")
        return Target(
            id=props["Id"],
            destination=ApiDestination(
                name=destination["Name"],
                endpoint=destination["InvocationEndpoint"],
                method=destination["HttpMethod"],
                headers={
                    str(h["Key"]): str(h["Value"])
                    for h in auth.get("InvocationHttpParameters", {}).get("HeaderParameters", [])
                },
                basic_auth=(_secret(basic["Username"], secrets), _secret(basic["Password"], secrets)),
            ),
            input_paths=transformer.get("InputPathsMap", {}) if transformer else None,
            input_template=transformer["InputTemplate"] if transformer else None,
            maximum_retry_attempts=int(props.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185)),
            dead_letter="DeadLetterConfig" in props,
        )

    rules = tuple(
        Rule(
            props["Name"],
            props.get("EventBusName", "default"),
            load_pattern(json.dumps(props["EventPattern"])),
            tuple(target(t) for t in props.get("Targets", [])),
        )
        for r in events.values()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in (props := r["Properties"])
        if props.get("State", "ENABLED") == "ENABLED"
    )
    buses = {stack.names[lid]["Ref"] for lid, r in events.items() if r["Type"] == "AWS::Events::EventBus"}
    return BusSpec(frozenset(buses | {"default"}), rules)


def _secret(value: str, secrets: Secrets) -> str:
    match = _DYNAMIC_SECRET.match(value)
    if match is None:
        return value
    if match["key"] not in secrets.get(match["secret"], {}):
        raise ValueError(f"secret {match['secret']!r} (key {match['key']!r}) is not known locally")
    return secrets[match["secret"]][match["key"]]


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

    def fill(placeholder: re.Match[str], quoted: bool) -> str:
        return _render(*values[placeholder[1]], quoted=quoted) if placeholder[1] in values else placeholder[0]

    def segment(match: re.Match[str]) -> str:
        if match[1] is None:  # a string literal: each placeholder in it takes the value's text
            return _PLACEHOLDER.sub(lambda placeholder: fill(placeholder, quoted=True), match[0])
        return fill(match, quoted=False)

    return _SEGMENT.sub(segment, target.input_template)


def _render(found: bool, value: Any, quoted: bool) -> str:
    if not found:
        return "" if quoted else "null"
    text = json.dumps(value, ensure_ascii=False)
    if quoted:
        # Inside a JSON string: the string's own escaped content, or the escaped JSON of anything else.
        return text[1:-1] if isinstance(value, str) else json.dumps(text, ensure_ascii=False)[1:-1]
    return text


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

    def __init__(self, config: LocalConfig, secrets: Secrets | None = None, host: str = "127.0.0.1", port: int = 0):
        self.spec = bus_spec(config, secrets or {})
        self.region = config.region
        self.events_path: Path = config.state_dir / "events.jsonl"
        self.dlq_path: Path = config.state_dir / "eventbus-dlq.jsonl"
        self.stats: Counter[str] = Counter()
        self._fail_next_entries = 0
        self._lock = threading.Lock()
        self._deliveries: queue.Queue[_Delivery | None] = queue.Queue()
        self._server = LocalServer(host, port, _Handler, self)
        self._delivery = threading.Thread(target=self._deliver_forever, name="eventbus-delivery", daemon=True)
        self.endpoint = self._server.url

    def start(self) -> None:
        self._server.start()
        self._delivery.start()

    def stop(self) -> None:
        self._server.stop()
        self._deliveries.put(None)
        if self._delivery.is_alive():
            self._delivery.join(timeout=API_DESTINATION_TIMEOUT_SECONDS + 1)

    def fail_next_entries(self, count: int) -> None:
        """Answer the next `count` entries with InternalFailure, as EventBridge sometimes does."""
        with self._lock:
            self._fail_next_entries = count

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def put_events(self, request: dict[str, Any]) -> dict[str, Any]:
        entries = request.get("Entries")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 10:
            raise PutEventsError("ValidationException", "Entries must hold between 1 and 10 entries")
        results = [self._put_entry(entry) for entry in entries]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    def _put_entry(self, entry: dict[str, Any]) -> dict[str, str]:
        with self._lock:
            injected = self._fail_next_entries > 0
            self._fail_next_entries -= int(injected)
        try:
            if injected:
                raise PutEventsError("InternalFailure", "Internal service error (injected locally).")
            bus, event = self._event(entry)
        except PutEventsError as error:
            self._count("entries_failed")
            return {"ErrorCode": error.code, "ErrorMessage": str(error)}
        self._count("events_received")
        append_line(self.events_path, event)
        for rule in self.spec.rules:
            if rule.bus_name == bus and rule.pattern.matches_event(event):
                for target in rule.targets:
                    self._deliveries.put(_Delivery(event, rule, target))
        return {"EventId": event["id"]}

    def _event(self, entry: dict[str, Any]) -> tuple[str, Any]:
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
        return bus, {
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

    def _deliver_forever(self) -> None:
        while (delivery := self._deliveries.get()) is not None:
            self._attempt(delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        delivery.attempts += 1
        target = delivery.target
        try:
            status = _call(target.destination, transform(delivery.event, target))
            reason = f"HTTP {status}"
        except OSError as error:
            status, reason = 0, str(error)
        if 200 <= status < 300:
            self._count("deliveries_succeeded")
            return
        self._count("deliveries_failed")
        retryable = status == 0 or status >= 500 or status in RETRYABLE_STATUSES
        if retryable and delivery.attempts <= target.maximum_retry_attempts:
            # Queued again after a backoff; other deliveries go on meanwhile.
            retry = threading.Timer(
                min(MAX_BACKOFF_SECONDS, 0.1 * 2**delivery.attempts), self._deliveries.put, (delivery,)
            )
            retry.daemon = True
            retry.start()
            log.warning("delivery to %s failed (%s); retrying", target.destination.name, reason)
            return
        log.error("delivery to %s failed (%s) after %d attempts", target.destination.name, reason, delivery.attempts)
        if target.dead_letter:
            self._count("dead_lettered")
            entry = {"rule": delivery.rule.name, "target": target.id, "error": reason, "event": delivery.event}
            append_line(self.dlq_path, entry)


def _call(destination: ApiDestination, body: str) -> int:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Amazon/EventBridge/ApiDestinations",
        **destination.headers,
    }
    if destination.basic_auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(destination.basic_auth).encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the template's own endpoint
        destination.endpoint, data=body.encode(), headers=headers, method=destination.method
    )
    try:
        with urllib.request.urlopen(request, timeout=API_DESTINATION_TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class _Handler(BaseHTTPRequestHandler):
    """The JSON 1.1 protocol botocore speaks to EventBridge: POST / with X-Amz-Target."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: LocalServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        operation = self.headers.get("X-Amz-Target", "").removeprefix("AWSEvents.")
        try:
            if operation != "PutEvents":
                raise PutEventsError("UnknownOperationException", f"{operation or 'no operation'} is not emulated")
            status, answer = 200, self.server.owner.put_events(json.loads(body or b"{}"))
        except PutEventsError as error:
            status, answer = 400, {"__type": error.code, "message": str(error)}
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            status, answer = 400, {"__type": "SerializationException", "message": str(error)}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)
