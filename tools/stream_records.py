"""DynamoDB stream records in the shape Lambda passes them to a function: what the local poller
delivers and what the redrive tool replays."""

import base64
from typing import Any


def lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda passes it: epoch-seconds time, base64 binaries, the source ARN."""
    record: dict[str, Any] = _jsonable(raw)
    created = raw["dynamodb"]["ApproximateCreationDateTime"]
    record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    record["eventSourceARN"] = stream_arn
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value
