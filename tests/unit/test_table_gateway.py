"""The table gateway (lms.repositories.dynamo.Table): the verbs the repositories use, and a failed
condition or a cancelled transaction as one typed exception each."""

from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lms.repositories import dynamo
from lms.repositories.dynamo import (
    ConditionFailedError,
    Table,
    TransactionCancelledError,
    condition_check,
    put_action,
    values,
)
from tests.conftest import TEST_ENV

KEY = {"pk": "TEST#1", "sk": "A"}


@pytest.fixture
def table(dynamodb: Any) -> Table:
    return Table(dynamodb, TEST_ENV["TABLE_NAME"])


def test_a_conditional_put_that_fails_raises_condition_failed_and_changes_nothing(table: Table) -> None:
    """Given an item, when it is put again on condition that it does not exist, then
    ConditionFailedError, and the stored item is the first one."""
    table.put({**KEY, "n": 1}, condition="attribute_not_exists(pk)")

    with pytest.raises(ConditionFailedError):
        table.put({**KEY, "n": 2}, condition="attribute_not_exists(pk)")

    assert table.get(KEY) == {**KEY, "n": 1}


def test_an_update_returns_what_it_changed_and_a_failed_condition_raises(table: Table) -> None:
    """Given a counter item, when it is incremented, then the new value comes back; when an item
    that does not exist is incremented on condition that it exists, then ConditionFailedError."""
    table.put({**KEY, "n": 1})

    updated = table.update(KEY, "ADD n :one", expression_values=values(one=1))

    assert updated == {"n": 2}
    with pytest.raises(ConditionFailedError):
        table.update(
            {"pk": "TEST#2", "sk": "A"}, "ADD n :one", condition="attribute_exists(pk)", expression_values=values(one=1)
        )


def test_a_cancelled_transaction_says_which_action_failed_and_what_it_found(table: Table) -> None:
    """Given an item, when a transaction puts it again on condition that it does not exist (asking
    for the stored item) beside a check on another item that holds, then TransactionCancelledError
    says, by name, that the put failed its condition, with the stored item, and the check did not;
    nothing was written."""
    other = {"pk": "TEST#2", "sk": "A"}
    table.put({**KEY, "n": 1})
    table.put(other)

    with pytest.raises(TransactionCancelledError) as cancelled:
        table.transact(
            {
                "put": put_action({**KEY, "n": 2}, condition="attribute_not_exists(pk)", return_old_on_failure=True),
                "check": condition_check(other, "attribute_exists(pk)"),
            }
        )

    failed = (cancelled.value.failed("put"), cancelled.value.failed("check"), cancelled.value.conflicted)
    assert failed == (True, False, False)
    assert cancelled.value.item("put") == {**KEY, "n": 1}
    assert table.get(KEY) == {**KEY, "n": 1}


class _Refusing:
    """A client whose every transaction is cancelled with this error response."""

    def __init__(self, response: dict[str, Any]) -> None:
        self._response = response

    def transact_write_items(self, **_: Any) -> None:
        raise ClientError(self._response, "TransactWriteItems")  # type: ignore[arg-type]


def test_reasons_given_only_in_the_message_are_read_from_it() -> None:
    """Given a client that lists the reasons only in the message (as some do), when a transaction
    is cancelled, then the reasons are read from it, by name in the order of the actions: the second
    failed, another transaction held the first."""
    message = (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[TransactionConflict, ConditionalCheckFailed]"
    )
    error = {"Error": {"Code": "TransactionCanceledException", "Message": message}}

    with pytest.raises(TransactionCancelledError) as cancelled:
        Table(_Refusing(error), "t").transact(  # type: ignore[arg-type]
            {
                "held": condition_check(KEY, "attribute_exists(pk)"),
                "checked": condition_check(KEY, "attribute_exists(pk)"),
            }
        )

    failed = (cancelled.value.failed("held"), cancelled.value.failed("checked"), cancelled.value.conflicted)
    assert failed == (False, True, True)
    assert cancelled.value.item("checked") is None
    assert not cancelled.value.failed("no such action")


def test_other_errors_are_not_a_cancellation() -> None:
    """Given a client that is throttled, when a transaction is sent, then the client's error
    surfaces as it is (the caller's retry policy handles it), not as a cancellation."""
    throttled = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}

    with pytest.raises(ClientError):
        Table(_Refusing(throttled), "t").transact({"check": condition_check(KEY, "attribute_exists(pk)")})  # type: ignore[arg-type]


def test_put_all_writes_every_item_in_requests_of_25_and_resends_the_unprocessed(table: Table) -> None:
    """Given 60 items and a table that leaves one request's items unprocessed once, when they are all
    put (4 in flight), then every item is stored."""
    items = [{"pk": "TEST#many", "sk": f"{n:03d}", "n": n} for n in range(60)]
    send = table.client.batch_write_item
    refused: list[int] = []

    def once_unprocessed(**request: Any) -> Any:
        if not refused:
            refused.append(1)
            return {"UnprocessedItems": request["RequestItems"]}
        return send(**request)

    table.client.batch_write_item = once_unprocessed  # type: ignore[method-assign]
    try:
        table.put_all(items, parallel=4)
    finally:
        del table.client.batch_write_item

    assert len(table.batch_get([{"pk": i["pk"], "sk": i["sk"]} for i in items])) == 60
    assert refused == [1]


def test_items_still_unprocessed_when_the_retries_run_out_are_a_throttling_error(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a table that leaves every batch unprocessed, when items are read or written in a batch,
    then after UNPROCESSED_RETRY's attempts the call fails as a throttled request does (the API's 503)
    instead of looping on."""
    monkeypatch.setattr(dynamo, "UNPROCESSED_RETRY", replace(dynamo.UNPROCESSED_RETRY, sleep=lambda _: None))
    calls: list[str] = []

    def unprocessed(**request: Any) -> Any:
        calls.append("call")
        return {"UnprocessedItems": request["RequestItems"], "UnprocessedKeys": request["RequestItems"]}

    table.client.batch_write_item = unprocessed  # type: ignore[method-assign]
    table.client.batch_get_item = unprocessed  # type: ignore[method-assign]
    try:
        with pytest.raises(ClientError) as writing:
            table.put_all([{**KEY, "n": 1}])
        with pytest.raises(ClientError) as reading:
            table.batch_get([KEY])
    finally:
        del table.client.batch_write_item
        del table.client.batch_get_item

    codes = {error.value.response["Error"]["Code"] for error in (writing, reading)}
    assert codes == {"ProvisionedThroughputExceededException"}
    assert len(calls) == 2 * dynamo.UNPROCESSED_RETRY.attempts


def test_bulk_reads_taken_as_dynamodb_sent_them_equal_botocores_parse(dynamodb: Any) -> None:
    """Given items of every attribute type the service stores, when a client reads them without
    botocore's parse (dynamo.read_raw_json), then BatchGetItem and Query give what the parsed
    responses give."""
    import boto3

    parsed = Table(dynamodb, TEST_ENV["TABLE_NAME"])
    raw_client = boto3.client("dynamodb", region_name="us-east-1")
    dynamo.read_raw_json(raw_client)
    raw = Table(raw_client, TEST_ENV["TABLE_NAME"])
    items = [
        {"pk": "TEST#1", "sk": f"A#{n}", "s": "x", "n": n, "f": 1.5, "b": True, "m": {"l": [1, "y", None]}}
        for n in range(3)
    ]
    parsed.put_all(items)
    keys_ = [{"pk": "TEST#1", "sk": f"A#{n}"} for n in range(4)]  # one missing

    def query(table: Table) -> list[dict[str, Any]]:
        return table.query_all(key_condition="pk = :pk", expression_values=values(pk="TEST#1"))

    assert sorted(raw.batch_get(keys_), key=str) == sorted(parsed.batch_get(keys_), key=str) == sorted(items, key=str)
    assert query(raw) == query(parsed) == items
