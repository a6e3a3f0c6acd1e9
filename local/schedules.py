"""EventBridge Scheduler and scheduled rules, locally: a function's `ScheduleV2` or `Schedule` event,
read from the translated template (AWS::Scheduler::Schedule, or AWS::Events::Rule with a
ScheduleExpression), invokes it through local.lambdas (with its own role, like any invocation) once
per period of its rate(N minute|hour|day[s]), the first one period after the start. The payload is
the target's Input if given, else the default scheduled event (source aws.scheduler with the detail
"{}" as a string, or aws.events for a rule). A failed invocation is logged, not retried.
"""

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from local.config import LocalConfig
from local.lambdas import InvocationError, LambdaService
from tools.template import ACCOUNT_ID

log = logging.getLogger("local.schedules")
_RATE = re.compile(r"rate\((\d+) (minute|hour|day)s?\)")
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Schedule:
    arn: str  # the schedule's or the rule's
    function: str  # logical id
    period_seconds: float
    input: str | None = None  # the target's Input, sent as it is

    def event(self, region: str) -> Any:
        if self.input is not None:
            return json.loads(self.input)
        scheduler = ":scheduler:" in self.arn
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler" if scheduler else "aws.events",
            "account": ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": region,
            "resources": [self.arn],
            "detail": "{}" if scheduler else {},
        }


def schedules(config: LocalConfig) -> list[Schedule]:
    """Every enabled schedule of the stack; its target must be one of the stack's functions (or alias)."""
    functions = {spec.name: logical_id for logical_id, spec in config.functions.items()}
    found = []
    for kind in ("AWS::Scheduler::Schedule", "AWS::Events::Rule"):
        for logical_id, props in config.stack.of_type(kind).items():
            if "ScheduleExpression" not in props or props.get("State", "ENABLED") != "ENABLED":
                continue
            rate = _RATE.fullmatch(props["ScheduleExpression"])
            if rate is None:
                raise ValueError(
                    f"{logical_id}: only rate(N minute|hour|day) is emulated, not {props['ScheduleExpression']}"
                )
            name, at = props.get("Name", logical_id), f"{config.region}:{ACCOUNT_ID}"
            arn = f"arn:aws:events:{at}:rule/{name}"
            if kind == "AWS::Scheduler::Schedule":
                arn = f"arn:aws:scheduler:{at}:schedule/{props.get('GroupName', 'default')}/{name}"
            for target in props.get("Targets", [props.get("Target")]):
                # arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]
                function = functions.get(str(target["Arn"]).partition(":function:")[2].partition(":")[0])
                if function is None:
                    raise ValueError(f"{logical_id}: only function targets are emulated, not {target['Arn']}")
                found.append(Schedule(arn, function, int(rate[1]) * _SECONDS[rate[2]], target.get("Input")))
    return found


class Scheduler:
    """Invokes each schedule's function once per period, on a thread of its own, until stopped."""

    def __init__(self, lambdas: LambdaService, only: list[Schedule] | None = None) -> None:
        self.lambdas = lambdas
        self.schedules = schedules(lambdas.config) if only is None else only
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in self.schedules]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, schedule: Schedule) -> None:
        due = time.monotonic() + schedule.period_seconds
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += schedule.period_seconds
            try:
                self.lambdas.invoke(schedule.function, schedule.event(self.lambdas.config.region))
            except InvocationError as error:
                log.error("scheduled invocation failed: %s", error)
