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
        {"Responses": {"t": [keys[0]]}, "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 1.0}]},
    )
    eventual = metered(
        "BatchGetItem",
        {"RequestItems": {"t": {"Keys": keys}}},
        {"Responses": {"t": [keys[0]]}, "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 0.5}]},
    )

    assert (strong.rcu, eventual.rcu) == (6.0, 3.0)
    assert sum(units.rcu for units in strong.partitions.values()) == 6.0


def test_an_empty_query_costs_the_minimum_read() -> None:
    query = {
        "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "P"}},
    }
    meter = metered("Query", query, {"Items": [], "ConsumedCapacity": {"CapacityUnits": 0.0}})

    assert meter.rcu == 1.0
    assert meter.partitions["P"].rcu == 1.0


def test_a_transaction_is_charged_by_aws_rule_per_part_and_attributed_to_each_partition() -> None:
    """Local's figure for a transaction is ignored: 2 WCU per KB per write, 2 per ConditionCheck, and
    an indexed item's index write (1 per KB) on its index partition."""
    put = {"Put": {"Item": {"pk": {"S": "USER#u"}, "sk": {"S": "PROGRESS#c#l"}, "gsi1pk": {"S": "C#P"}}}}
    check = {"ConditionCheck": {"Key": {"pk": {"S": "USER#u"}, "sk": {"S": "ENROLLMENT#c"}}}}
    update = {"Update": {"Key": {"pk": {"S": "USER#u"}, "sk": {"S": "ENROLLMENT#c"}}}}
    shard = {"Update": {"Key": {"pk": {"S": "C#AGGREGATE#3"}, "sk": {"S": "AGGREGATE"}}}}

    meter = metered(
        "TransactWriteItems",
        {"TransactItems": [check, put, update, shard]},
        {"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 6.0}]},
    )

    assert meter.wcu == 2 + (2 + 1) + (2 + 1) + 2
    assert meter.rcu == 0
    assert {name: units.wcu for name, units in meter.partitions.items()} == {
        "USER#u": 6,
        "gsi1:C#P": 1,
        "gsi1:?": 1,
        "C#AGGREGATE#3": 2,
    }
