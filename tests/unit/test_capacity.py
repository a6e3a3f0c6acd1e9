"""The benchmark's conversion of DynamoDB Local's consumed capacity into AWS's accounting."""

from types import SimpleNamespace
from typing import Any

from benchmarks.capacity import CapacityMeter


def metered(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> CapacityMeter:
    meter = CapacityMeter(active=True)
    context: dict[str, Any] = {}
    model = SimpleNamespace(name=operation)
    meter.add_parameter(params=params, model=model, context=context)
    meter.record(http_response=None, parsed=parsed, model=model, context=context)
    assert params["ReturnConsumedCapacity"] == "INDEXES"
    return meter


def test_batch_get_item_is_charged_for_every_requested_key_found_or_not() -> None:
    keys = [{"pk": {"S": f"k{n}"}, "sk": {"S": "x"}} for n in range(6)]
    strong = metered(
        "BatchGetItem",
        {"RequestItems": {"t": {"Keys": keys, "ConsistentRead": True}}},
        {"Responses": {"t": [{}]}, "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 1.0}]},
    )
    eventual = metered(
        "BatchGetItem",
        {"RequestItems": {"t": {"Keys": keys}}},
        {"Responses": {"t": [{}]}, "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 0.5}]},
    )

    assert (strong.rcu, eventual.rcu) == (6.0, 3.0)


def test_an_empty_query_costs_the_minimum_read() -> None:
    meter = metered("Query", {"ConsistentRead": True}, {"Items": [], "ConsumedCapacity": {"CapacityUnits": 0.0}})

    assert meter.rcu == 1.0


def test_a_transaction_adds_condition_checks_and_index_writes_local_leaves_out() -> None:
    put = {"Put": {"Item": {"pk": {"S": "USER#u"}, "sk": {"S": "PROGRESS#l"}, "gsi1pk": {"S": "C#P"}}}}
    check = {"ConditionCheck": {"Key": {"pk": {"S": "USER#u"}, "sk": {"S": "ENROLLMENT#c"}}}}
    update = {"Update": {"Key": {"pk": {"S": "USER#u"}, "sk": {"S": "ENROLLMENT#c"}}}}
    summary = {"Update": {"Key": {"pk": {"S": "USER#u"}, "sk": {"S": "SUMMARY#c"}}}}

    meter = metered(
        "TransactWriteItems",
        {"TransactItems": [check, put, update, summary]},
        {"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 6.0}]},
    )

    assert meter.wcu == 6.0 + 2 + 1 + 1
    assert meter.rcu == 0
