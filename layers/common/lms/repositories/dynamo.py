"""Low-level helpers shared by the repositories: (de)serialisation, queries, transactions."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lms.pagination import Page, PageRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

Item = dict[str, Any]
# Query calls one list request may make: bounds what a filtered page reads (see Table.query_page).
READS_PER_PAGE = 3


# Plain Python values <-> DynamoDB attribute values, for the types this service stores. boto3's
# TypeSerializer would do it too, but importing boto3 costs a cold start about 100 ms.
def serialize_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, dict):
        return {"M": {k: serialize_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize_value(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def deserialize_value(attribute: dict[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    match kind:
        case "S" | "BOOL":
            return value
        case "N":
            return int(value) if value.lstrip("-").isdigit() else float(value)
        case "NULL":
            return None
        case "M":
            return deserialize(value)
        case "L":
            return [deserialize_value(v) for v in value]
    raise TypeError(f"unexpected DynamoDB attribute type {kind}")


def serialize(item: Item) -> dict[str, Any]:
    return {k: serialize_value(v) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> Item:
    return {k: deserialize_value(v) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments (`:name` placeholders)."""
    return {f":{name}": serialize_value(value) for name, value in named.items()}


@dataclass(frozen=True, slots=True)
class Cancellation:
    """Why a transaction was cancelled: one reason per action, in order."""

    codes: list[str]
    items: list[Item | None]

    def failed(self, index: int) -> bool:
        return self.codes[index] == "ConditionalCheckFailed"


def cancellation(error: ClientError) -> Cancellation | None:
    """The reasons of a TransactionCanceledException, or None for any other error."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
    if not reasons:
        # Some clients only report the reasons in the message: "[ConditionalCheckFailed, None]".
        message = error.response.get("Error", {}).get("Message", "")
        listed = message[message.find("[") + 1 : message.rfind("]")].split(",")
        reasons = [{"Code": code.strip()} for code in listed]
    return Cancellation(
        codes=[reason.get("Code", "None") for reason in reasons],
        items=[deserialize(r["Item"]) if r.get("Item") else None for r in reasons],
    )


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Table:
    """The single table: a client and a name, with the handful of calls the repositories share."""

    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self.client = client
        self.name = name

    def get(self, key: dict[str, str], *, consistent: bool = True) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=consistent)
        item = response.get("Item")
        return deserialize(item) if item else None

    def get_by_ref(
        self, ref_key: dict[str, str], target: Callable[[Item], dict[str, str]], item_id: str
    ) -> Item | None:
        """Follow an id reference item to the item it names. A reference left behind by an older item
        with the same key (deleted, then created again) is not that item."""
        ref = self.get(ref_key)
        item = self.get(target(ref)) if ref else None
        return item if item and item.get("id") == item_id else None

    def batch_get(self, keys: list[dict[str, str]], *, consistent: bool = True) -> list[Item]:
        """Every existing item among `keys` (strongly consistent by default), 100 keys per request."""
        found: list[Item] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self.name: {"Keys": [serialize(k) for k in keys[start : start + 100]], "ConsistentRead": consistent}
            }
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                found.extend(deserialize(i) for i in response.get("Responses", {}).get(self.name, []))
                pending = response.get("UnprocessedKeys") or {}
        return found

    def query_page(
        self,
        page: PageRequest,
        *,
        key_condition: str,
        expression_values: dict[str, Any],
        index: str | None = None,
        status: str | None = None,
        consistent: bool = False,
        reads: int = READS_PER_PAGE,
    ) -> Page[Item]:
        """One page of at most `page.limit` matches (optionally only those with `status`).

        A filter is applied after DynamoDB reads, so a rare status could mean reading a whole
        partition for one page. Each request makes at most `reads` Query calls instead
        (reading at most that many times `page.limit` items): a filtered page may hold fewer
        items than asked for, even none, and still have a cursor to continue from."""
        items: list[Item] = []
        start_key = page.start_key
        for _ in range(reads):
            kwargs: dict[str, Any] = {
                "TableName": self.name,
                "KeyConditionExpression": key_condition,
                "ExpressionAttributeValues": expression_values,
                "Limit": page.limit - len(items),
            }
            if index:
                kwargs["IndexName"] = index
            else:
                kwargs["ConsistentRead"] = consistent
            if status is not None:
                kwargs["FilterExpression"] = "#status = :status"
                kwargs["ExpressionAttributeNames"] = {"#status": "status"}
                kwargs["ExpressionAttributeValues"] = expression_values | values(status=status)
            if start_key:
                kwargs["ExclusiveStartKey"] = serialize(start_key)
            response = self.client.query(**kwargs)
            items.extend(deserialize(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            start_key = deserialize(last) if last else None
            if start_key is None or len(items) >= page.limit:
                break
        return Page(items=items, last_key=start_key)

    def query_prefix(self, page: PageRequest, pk: str, sk_prefix: str, status: str | None) -> Page[Item]:
        """One page of a partition's items whose sort key starts with `sk_prefix` (strongly consistent)."""
        return self.query_page(
            page,
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            expression_values=values(pk=pk, prefix=sk_prefix),
            consistent=True,
            status=status,
        )

    def query_all(
        self, *, key_condition: str, expression_values: dict[str, Any], consistent: bool = True
    ) -> list[Item]:
        """Every item of a small partition (a course outline), strongly consistent."""
        items: list[Item] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": expression_values,
            "ConsistentRead": consistent,
        }
        while True:
            response = self.client.query(**kwargs)
            items.extend(deserialize(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def transact(self, actions: list[dict[str, Any]]) -> None:
        """TransactWriteItems; actions name no table, it is filled in here."""
        for action in actions:
            next(iter(action.values()))["TableName"] = self.name
        self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
