from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@|+-]+$")]


class RequestModel(BaseModel):
    """A request body: camelCase fields, unknown fields rejected, no type coercion."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """A response body: camelCase fields; storage-only attributes are dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ListResponse[T](ResponseModel):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")
