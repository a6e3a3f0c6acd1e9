"""Mint HS256 dev tokens the local authorizer accepts: `python -m local.token --sub alice --role student`.

The one place tokens are made, for `make token`, `make dev` and the integration tests.
"""

import argparse
import os
import time
import uuid

import jwt

# The contract's local defaults; each can be overridden by the environment variable of the same name.
DEFAULT_JWT_SETTINGS = {
    "JWT_SECRET": "local-dev-secret-change-me-32bytes",
    "JWT_ISSUER": "https://auth.local.test",
    "JWT_AUDIENCE": "lms-api",
}
ROLES = ("student", "instructor", "admin")


def jwt_settings() -> dict[str, str]:
    """The JWT settings in force: the developer's environment over the local defaults."""
    return {name: os.environ.get(name, default) for name, default in DEFAULT_JWT_SETTINGS.items()}


def mint_token(sub: str, role: str = "student", ttl_seconds: int = 3600) -> str:
    """A signed token for `sub` with `roles: [role]`; a negative ttl gives an already expired one."""
    settings = jwt_settings()
    now = int(time.time())
    claims = {
        "sub": sub,
        "roles": [role],
        "iss": settings["JWT_ISSUER"],
        "aud": settings["JWT_AUDIENCE"],
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,  # two tokens minted in the same second still differ
    }
    token: str = jwt.encode(claims, settings["JWT_SECRET"], algorithm="HS256")
    return token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", default="dev-student", help="the user id (JWT sub)")
    parser.add_argument("--role", choices=ROLES, default="student")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until the token expires")
    args = parser.parse_args(argv)
    print(mint_token(args.sub, args.role, args.ttl))


if __name__ == "__main__":
    main()
