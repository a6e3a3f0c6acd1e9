"""Roster enrollment (POST /courses/{courseId}/enrollments): outcomes per learner in request order,
refusals that stop no one else, seats exact (also when a single enrollment lands in between), each
learner enrolled as POST /enrollments would, Idempotency-Key, validation, and the calls it makes."""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import (
    ADMIN,
    INSTRUCTOR,
    OTHER_INSTRUCTOR,
    STUDENT,
    TEST_ENV,
    ApiHarness,
    Reply,
    assert_problem,
)

ENDS = "2027-06-30T23:59:59.000Z"


def make_course(api: ApiHarness, capacity: int | None = None) -> str:
    body: dict[str, Any] = {"title": "Course", "modules": [{"title": "M", "lessons": [{"title": "One"}]}]}
    if capacity is not None:
        body["capacity"] = capacity
    reply = api.call("create_course", **INSTRUCTOR, body=body)
    assert reply.status == 201, reply.body
    course_id: str = reply.body["id"]
    return course_id


def roster(
    api: ApiHarness, course_id: str, learners: list[Any], caller: dict[str, str] = INSTRUCTOR, key: str | None = None
) -> Reply:
    body = {"learners": [{"userId": learner} if isinstance(learner, str) else learner for learner in learners]}
    headers = {"Idempotency-Key": key} if key else None
    return api.call("enroll_roster", **caller, path={"courseId": course_id}, body=body, headers=headers)


def items(reply: Reply) -> list[dict[str, Any]]:
    assert reply.status == 200, reply.body
    found: list[dict[str, Any]] = reply.body["items"]
    return found


def outcomes(reply: Reply) -> list[str]:
    return [item["outcome"] for item in items(reply)]


def learner(user_id: str) -> dict[str, str]:
    return {"user": user_id, "roles": "student"}


def enroll_alone(api: ApiHarness, course_id: str, user_id: str) -> Reply:
    return api.call("create_enrollment", **learner(user_id), body={"courseId": course_id})


def set_status(api: ApiHarness, enrollment_id: str, status: str) -> dict[str, Any]:
    reply = api.call("update_enrollment", **INSTRUCTOR, path={"id": enrollment_id}, body={"status": status})
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


def head(dynamodb: Any, course_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"COURSE#{course_id}"}, "sk": {"S": "COURSE"}}
    item: dict[str, Any] = dynamodb.get_item(TableName=TEST_ENV["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]
    return item


def seats_taken(dynamodb: Any, course_id: str) -> int:
    return int(head(dynamodb, course_id)["seatsTaken"]["N"])


def stored(dynamodb: Any, user_id: str, course_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": f"ENROLLMENT#{course_id}"}}
    item: dict[str, Any] = dynamodb.get_item(TableName=TEST_ENV["TABLE_NAME"], Key=key)["Item"]
    return item


def read(api: ApiHarness, enrollment_id: str) -> dict[str, Any]:
    reply = api.call("get_enrollment", **ADMIN, path={"id": enrollment_id})
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


# ------------------------------------------------------------------------------------- the outcomes
def test_each_learner_gets_an_outcome_in_request_order(api: ApiHarness, dynamodb: Any) -> None:
    """GIVEN learners with no enrollment, a DROPPED, an ACTIVE, a COMPLETED and a SUSPENDED one, WHEN
    staff enroll them all, THEN created, reactivated, unchanged (as they are), refused (409 naming
    the enrollment), in the order sent, and the unchanged and refused ones are not written."""
    course_id = make_course(api)
    existing = {name: enroll_alone(api, course_id, name).body for name in ("dropped", "active", "done", "held")}
    set_status(api, existing["dropped"]["id"], "DROPPED")
    completed = set_status(api, existing["done"]["id"], "COMPLETED")
    suspended = set_status(api, existing["held"]["id"], "SUSPENDED")

    reply = roster(api, course_id, ["new-1", "dropped", "active", "done", "held", "new-2"])

    assert [(i["userId"], i["outcome"]) for i in items(reply)] == [
        ("new-1", "created"),
        ("dropped", "reactivated"),
        ("active", "unchanged"),
        ("done", "unchanged"),
        ("held", "refused"),
        ("new-2", "created"),
    ]
    by_user = {item["userId"]: item for item in items(reply)}
    assert by_user["active"]["enrollment"] == existing["active"]
    assert by_user["done"]["enrollment"] == completed
    refused = by_user["held"]
    assert refused["enrollment"] is None
    assert refused["problem"]["status"] == 409
    assert refused["problem"]["type"].endswith("/conflict")
    assert refused["problem"]["enrollmentId"] == suspended["id"]
    assert read(api, suspended["id"]) == suspended
    for item in items(reply):
        assert (item["problem"] is None) == (item["outcome"] != "refused")
        if item["enrollment"] is not None:
            assert read(api, item["enrollment"]["id"]) == item["enrollment"]


def test_a_new_enrollment_is_the_one_post_enrollments_makes_for_staff(api: ApiHarness, dynamodb: Any) -> None:
    """The same item, but for its id and times: `enrolledBy` the caller, the course's lesson count,
    the outline version; the item as the table holds it has the same attributes."""
    course_id = make_course(api)
    alone = api.call("create_enrollment", **INSTRUCTOR, body={"courseId": course_id, "userId": "solo"}).body

    [created] = items(roster(api, course_id, ["rostered"]))

    enrollment = created["enrollment"]
    varying = {"id", "userId", "enrolledAt", "updatedAt"}
    assert {k: v for k, v in enrollment.items() if k not in varying} == {
        k: v for k, v in alone.items() if k not in varying
    }
    assert enrollment["enrolledBy"] == INSTRUCTOR["user"]
    solo, rostered = stored(dynamodb, "solo", course_id), stored(dynamodb, "rostered", course_id)
    assert set(solo) == set(rostered)
    for name in ("entity", "writer", "outlineVersion", "gsi1sk"):
        assert rostered[name].keys() == solo[name].keys()
    assert (rostered["entity"], rostered["writer"]) == (solo["entity"], solo["writer"])


def test_a_return_from_dropped_follows_the_completion_rule(api: ApiHarness) -> None:
    """A DROPPED enrollment that had completed (and was not reopened) comes back COMPLETED, as
    POST /enrollments again would bring it back; its version moves by one."""
    course_id = make_course(api)
    enrollment = enroll_alone(api, course_id, "returning").body
    set_status(api, enrollment["id"], "COMPLETED")
    dropped = set_status(api, enrollment["id"], "DROPPED")

    [item] = items(roster(api, course_id, ["returning"]))

    assert item["outcome"] == "reactivated"
    assert item["enrollment"]["id"] == enrollment["id"]
    assert (item["enrollment"]["status"], item["enrollment"]["version"]) == ("COMPLETED", dropped["version"] + 1)
    assert item["enrollment"]["enrolledBy"] == "returning"  # the enrollment's, unchanged by a return


def test_access_ends_at_is_stored_on_created_and_reactivated_enrollments_only(api: ApiHarness, dynamodb: Any) -> None:
    course_id = make_course(api)
    set_status(api, enroll_alone(api, course_id, "back").body["id"], "DROPPED")
    enroll_alone(api, course_id, "there")
    learners = [{"userId": name, "accessEndsAt": "2027-07-01T01:59:59+02:00"} for name in ("new", "back", "there")]

    assert outcomes(roster(api, course_id, learners)) == ["created", "reactivated", "unchanged"]

    assert stored(dynamodb, "new", course_id)["accessEndsAt"] == {"S": ENDS}
    assert stored(dynamodb, "back", course_id)["accessEndsAt"] == {"S": ENDS}
    assert "accessEndsAt" not in stored(dynamodb, "there", course_id)


def test_access_ends_follow_the_access_period_rules_as_post_enrollments(api: ApiHarness, dynamodb: Any) -> None:
    """GIVEN a course of 30 access days, WHEN a roster lists a learner without accessEndsAt, one with
    it and one with null, THEN the first ends 30 days after enrolling, the second when staff said and
    the third never; the two with an end wait in the access-end index for the scheduler."""
    body = {"title": "Course", "accessDays": 30, "modules": [{"title": "M", "lessons": [{"title": "One"}]}]}
    course_id = api.call("create_course", **INSTRUCTOR, body=body).body["id"]
    learners = [
        {"userId": "default"},
        {"userId": "given", "accessEndsAt": ENDS},
        {"userId": "never", "accessEndsAt": None},
    ]

    enrolled = {item["userId"]: item["enrollment"] for item in items(roster(api, course_id, learners))}

    enrolled_at = datetime.fromisoformat(enrolled["default"]["enrolledAt"])
    assert datetime.fromisoformat(enrolled["default"]["accessEndsAt"]) == enrolled_at + timedelta(days=30)
    assert enrolled["given"]["accessEndsAt"] == ENDS
    assert enrolled["never"]["accessEndsAt"] is None
    assert "gsi2pk" in stored(dynamodb, "given", course_id)
    assert "gsi2pk" not in stored(dynamodb, "never", course_id)


# ------------------------------------------------------------------------------------------- seats
def test_a_full_course_refuses_the_learners_past_its_capacity_and_admits_the_others(
    api: ApiHarness, dynamodb: Any
) -> None:
    """GIVEN a 4-seat course with 1 seat taken and a DROPPED learner (no seat), WHEN 5 learners come,
    THEN the first 3 needing a seat are admitted, the rest refused 409 (course full), an ACTIVE learner
    listed among them unchanged, and the counter says 4: no seat lost to the refused."""
    course_id = make_course(api, capacity=4)
    enroll_alone(api, course_id, "seated")
    set_status(api, enroll_alone(api, course_id, "gone").body["id"], "DROPPED")
    assert seats_taken(dynamodb, course_id) == 1

    reply = roster(api, course_id, ["a", "seated", "gone", "b", "c", "d"])

    assert outcomes(reply) == ["created", "unchanged", "reactivated", "created", "refused", "refused"]
    for item in items(reply)[4:]:
        assert item["problem"]["status"] == 409
        assert item["problem"]["capacity"] == 4
        assert "capacity" in item["problem"]["detail"]
    assert seats_taken(dynamodb, course_id) == 4
    assert enroll_alone(api, course_id, "late").status == 409


def test_an_uncapped_course_never_writes_its_head(api: ApiHarness, dynamodb: Any) -> None:
    course_id = make_course(api)
    before = head(dynamodb, course_id)

    assert outcomes(roster(api, course_id, [f"l{n}" for n in range(60)])) == ["created"] * 60

    assert head(dynamodb, course_id) == before


def test_a_learner_enrolling_alone_meanwhile_is_unchanged_and_the_seats_stay_exact(
    api: ApiHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a 3-seat course, WHEN a roster's learner enrolls alone (and another learner takes a seat)
    between the roster's read and its transaction, THEN the transaction fails, the learners go one
    by one: the one enrolled meanwhile is unchanged (their own enrollment), one more is admitted,
    the last refused, and the counter says 3."""
    course_id = make_course(api, capacity=3)
    repository = api.module("enroll_roster").roster._enrollments
    real = repository.write_many
    sent: list[int] = []

    def raced(writes: list[Any], head: Any) -> None:
        if not sent:
            assert enroll_alone(api, course_id, "b").status == 201
            assert enroll_alone(api, course_id, "outsider").status == 201
        sent.append(len(writes))
        real(writes, head)

    monkeypatch.setattr(repository, "write_many", raced)

    reply = roster(api, course_id, ["a", "b", "c"])

    assert outcomes(reply) == ["created", "unchanged", "refused"]
    assert items(reply)[1]["enrollment"]["enrolledBy"] == "b"
    assert sent == [3, 1, 1]  # the batch, then a and c alone (b's enrollment came with the failure)
    assert seats_taken(dynamodb, course_id) == 3


def test_a_learner_dropping_meanwhile_is_read_again_and_returned(
    api: ApiHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DROPPED learner reactivated by themselves between the read and the write (their version
    moved): read again, they are unchanged; the others are written; seats exact."""
    course_id = make_course(api, capacity=5)
    enrollment = enroll_alone(api, course_id, "back").body
    set_status(api, enrollment["id"], "DROPPED")
    repository = api.module("enroll_roster").roster._enrollments
    real = repository.write_many
    calls: list[int] = []

    def raced(writes: list[Any], head: Any) -> None:
        if not calls:
            assert enroll_alone(api, course_id, "back").status == 200  # their own return
        calls.append(len(writes))
        real(writes, head)

    monkeypatch.setattr(repository, "write_many", raced)

    assert outcomes(roster(api, course_id, ["back", "new"])) == ["unchanged", "created"]
    assert seats_taken(dynamodb, course_id) == 2


def test_a_capacity_changed_meanwhile_is_honoured(
    api: ApiHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch takes its seats under the capacity it read; lowered meanwhile, the batch fails and
    each learner is seated under the stored one."""
    course_id = make_course(api, capacity=5)
    repository = api.module("enroll_roster").roster._enrollments
    real = repository.write_many
    calls: list[int] = []

    def lowered(writes: list[Any], head: Any) -> None:
        if not calls:
            reply = api.call("update_course", **INSTRUCTOR, path={"courseId": course_id}, body={"capacity": 2})
            assert reply.status == 200, reply.body
        calls.append(len(writes))
        real(writes, head)

    monkeypatch.setattr(repository, "write_many", lowered)

    assert outcomes(roster(api, course_id, ["a", "b", "c", "d"])) == ["created", "created", "refused", "refused"]
    assert seats_taken(dynamodb, course_id) == 2


# --------------------------------------------------------------------------------- who may, and 422
@pytest.mark.parametrize("caller", [INSTRUCTOR, ADMIN], ids=["instructor", "admin"])
def test_course_staff_enroll_a_roster(api: ApiHarness, caller: dict[str, str]) -> None:
    course_id = make_course(api)
    [item] = items(roster(api, course_id, ["x"], caller))
    assert item["enrollment"]["enrolledBy"] == caller["user"]


@pytest.mark.parametrize("caller", [STUDENT, OTHER_INSTRUCTOR], ids=["student", "other-instructor"])
def test_others_may_not_enroll_a_roster(api: ApiHarness, dynamodb: Any, caller: dict[str, str]) -> None:
    course_id = make_course(api)
    assert_problem(roster(api, course_id, [caller["user"], "x"], caller), 403)
    assert api.call("list_enrollments", **STUDENT, query={"courseId": course_id}).body["items"] == []


def test_an_unknown_course_is_404(api: ApiHarness) -> None:
    assert_problem(roster(api, "01jzzzzzzzzzzzzzzzzzzzzzzz", ["x"]), 404)


@pytest.mark.parametrize(
    ("learners", "field"),
    [
        ([], "learners"),
        ([f"l{n}" for n in range(101)], "learners"),
        (["same", "other", "same"], "learners"),
        ([{"userId": ""}], "learners.0.userId"),
        ([{"userId": "x" * 257}], "learners.0.userId"),
        ([{"userId": "x", "accessEndsAt": "tomorrow"}], "learners.0.accessEndsAt"),
        ([{"userId": "x", "accessEndsAt": "2027-01-01T00:00:00"}], "learners.0.accessEndsAt"),
        ([{"userId": "x", "status": "ACTIVE"}], "learners.0.status"),
        ([{"userId": 7}], "learners.0.userId"),
    ],
    ids=["none", "101", "duplicate", "empty-id", "long-id", "bad-time", "no-zone", "unknown-field", "number"],
)
def test_an_invalid_roster_is_422_and_enrolls_no_one(api: ApiHarness, learners: list[Any], field: str) -> None:
    course_id = make_course(api)
    problem = assert_problem(roster(api, course_id, learners), 422)
    assert any(entry["field"].startswith(field) for entry in problem["errors"]), problem["errors"]
    mine = api.call("list_course_enrollments", **INSTRUCTOR, path={"courseId": course_id}).body
    assert mine["items"] == []


def test_a_roster_of_100_is_accepted(api: ApiHarness) -> None:
    course_id = make_course(api)
    assert outcomes(roster(api, course_id, [f"l{n:03}" for n in range(100)])) == ["created"] * 100


# ------------------------------------------------------------------------------------- idempotency
def test_a_retry_with_the_same_key_returns_the_first_response_and_takes_no_seat(api: ApiHarness, dynamodb: Any) -> None:
    course_id = make_course(api, capacity=3)
    first = roster(api, course_id, ["a", "b"], key="roster-1")

    again = roster(api, course_id, ["a", "b"], key="roster-1")

    assert outcomes(first) == ["created", "created"]
    assert (again.status, again.body) == (200, first.body)
    assert seats_taken(dynamodb, course_id) == 2
    assert outcomes(roster(api, course_id, ["a", "b"], key="roster-2")) == ["unchanged", "unchanged"]


def test_a_key_reused_with_another_roster_or_course_is_422(api: ApiHarness) -> None:
    course_id, other_course = make_course(api), make_course(api)
    items(roster(api, course_id, ["a"], key="k"))

    assert_problem(roster(api, course_id, ["a", "b"], key="k"), 422)
    assert_problem(roster(api, other_course, ["a"], key="k"), 422)
    assert api.call("list_course_enrollments", **INSTRUCTOR, path={"courseId": other_course}).body["items"] == []


# ----------------------------------------------------------------------------------------- batched
class Calls:
    """The DynamoDB operations the roster handler sends, and the actions of each transaction."""

    def __init__(self, api: ApiHarness) -> None:
        self._events = api.module("enroll_roster").roster._enrollments._table.client.meta.events
        self.operations: Counter[str] = Counter()
        self.transactions: list[int] = []

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.operations[model.name] += 1
        if model.name == "TransactWriteItems":
            self.transactions.append(len(params["TransactItems"]))

    def __enter__(self) -> "Calls":
        self._events.register("before-parameter-build.dynamodb", self._record)
        return self

    def __exit__(self, *_: Any) -> None:
        self._events.unregister("before-parameter-build.dynamodb", self._record)


@pytest.mark.parametrize(
    ("capacity", "transactions"),
    [(None, [99, 99, 99, 3]), (200, [100, 100, 100, 4])],
    ids=["uncapped", "capped"],
)
def test_100_learners_take_a_read_a_batch_read_and_a_few_transactions(
    api: ApiHarness, dynamodb: Any, capacity: int | None, transactions: list[int]
) -> None:
    """The course head, one BatchGetItem for the 100 enrollments, then transactions of up to 100
    actions (3 per new enrollment: the item, its reference, the erasure guard's check; and the seats,
    one update per transaction of a capped course)."""
    course_id = make_course(api, capacity)

    with Calls(api) as calls:
        reply = roster(api, course_id, [f"l{n:03}" for n in range(100)])

    assert outcomes(reply) == ["created"] * 100
    assert calls.operations == {"GetItem": 1, "BatchGetItem": 1, "TransactWriteItems": len(transactions)}
    assert calls.transactions == transactions
    if capacity:
        assert seats_taken(dynamodb, course_id) == 100


def _cancelled(writes: list[Any], code: str) -> Exception:
    """The error write_many raises when DynamoDB cancels its transaction with `code` on every action."""
    from lms.repositories.dynamo import Reason, TransactionCancelledError
    from lms.repositories.enrollments import EnrollmentsNotWrittenError

    reasons = {f"enrollment{n}": Reason(code) for n in range(len(writes))}
    return EnrollmentsNotWrittenError(TransactionCancelledError(reasons), writes)


def test_a_transaction_only_in_another_ones_way_is_sent_again_whole(
    api: ApiHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TransactionConflict (another transaction held the seat counter) fails no condition: the
    same transaction is sent again, not learner by learner."""
    course_id = make_course(api, capacity=10)
    repository = api.module("enroll_roster").roster._enrollments
    real = repository.write_many
    sent: list[int] = []

    def conflicted_once(writes: list[Any], head: Any) -> None:
        sent.append(len(writes))
        if len(sent) == 1:
            raise _cancelled(writes, "TransactionConflict")
        real(writes, head)

    monkeypatch.setattr(repository, "write_many", conflicted_once)

    assert outcomes(roster(api, course_id, ["a", "b", "c"])) == ["created"] * 3
    assert sent == [3, 3]
    assert seats_taken(dynamodb, course_id) == 3


def test_a_learner_whose_enrollment_keeps_changing_is_refused_503_and_the_others_enrolled(
    api: ApiHarness, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    course_id = make_course(api, capacity=10)
    set_status(api, enroll_alone(api, course_id, "busy").body["id"], "DROPPED")
    repository = api.module("enroll_roster").roster._enrollments
    real = repository.write_many

    def busy_always_stale(writes: list[Any], head: Any) -> None:
        if any(write.enrollment.user_id == "busy" for write in writes):
            from lms.repositories.dynamo import Reason, TransactionCancelledError
            from lms.repositories.enrollments import EnrollmentsNotWrittenError

            reasons = {
                f"enrollment{n}": Reason("ConditionalCheckFailed" if w.enrollment.user_id == "busy" else "None")
                for n, w in enumerate(writes)
            }
            raise EnrollmentsNotWrittenError(TransactionCancelledError(reasons), writes)
        real(writes, head)

    monkeypatch.setattr(repository, "write_many", busy_always_stale)

    reply = roster(api, course_id, ["a", "busy", "b"])

    assert outcomes(reply) == ["created", "refused", "created"]
    problem = items(reply)[1]["problem"]
    assert (problem["status"], problem["type"].endswith("/service-unavailable")) == (503, True)
    assert seats_taken(dynamodb, course_id) == 2


def test_a_course_filling_up_within_the_roster_cuts_the_transaction_to_its_room(api: ApiHarness, dynamodb: Any) -> None:
    """GIVEN 50 seats and 100 new learners, THEN the first 50 are admitted, the other 50 refused
    without a transaction each: a transaction short of seats reads the counter (GetItem) and is
    sent again with the learners it has room for."""
    course_id = make_course(api, capacity=50)

    with Calls(api) as calls:
        reply = roster(api, course_id, [f"l{n:03}" for n in range(100)])

    assert outcomes(reply) == ["created"] * 50 + ["refused"] * 50
    assert {item["problem"]["capacity"] for item in items(reply)[50:]} == {50}
    assert seats_taken(dynamodb, course_id) == 50
    # The batches of 33, 33 (refused: 17 seats left; then 17 admitted), 33 and 1 (refused: none left).
    assert calls.transactions == [100, 100, 52, 100, 4]
    assert calls.operations == {"GetItem": 4, "BatchGetItem": 1, "TransactWriteItems": 5}
