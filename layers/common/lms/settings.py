"""Environment settings, validated once per container."""

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3)
    idempotency_table_name: str | None = None
    # Local runs pass the cursor key directly; on AWS it is read from Secrets Manager by ARN.
    cursor_secret: str | None = None
    cursor_secret_arn: str | None = None
    idempotency_ttl_seconds: int = 3600
    # The key of erased users' hashes (lms.user_hash): given locally, by ARN on AWS.
    erasure_key: str | None = None
    erasure_key_arn: str | None = None
    event_bus_name: str | None = None


@cache
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get("TABLE_NAME", ""),
        idempotency_table_name=os.environ.get("IDEMPOTENCY_TABLE_NAME") or None,
        cursor_secret=os.environ.get("CURSOR_SECRET") or None,
        cursor_secret_arn=os.environ.get("CURSOR_SECRET_ARN") or None,
        event_bus_name=os.environ.get("EVENT_BUS_NAME") or None,
        erasure_key=os.environ.get("ERASURE_KEY") or None,
        erasure_key_arn=os.environ.get("ERASURE_KEY_SECRET_ARN") or None,
    )
