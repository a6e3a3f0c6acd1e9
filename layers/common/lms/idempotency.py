"""Idempotency-Key support through Powertools Idempotency, with its records in their own table."""

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from botocore.exceptions import ConnectionError as AwsConnectionError
from botocore.exceptions import HTTPClientError
from pydantic import BaseModel

from lms.errors import ConflictError, UnprocessableError
from lms.keys import idempotency_partition


class IdempotentRequest[B: BaseModel](BaseModel):
    """What identifies a retry: the caller and their key. The body must match the first request.
    `learner`: whom the request is for (default the caller), whose partition keeps the record."""

    caller: str
    key: str
    body: B
    learner: str = ""


# The learner of the request being served (one at a time per execution environment).
_learner: ContextVar[str] = ContextVar("idempotency_learner", default="")


class LearnerPartitionedStore(DynamoDBPersistenceLayer):
    """Records in their learner's partition of the table (`id` USER#<learner>, `sk` Powertools' hash
    of the function and the request), so that an erasure finds a learner's by one Query: a record
    replays a response that holds the learner's id (docs/privacy.md)."""

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        return {self.key_attr: {"S": _learner.get()}, "sk": {"S": idempotency_key}}


def idempotent_by_key[B: BaseModel, R: BaseModel](
    action: Callable[[IdempotentRequest[B]], R], table_name: str, ttl_seconds: int, client: Any = None
) -> Callable[[IdempotentRequest[B], Any], R]:
    """Wrap `action` so a repeated (caller, key) returns the first result instead of running again."""
    config = IdempotencyConfig(
        event_key_jmespath="[caller, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=ttl_seconds,
    )
    once: Callable[..., R] = idempotent_function(
        action,
        data_keyword_argument="request",
        # Given a client (a plain botocore one), Powertools creates no boto3 session and client of its own.
        persistence_store=LearnerPartitionedStore(table_name=table_name, boto3_client=client, sort_key_attr="sk"),
        config=config,
        output_serializer=PydanticSerializer,
    )

    def run(request: IdempotentRequest[B], context: Any) -> R:
        # The remaining time bounds how long an in-progress record blocks retries.
        config.register_lambda_context(context)
        _learner.set(idempotency_partition(request.learner or request.caller))
        try:
            return once(request=request)
        except IdempotencyValidationError as error:
            raise UnprocessableError("This Idempotency-Key was already used with a different body.") from error
        except IdempotencyAlreadyInProgressError as error:
            raise ConflictError("A request with this Idempotency-Key is still in progress.") from error
        except IdempotencyPersistenceLayerError as error:
            # The store could not be reached: answered like any unreachable AWS service (lms.api, 503).
            if isinstance(error.__cause__, AwsConnectionError | HTTPClientError):
                raise error.__cause__ from error
            raise

    return run
