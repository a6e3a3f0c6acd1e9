"""The cursor signing key comes from Secrets Manager through Powertools Parameters' cache (max_age),
so rotating it needs no redeploy: within max_age the old key still signs; after it, the new one."""

from collections.abc import Iterator
from typing import Any

import pytest

from lms import container
from lms.errors import InvalidCursorError
from lms.settings import Settings
from tests.conftest import expire_parameter_caches

LAST_KEY = {"pk": "USER#student-1", "sk": "ENROLLMENT#c1"}
QUERY = "fingerprint"


@pytest.fixture
def secret(_mocked_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """A cursor key in (moto) Secrets Manager, named by ARN only (as on AWS), nothing cached."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name=f"cursor-key-{id(monkeypatch)}", SecretString="first-key")["ARN"]
    settings = Settings(table_name="lms-dev", cursor_secret_arn=arn)
    monkeypatch.setattr(container, "get_settings", lambda: settings)
    parameters.clear_caches()
    yield client, arn
    parameters.clear_caches()
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_a_rotated_cursor_key_is_used_once_the_cached_one_is_older_than_max_age(secret: tuple[Any, str]) -> None:
    client, arn = secret
    codec = container.cursor_codec()
    before = codec.encode(LAST_KEY, QUERY)

    client.put_secret_value(SecretId=arn, SecretString="rotated-key")
    assert codec.decode(before, QUERY) == LAST_KEY  # still within max_age: the cached key

    expire_parameter_caches()
    with pytest.raises(InvalidCursorError):
        codec.decode(before, QUERY)  # signed with the key rotated away: a 400 for the client
    after = codec.encode(LAST_KEY, QUERY)
    assert after != before
    assert codec.decode(after, QUERY) == LAST_KEY
