"""The table gateway: every call the repositories make to DynamoDB goes through `Table`, and a
cancelled transaction or a failed condition surfaces as one typed exception (`TransactionCancelledError`,
`ConditionFailedError`), never as a botocore error to pick apart. Over 300 lines because it is the
one module that knows DynamoDB's wire shapes (attribute values, actions, cancellation reasons):
splitting it would spread them again."""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lms.pagination import Page, PageRequest
from lms.retry import Retry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

Item = dict[str, Any]
_BATCH_WRITE_SIZE = 25
# What a throttled batch left unprocessed is sent again after a backoff, as AWS advises: waits of up
# to 50 ms doubling to 1 s, tries starting within 3 s (the API functions time out after 10 s; a
# course outline's batches run 8 at a time). Still unprocessed after that: throttled, a 503.
UNPROCESSED_RETRY = Retry(attempts=8, base=0.05, cap=1.0, budget=3.0)
# Query calls one list request may make: bounds what a filtered page reads (see Table.query_page).
READS_PER_PAGE = 3


# Plain Python values <-> DynamoDB attribute values, for the types this service stores. boto3's
# TypeSerializer would do it too, but importing boto3 costs a cold start about 100 ms.
def serialize_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):  # Decimal: as stream images carry numbers
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


# botocore walks a response's shape for every attribute of every item it returns (about 0.1 ms an
# item locally: a third of a 100-learner batch's reads); DynamoDB's JSON is already that shape, and
# `deserialize` reads it as it comes. Only for the bulk reads, and only a success (errors are parsed
# as usual); it differs from botocore's parse only for binary attributes, which this service never stores.
_RAW_READS = ("BatchGetItem", "Query")


def _raw_json(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    if response_dict["status_code"] < 300 and response_dict.get("body"):
        customized_response_dict.update(json.loads(response_dict["body"]))
        response_dict["body"] = b"{}"  # what is left for botocore's parser: only ResponseMetadata


def read_raw_json(client: DynamoDBClient) -> None:
    """Have `client` hand bulk reads' items over as DynamoDB sent them, without botocore's parse."""
    for operation in _RAW_READS:
        client.meta.events.register(f"before-parse.dynamodb.{operation}", _raw_json)


class ConditionFailedError(Exception):
    """A single write's condition did not hold."""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one action of a cancelled transaction did not commit: DynamoDB's code ("None": it would
    have), and the item as stored when the action asked for it (ReturnValuesOnConditionCheckFailure)."""

    code: str
    item: Item | None = None


class TransactionCancelledError(Exception):
    """A transaction was cancelled: a reason for each of its actions, by the name it was given."""

    def __init__(self, reasons: dict[str, Reason]) -> None:
        super().__init__(", ".join(f"{name}: {reason.code}" for name, reason in reasons.items()))
        self.reasons = reasons

    def failed(self, name: str) -> bool:
        """Whether action `name` failed its condition."""
        reason = self.reasons.get(name)
        return reason is not None and reason.code == "ConditionalCheckFailed"

    def item(self, name: str) -> Item | None:
        """The item action `name` found, when it failed its condition and asked for it."""
        reason = self.reasons.get(name)
        return reason.item if reason else None

    @property
    def conflicted(self) -> bool:
        """Another transaction held one of the items: the same actions may succeed if sent again."""
        return any(reason.code == "TransactionConflict" for reason in self.reasons.values())


def _cancellation(error: ClientError, names: list[str]) -> TransactionCancelledError | None:
    """The reasons of a TransactionCanceledException, by action name (DynamoDB lists them in the
    order of the actions), or None for any other error."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
    if not reasons:
        # Some clients only report the reasons in the message: "[ConditionalCheckFailed, None]".
        message = error.response.get("Error", {}).get("Message", "")
        listed = message[message.find("[") + 1 : message.rfind("]")].split(",")
        reasons = [{"Code": code.strip()} for code in listed]
    return TransactionCancelledError(
        {
            name: Reason(r.get("Code", "None"), deserialize(r["Item"]) if r.get("Item") else None)
            for name, r in zip(names, reasons, strict=False)
        }
    )


def _still_throttled(operation: str) -> ClientError:
    """Items still unprocessed after UNPROCESSED_RETRY: the error DynamoDB gives a throttled request,
    which the API answers as busy (503, Retry-After)."""
    error = {"Code": "ProvisionedThroughputExceededException", "Message": "items left unprocessed after retries"}
    return ClientError({"Error": error}, operation)  # type: ignore[typeddict-item]


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# Transaction actions, in TransactWriteItems' shape without the table name (Table fills it in). The
# single-item verbs of Table take the same arguments, so a condition reads alike in both. A
# transaction names each action, and a cancellation is read by those names.
Action = dict[str, dict[str, Any]]


def _expressions(
    condition: str | None, expression_values: dict[str, Any] | None, names: dict[str, str] | None
) -> dict[str, Any]:
    request: dict[str, Any] = {}
    if condition:
        request["ConditionExpression"] = condition
    if expression_values:
        request["ExpressionAttributeValues"] = expression_values
    if names:
        request["ExpressionAttributeNames"] = names
    return request


def put_action(
    item: Item,
    *,
    condition: str | None = None,
    expression_values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    return_old_on_failure: bool = False,
) -> Action:
    request = {"Item": serialize(item), **_expressions(condition, expression_values, names)}
    return {"Put": _returning_old(request, return_old_on_failure)}


def update_action(
    key: dict[str, str],
    expression: str,
    *,
    condition: str | None = None,
    expression_values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    return_old_on_failure: bool = False,
) -> Action:
    request = {"Key": serialize(key), "UpdateExpression": expression} | _expressions(
        condition, expression_values, names
    )
    return {"Update": _returning_old(request, return_old_on_failure)}


def delete_action(
    key: dict[str, str],
    *,
    condition: str | None = None,
    expression_values: dict[str, Any] | None = None,
    return_old_on_failure: bool = False,
) -> Action:
    request = {"Key": serialize(key), **_expressions(condition, expression_values, None)}
    return {"Delete": _returning_old(request, return_old_on_failure)}


def condition_check(
    key: dict[str, str],
    condition: str,
    *,
    expression_values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    return_old_on_failure: bool = False,
) -> Action:
    request = {"Key": serialize(key), **_expressions(condition, expression_values, names)}
    return {"ConditionCheck": _returning_old(request, return_old_on_failure)}


def _returning_old(request: dict[str, Any], return_old: bool) -> dict[str, Any]:
    """A failed condition returns the item as stored (TransactionCancelledError.item)."""
    if return_old:
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return request


class Table:
    """The single table: a client and a name, with every call the repositories make. `client` is
    public for instrumentation (tests and benchmarks count or fail its calls), not for repositories."""

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
            for _ in UNPROCESSED_RETRY.tries():
                response = self.client.batch_get_item(RequestItems=pending)
                found.extend(deserialize(i) for i in response.get("Responses", {}).get(self.name, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise _still_throttled("BatchGetItem")
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
        scanned = 0
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
            scanned += response.get("ScannedCount", 0)
            last = response.get("LastEvaluatedKey")
            start_key = deserialize(last) if last else None
            if start_key is None or len(items) >= page.limit:
                break
        return Page(items=items, last_key=start_key, scanned=scanned)

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

    def put(
        self,
        item: Item,
        *,
        condition: str | None = None,
        expression_values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        """PutItem; ConditionFailedError when `condition` does not hold."""
        request = put_action(item, condition=condition, expression_values=expression_values, names=names)["Put"]
        self._conditional(lambda: self.client.put_item(TableName=self.name, **request))

    def update(
        self,
        key: dict[str, str],
        expression: str,
        *,
        condition: str | None = None,
        expression_values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> Item:
        """UpdateItem; returns the attributes it changed, as they are now. ConditionFailedError when
        `condition` does not hold."""
        request = update_action(key, expression, condition=condition, expression_values=expression_values, names=names)[
            "Update"
        ]
        response = self._conditional(
            lambda: self.client.update_item(TableName=self.name, ReturnValues="UPDATED_NEW", **request)
        )
        return deserialize(response.get("Attributes", {}))

    def delete(self, key: dict[str, str]) -> None:
        self.client.delete_item(TableName=self.name, Key=serialize(key))

    @staticmethod
    def _conditional[R](call: Callable[[], R]) -> R:
        try:
            return call()
        except ClientError as error:
            if _is_condition_failure(error):
                raise ConditionFailedError from error
            raise

    def put_all(self, items: list[Item], *, parallel: int = 1) -> None:
        """BatchWriteItem in requests of 25 items, up to `parallel` of them in flight at once; what
        DynamoDB leaves unprocessed (throttling) is sent again after a backoff, as AWS advises."""
        batches = [items[start : start + _BATCH_WRITE_SIZE] for start in range(0, len(items), _BATCH_WRITE_SIZE)]
        if parallel <= 1 or len(batches) <= 1:
            for batch in batches:
                self._put_batch(batch)
            return
        from concurrent.futures import ThreadPoolExecutor  # only large writes (a course outline) pay for it

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            # list() re-raises the first failure.
            list(pool.map(self._put_batch, batches))

    def _put_batch(self, items: list[Item]) -> None:
        pending: dict[str, Any] = {self.name: [{"PutRequest": {"Item": serialize(i)}} for i in items]}
        for _ in UNPROCESSED_RETRY.tries():
            response = self.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
        raise _still_throttled("BatchWriteItem")

    def transact(self, actions: Mapping[str, Action]) -> None:
        """TransactWriteItems of the named actions, in their order; TransactionCancelledError (with
        a reason per action name) when it is cancelled."""
        for action in actions.values():
            # An action may name another table of the stack (the erasure's idempotency records).
            next(iter(action.values())).setdefault("TableName", self.name)
        try:
            self.client.transact_write_items(TransactItems=list(actions.values()))  # type: ignore[arg-type]
        except ClientError as error:
            cancelled = _cancellation(error, list(actions))
            if cancelled is None:
                raise
            raise cancelled from error
