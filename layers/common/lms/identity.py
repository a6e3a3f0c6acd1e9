"""The caller, as the authorizer established it. Handlers never trust a userId sent by the client."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    STUDENT = "student"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    roles: frozenset[Role]

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_instructor(self) -> bool:
        return Role.INSTRUCTOR in self.roles

    @classmethod
    def from_authorizer_context(cls, context: dict[str, Any] | None) -> "Identity":
        """Build the identity from `requestContext.authorizer.lambda` (payload 2.0 simple response)."""
        context = context or {}
        user_id = context.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise PermissionError("request carries no authorizer identity")
        raw_roles = context.get("roles", "")
        names = raw_roles.split(",") if isinstance(raw_roles, str) else list(raw_roles or [])
        roles = {Role(name) for name in (n.strip() for n in names) if name in Role.__members__.values()}
        return cls(user_id=user_id, roles=frozenset(roles or {Role.STUDENT}))
