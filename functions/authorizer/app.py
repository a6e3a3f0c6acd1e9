"""Lambda authorizer (HTTP API, payload 2.0, simple responses): verifies the bearer JWT.

Two modes: an HS256 shared secret (JWT_SECRET locally, or the SSM SecureString named by
JWT_SECRET_PARAMETER on AWS) or, when JWT_JWKS_URL is set, RS256/ES256 public keys from a JWKS.
Anything wrong with the request or the token denies; no exception ever escapes.

Imports are kept narrow on purpose (no pydantic, no `lms`, no boto3 unless SSM is used, and the
payload 2.0 event read as the dict it is: Powertools' data classes package imports every event type
it knows): the authorizer sits in front of every request, so its cold start is everyone's cold start.
"""

import os
from typing import Any

import jwt
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()

JWT_ISSUER = os.environ.get("JWT_ISSUER", "")
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "")
JWT_JWKS_URL = os.environ.get("JWT_JWKS_URL", "")
JWT_SECRET = os.environ.get("JWT_SECRET", "")
JWT_SECRET_PARAMETER = os.environ.get("JWT_SECRET_PARAMETER", "")

# Exact allow-lists per mode: never `none`, and never HS* with JWKS (an attacker could otherwise
# HMAC-sign a token with the public key, which is public).
HS_ALGORITHMS = ["HS256"]
JWKS_ALGORITHMS = ["RS256", "ES256"]
LEEWAY_SECONDS = 60
KNOWN_ROLES = ("student", "instructor", "admin")
DEFAULT_ROLE = "student"
# The contract lets a user id be any non-empty string; lms.keys makes it safe where it enters a key.
MAX_USER_ID_LENGTH = 256
# The authorizer has 5 s: a slow IdP must deny in time instead of making API Gateway answer 500.
JWKS_FETCH_TIMEOUT_SECONDS = 2
# How long a fetched key set is trusted: a key the IdP withdraws stops working within this time.
JWKS_LIFESPAN_SECONDS = 600
# How long the HS256 secret is cached (Powertools Parameters): a rotation is in use within this time.
SECRET_MAX_AGE_SECONDS = 300

# Created once per container so the fetched key set is reused across invocations. Only the set is
# cached (with its lifespan); pyjwt's per-kid key cache would keep a withdrawn key for good.
JWKS_CLIENT: jwt.PyJWKClient | None = (
    jwt.PyJWKClient(
        JWT_JWKS_URL,
        cache_keys=False,
        cache_jwk_set=True,
        lifespan=JWKS_LIFESPAN_SECONDS,
        timeout=JWKS_FETCH_TIMEOUT_SECONDS,
    )
    if JWT_JWKS_URL
    else None
)


class DeniedError(Exception):
    """The request or its token is not acceptable; the message is the (token-free) reason."""


def _secret_from_ssm(name: str) -> str:
    # Lazy import: boto3 is loaded only when the secret really lives in SSM. Powertools caches the
    # value for max_age, then reads it again (rotation without a redeploy); a failed fetch is not
    # cached, so the next request retries.
    from aws_lambda_powertools.utilities.parameters import get_parameter

    return get_parameter(name, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)


def _shared_secret() -> str:
    if JWT_SECRET:
        return JWT_SECRET
    if JWT_SECRET_PARAMETER:
        return _secret_from_ssm(JWT_SECRET_PARAMETER)
    raise DeniedError("no JWT_SECRET, JWT_SECRET_PARAMETER or JWT_JWKS_URL configured")


def _bearer_token(event: dict[str, Any]) -> str:
    value: Any = None
    if event.get("headers"):
        value = next((v for k, v in event["headers"].items() if k.lower() == "authorization"), None)
    if not value and event.get("identitySource"):
        value = event["identitySource"][0]
    if not isinstance(value, str):
        raise DeniedError("missing Authorization header")
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise DeniedError("Authorization is not a Bearer token")
    return parts[1]


def _is_number(value: Any) -> bool:
    # bool is an int subclass, and pyjwt would int() a numeric string; JSON numbers only.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _decode(token: str) -> dict[str, Any]:
    if not JWT_ISSUER or not JWT_AUDIENCE:
        raise DeniedError("JWT_ISSUER and JWT_AUDIENCE must be configured")
    key: Any
    if JWKS_CLIENT is not None:
        key, algorithms = JWKS_CLIENT.get_signing_key_from_jwt(token), JWKS_ALGORITHMS
    else:
        key, algorithms = _shared_secret(), HS_ALGORITHMS
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=algorithms,
        issuer=JWT_ISSUER,
        audience=JWT_AUDIENCE,
        leeway=LEEWAY_SECONDS,
        options={"require": ["exp", "iat", "sub"]},
    )
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_number(claims[name]):
            raise DeniedError(f"claim {name} is not a number")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise DeniedError("claim sub is not a non-empty string")
    if len(claims["sub"]) > MAX_USER_ID_LENGTH:
        raise DeniedError(f"claim sub is longer than {MAX_USER_ID_LENGTH} characters")
    try:
        claims["sub"].encode("utf-8")  # a lone surrogate (JSON "\ud800") could be stored nowhere
    except UnicodeEncodeError:
        raise DeniedError("claim sub is not valid Unicode text") from None
    for name in ("roles", "cognito:groups"):
        if name in claims and not _is_string_list(claims[name]):
            raise DeniedError(f"claim {name} is not a list of strings")
    return claims


def _roles(claims: dict[str, Any]) -> list[str]:
    # A `roles` claim, even an empty one, wins over Cognito groups.
    names: list[str] = claims["roles"] if "roles" in claims else claims.get("cognito:groups", [])
    return [role for role in KNOWN_ROLES if role in names] or [DEFAULT_ROLE]


def _authorize(event: dict[str, Any]) -> dict[str, str]:
    claims = _decode(_bearer_token(event))
    # Context values must be flat scalars; lms.identity splits the comma-separated roles.
    return {"userId": claims["sub"], "roles": ",".join(_roles(claims))}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reason: str
    try:
        identity = _authorize(event)
    except DeniedError as exc:
        reason = str(exc)
    except jwt.PyJWTError as exc:
        # pyjwt's messages describe the failed check, never the token itself.
        reason = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        # Last resort: deny rather than let API Gateway turn a crash into a 500.
        logger.error("authorizer failed unexpectedly", extra={"error": type(exc).__name__})
        reason = f"unexpected {type(exc).__name__}"
    else:
        logger.info("allowed", extra={"user_id": identity["userId"], "roles": identity["roles"]})
        return {"isAuthorized": True, "context": identity}  # the simple response format
    logger.info("denied", extra={"reason": reason})
    return {"isAuthorized": False}
