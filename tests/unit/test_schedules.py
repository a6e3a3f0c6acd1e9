"""Scheduled functions, locally (local/schedules.py): a `ScheduleV2` and a `Schedule` event added to a
copy of template.yaml, read back from SAM's translation (AWS::Scheduler::Schedule, AWS::Events::Rule)
with the function each invokes, its period and the payload AWS would send."""

import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pytest

from local.config import LocalConfig
from local.eventbus import bus_spec
from local.schedules import Schedule, schedules
from tools.template import Stack, expand, source


@cache
def stack(tick: str = "rate(1 minute)") -> Stack:
    template = source()
    events = template["Resources"]["GetCourseFunction"]["Properties"].setdefault("Events", {})
    events["Tick"] = {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": tick, "Input": '{"job": "x"}'}}
    events["Tock"] = {"Type": "Schedule", "Properties": {"Schedule": "rate(2 hours)"}}
    return expand(template=template)


@dataclass(frozen=True)
class ScheduledConfig(LocalConfig):
    tick: str = "rate(1 minute)"

    @cached_property
    def stack(self) -> Stack:
        return stack(self.tick)


def config(tmp_path: Path, tick: str = "rate(1 minute)") -> ScheduledConfig:
    return ScheduledConfig(ddb_endpoint="http://unused", state_dir=tmp_path, tick=tick)


def added(tmp_path: Path, tick: str = "rate(1 minute)") -> list[Schedule]:
    """The schedules this test added (the template has its own besides)."""
    return [schedule for schedule in schedules(config(tmp_path, tick)) if schedule.function == "GetCourseFunction"]


def test_each_schedule_invokes_its_function_at_its_rate(tmp_path: Path) -> None:
    found = {schedule.arn: schedule for schedule in added(tmp_path)}

    tick = found["arn:aws:scheduler:us-east-1:000000000000:schedule/default/GetCourseFunctionTick"]
    tock = found["arn:aws:events:us-east-1:000000000000:rule/GetCourseFunctionTock"]
    assert (tick.function, tick.period_seconds) == ("GetCourseFunction", 60)  # the target is the `live` alias
    assert (tock.function, tock.period_seconds) == ("GetCourseFunction", 7200)
    assert len(found) == 2


def test_the_payload_is_the_input_or_the_default_scheduled_event(tmp_path: Path) -> None:
    found = {schedule.arn.split(":")[2]: schedule for schedule in added(tmp_path)}

    assert found["scheduler"].event("us-east-1") == {"job": "x"}
    event: dict[str, Any] = found["events"].event("us-east-1")
    assert {k: event[k] for k in ("detail-type", "source", "resources", "detail")} == {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "resources": [found["events"].arn],
        "detail": {},
    }
    scheduler_default = Schedule("arn:aws:scheduler:us-east-1:000000000000:schedule/default/s", "F", 60)
    assert json.loads(scheduler_default.event("us-east-1")["detail"]) == {}  # Scheduler's detail is a string
    assert scheduler_default.event("us-east-1")["source"] == "aws.scheduler"


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", "rate(5 weeks)", "at(2026-12-06T12:00:00)"])
def test_an_expression_not_emulated_fails_at_start(tmp_path: Path, expression: str) -> None:
    with pytest.raises(ValueError, match="only rate"):
        schedules(config(tmp_path, expression))


def test_a_scheduled_rule_is_no_business_of_the_event_bus(tmp_path: Path) -> None:
    assert all(rule.name != "GetCourseFunctionTock" for rule in bus_spec(config(tmp_path), {}).rules)


def test_the_templates_own_schedules_are_read(tmp_path: Path) -> None:
    """What template.yaml schedules, the local runtime runs: the access expiry, every minute."""
    found = schedules(LocalConfig(ddb_endpoint="http://unused", state_dir=tmp_path))
    assert [(schedule.function, schedule.period_seconds) for schedule in found] == [("ExpireAccessFunction", 60)]
