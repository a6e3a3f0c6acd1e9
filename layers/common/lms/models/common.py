from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Resource ids are server-generated: short, URL-safe, and never containing the key separator #.
ID_PATTERN = r"^[A-Za-z0-9._:@|+-]{1,128}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# A user id is a token's `sub`, which the contract lets be any non-empty string; lms.keys makes it
# safe where it enters a key.
MAX_USER_ID_LENGTH = 256
UserId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USER_ID_LENGTH)]


class RequestModel(BaseModel):
    """A request body: camelCase fields, unknown fields rejected, no type coercion."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """A response body: camelCase fields; storage-only attributes are dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ListResponse[T](ResponseModel):
    items: list[T]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` for the next page; null at the end. A filtered page may hold fewer "
        "items than `limit`, even none, and still have a next page: follow it until it is null.",
    )
