"""An AWS service out of reach (after the client's bounded retries) is a 503 problem with
Retry-After, from the API's single error mapping; the clients' retries and timeouts are bounded."""

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from tests.conftest import ApiHarness, assert_problem


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:8000"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:8000"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:8000"),
    ],
    ids=["connection-refused", "connect-timeout", "read-timeout"],
)
def test_an_unreachable_table_is_a_503_problem_with_retry_after(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(api.module("get_course").catalog, "get_course", unreachable)

    reply = api.call("get_course", path={"courseId": "c-1"})

    assert_problem(reply, 503)
    assert reply.headers["Retry-After"] == "2"


@pytest.mark.parametrize(
    ("code", "status"),
    [("ProvisionedThroughputExceededException", 503), ("ThrottlingException", 503), ("AccessDeniedException", None)],
)
def test_a_table_still_throttled_after_retries_is_a_503_and_any_other_refusal_stays_ours(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, code: str, status: int | None
) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "Query")

    monkeypatch.setattr(api.module("get_course").catalog, "get_course", refused)

    if status is None:  # a refusal the client cannot fix by waiting: the function fails (a bare 500)
        with pytest.raises(ClientError):
            api.call("get_course", path={"courseId": "c-1"})
        return
    reply = api.call("get_course", path={"courseId": "c-1"})
    assert_problem(reply, status)
    assert reply.headers["Retry-After"] == "2"


@pytest.mark.parametrize("name", ["AWS_CONFIG", "LOCAL_CONFIG"])
def test_the_layers_clients_give_up_within_the_function_timeout(name: str) -> None:
    from lms import aws

    config = getattr(aws, name)
    attempts = config.retries["total_max_attempts"]
    backoff = 2 ** (attempts - 1) - 1  # standard mode: at most 1 s, then 2 s, ... between attempts
    assert config.retries["mode"] == "standard"
    assert attempts * config.read_timeout + backoff < 10  # Globals.Function.Timeout
    assert attempts * config.connect_timeout + backoff < 10


def test_the_layers_clients_use_the_aws_config_on_aws() -> None:
    from lms.aws import AWS_CONFIG, CLIENT_CONFIG

    assert CLIENT_CONFIG is AWS_CONFIG  # no endpoint override (tests/conftest.py removes it)
