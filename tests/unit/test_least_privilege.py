"""Least privilege, checked both ways: every DynamoDB action a function performs is granted by its
own policy in template.yaml, and its policy grants nothing it never performs.

The scenario drives every function through its paths (moto), recording the DynamoDB actions each
one sends, per table and index, the way IAM evaluates them (a transaction needs the action of
each of its parts)."""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import botocore.client
import pytest

from local.context import LambdaContext
from local.iam import function_policies
from local.template import function_specs, table_names
from tests.conftest import ApiHarness, StreamHarness, load_event
from tools.template import expand

Grant = tuple[str, str | None, str]  # (table logical id, index or None, action)
# Granted for paths taken only in rare cases: Powertools Idempotency reads the existing record when a
# conditional put does not return it; a progress write re-reads its record after a TransactionConflict.
FALLBACK_PATHS = {
    "create_enrollment": {("IdempotencyTable", None, "GetItem")},
    "enroll_roster": {("IdempotencyTable", None, "GetItem")},
    "record_progress": {("Table", None, "GetItem")},
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


# Read by the event source mapping from the stream, never by the function's code.
STREAM_ACTIONS = {"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"}


def granted_by_template() -> dict[str, set[Grant]]:
    """Each function's DynamoDB grants on tables and indexes, from its role as SAM expands it."""
    stack = expand()
    tables = {name: logical for logical, name in table_names(stack).items()}
    specs = function_specs(stack)
    grants: dict[str, set[Grant]] = defaultdict(set)
    for logical_id, policy in function_policies(stack).items():
        function = specs[logical_id].code_uri.strip("/").rsplit("/", 1)[-1]
        for statement in policy.statements:
            for action in _listed(statement["Action"]):
                service, _, name = action.partition(":")
                if service != "dynamodb" or name in STREAM_ACTIONS:
                    continue
                for arn in _listed(statement["Resource"]):
                    table, _, index = arn.partition(":table/")[2].partition("/index/")
                    grants[function].add((tables[table], index or None, name))
    return grants


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


class ActionRecorder:
    """Records the DynamoDB actions sent while a given function runs."""

    def __init__(self) -> None:
        self._tables = {name: logical for logical, name in table_names(expand()).items()}
        self.used: dict[str, set[Grant]] = defaultdict(set)
        self._function: str | None = None

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self._function = function
        try:
            yield
        finally:
            self._function = None

    def record(self, operation: str, params: dict[str, Any]) -> None:
        if self._function is None:
            return
        table = self._tables.get(params.get("TableName", ""), "")
        if operation in ("BatchGetItem", "BatchWriteItem"):
            self.used[self._function] |= {(self._tables[name], None, operation) for name in params["RequestItems"]}
        elif operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, action),) = item.items()
                self.used[self._function].add((self._tables[action["TableName"]], None, _TRANSACT_ACTIONS[kind]))
        else:
            self.used[self._function].add((table, params.get("IndexName"), operation))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> ActionRecorder:
    recorder = ActionRecorder()
    send = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            recorder.record(operation, params)
        return send(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return recorder


def run_every_function(api: ApiHarness, stream: StreamHarness, recorder: ActionRecorder) -> None:
    teacher = {"user": "teacher-1", "roles": "instructor"}
    learner = {"user": "learner-1", "roles": "student"}

    def call(function: str, caller: dict[str, str], **kwargs: Any) -> Any:
        with recorder.running(function):
            reply = api.call(function, **caller, **kwargs)
        assert reply.status < 500, reply.body
        return reply.body

    def drain() -> None:
        with recorder.running("summarize_progress"):
            stream.drain()

    # A capacity: enrollments then move the course head's seat counter (an uncapped course's never do).
    outline = {"title": "C", "capacity": 10, "modules": [{"title": "M", "lessons": [{"title": "L1"}, {"title": "L2"}]}]}
    course = call("create_course", teacher, body=outline)
    course_id, module_id = course["id"], course["modules"][0]["id"]
    first_lesson = course["modules"][0]["lessons"][0]["id"]
    call("create_module", teacher, path={"courseId": course_id}, body={"title": "M2"})
    extra = call("create_lesson", teacher, path={"courseId": course_id, "moduleId": module_id}, body={"title": "L3"})
    call("get_course", learner, path={"courseId": course_id})
    # A settings change (one conditional write, then the outline), and a refused one (the head says why).
    call("update_course", teacher, path={"courseId": course_id}, body={"capacity": 20, "accessDays": 30})
    call("update_course", learner, path={"courseId": course_id}, body={"title": "Mine"})  # 403
    key = {"Idempotency-Key": "k-1"}
    enrollment = call("create_enrollment", learner, body={"courseId": course_id}, headers=key)
    call("create_enrollment", learner, body={"courseId": course_id}, headers=key)
    call("create_enrollment", learner, body={"courseId": course_id}, headers={"Idempotency-Key": "k-2"})  # 409
    call("create_enrollment", {"user": "learner-2", "roles": "student"}, body={"courseId": course_id})
    call("update_enrollment", learner, path={"id": enrollment["id"]}, body={"status": "DROPPED"})
    # A roster: the head, the learners' enrollments in one batch, a transaction (a new one, a return,
    # the seats), with an Idempotency-Key.
    roster = {"learners": [{"userId": "learner-1"}, {"userId": "learner-4"}]}
    call("enroll_roster", teacher, path={"courseId": course_id}, body=roster, headers=key)
    call("enroll_roster", learner, path={"courseId": course_id}, body=roster, headers=key)  # 403: record deleted
    call("update_enrollment", learner, path={"id": enrollment["id"]}, body={"status": "DROPPED"})
    call("create_enrollment", learner, body={"courseId": course_id})  # reactivates
    # Staff paths of a status change: a suspension and its lifting.
    second = call("create_enrollment", {"user": "learner-3", "roles": "student"}, body={"courseId": course_id})
    call("update_enrollment", teacher, path={"id": second["id"]}, body={"status": "SUSPENDED"})
    call("update_enrollment", teacher, path={"id": second["id"]}, body={"status": "ACTIVE"})
    call("delete_enrollment", teacher, path={"id": second["id"]})
    call("list_enrollments", learner, query={"status": "ACTIVE"})
    call("list_enrollments", learner, query={"courseId": course_id})
    call("list_course_enrollments", teacher, path={"courseId": course_id})
    call("list_course_enrollments", teacher, path={"courseId": course_id}, query={"userId": "learner-1"})
    call("get_enrollment", teacher, path={"id": enrollment["id"]})
    progress = call("record_progress", learner, body={"lessonId": first_lesson, "action": "complete"})
    # The lesson's course now known: the lesson and the record come in one BatchGetItem.
    call("record_progress", learner, body={"lessonId": first_lesson, "action": "view"})
    call("list_progress", learner)
    call("list_course_progress", teacher, path={"courseId": course_id})
    call("get_progress", teacher, path={"id": progress["id"]})
    # Both paths of an edit: staff write it plainly, a learner's write checks the enrollment too.
    call("update_progress", teacher, path={"id": progress["id"]}, body={"position": 3})
    call("update_progress", learner, path={"id": progress["id"]}, body={"position": 4})
    viewed = call("record_progress", learner, body={"lessonId": extra["id"], "action": "view"})
    call("update_progress", learner, path={"id": viewed["id"]}, body={"status": "COMPLETED"})
    call("get_progress_summary", learner, path={"courseId": course_id})  # not computed yet: computed on read
    drain()
    call("get_progress_summary", learner, path={"courseId": course_id})
    call("get_progress_summary", teacher, path={"courseId": course_id})
    call("delete_lesson", teacher, path={"courseId": course_id, "lessonId": extra["id"]})
    drain()  # a course-wide recompute, continued through the table when pages run out
    # An access end in the past, then the scheduled run: the index, the course head, the expiry with
    # its seat, the checkpoint; and the seats of a course given a capacity after an enrollment,
    # counted from its enrollment index (the count's delay is 0 here).
    call("update_enrollment", teacher, path={"id": enrollment["id"]}, body={"accessEndsAt": "2026-01-01T00:00:00Z"})
    uncapped = call("create_course", teacher, body={**outline, "capacity": None})["id"]
    call("create_enrollment", learner, body={"courseId": uncapped})
    call("update_course", teacher, path={"courseId": uncapped}, body={"capacity": 5})
    with recorder.running("expire_access"):
        scheduled = LambdaContext(function_name="expire_access", timeout_seconds=60)
        run = ApiHarness.module("expire_access").lambda_handler(load_event("expire_access.json"), scheduled)
    assert (run["expired"], run["seatCountsFinished"]) == (1, 1), run
    drain()
    call("delete_enrollment", learner, path={"id": enrollment["id"]})
    drain()
    # Learner data: an export, an erasure asked for (404 before), run by the summarizer, and read.
    call("export_user_data", learner, path={"userId": "learner-1"})
    call("get_user_erasure", learner, path={"userId": "learner-1"})
    call("erase_user", learner, path={"userId": "learner-1"})  # their idempotency records
    call("erase_user", {"user": "admin-1", "roles": "admin"}, path={"userId": "learner-2"})  # an enrollment
    drain()
    call("get_user_erasure", learner, path={"userId": "learner-1"})


def test_every_function_is_granted_exactly_the_dynamodb_actions_it_performs(
    api: ApiHarness, stream: StreamHarness, recorder: ActionRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lms.services.summaries.fanout.LEARNERS_PER_SEGMENT", 1)
    monkeypatch.setattr("lms.services.seat_counts.START_DELAY", timedelta(0))
    run_every_function(api, stream, recorder)
    granted = granted_by_template()

    missing = {f: sorted(map(str, used - granted[f])) for f, used in recorder.used.items() if used - granted[f]}
    performed = {f: recorder.used[f] | FALLBACK_PATHS.get(f, set()) for f in granted}
    unused = {f: sorted(map(str, grants - performed[f])) for f, grants in granted.items() if grants - performed[f]}

    assert missing == {}, "performed without permission"
    assert unused == {}, "granted but never performed"
