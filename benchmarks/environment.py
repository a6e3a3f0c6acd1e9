"""The environment of a handler run in the benchmark's own process, against a local DynamoDB."""

import os


def use_local_dynamodb(**extra: str) -> None:
    """Point the functions at DDB_ENDPOINT with dummy credentials and quiet Powertools; `extra`
    adds or overrides variables."""
    os.environ.update(
        AWS_ENDPOINT_URL_DYNAMODB=os.environ["DDB_ENDPOINT"],
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        TABLE_NAME="lms-dev",
        CURSOR_SECRET="bench",
        ERASURE_KEY="bench",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
        **extra,
    )
