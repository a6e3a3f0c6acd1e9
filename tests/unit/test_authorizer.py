"""The Lambda authorizer: who gets in, with which roles, and that every forgery is denied quietly."""

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lms.identity import Identity, Role
from local.loader import ROOT, load_module
from tests.conftest import expire_parameter_caches, load_event

SECRET = os.environ["JWT_SECRET"]
ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ["JWT_AUDIENCE"]
JWKS_URL = "https://auth.example.test/.well-known/jwks.json"
DENIED = {"isAuthorized": False}
DROP = object()  # marks a claim to leave out

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


# ------------------------------------------------------------------------------------------ helpers
@dataclass(frozen=True)
class Keys:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    stranger: rsa.RSAPrivateKey  # a key the JWKS does not publish
    rsa_public_pem: bytes

    @property
    def jwks(self) -> dict[str, Any]:
        rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True)
        ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key(), as_dict=True)
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
            ]
        }


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for now; `name=DROP` removes a claim, any other value replaces it."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "student-1",
        "roles": ["student"],
        "iat": now,
        "exp": now + 3600,
    }
    for name, value in changes.items():
        if value is DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj).encode())


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def raw_hmac_token(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """HMAC-sign by hand: pyjwt refuses to use a PEM as an HMAC key, an attacker would not."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(payload: dict[str, Any]) -> str:
    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(payload)}."


def tampered(token: str, payload: dict[str, Any]) -> str:
    """Swap the payload segment, keep the original header and signature."""
    header, _, signature = token.split(".")
    return f"{header}.{segment(payload)}.{signature}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def event_with(authorization: str | None, header_name: str = "authorization") -> dict[str, Any]:
    """The recorded valid event, with its Authorization (header and identity source) replaced."""
    event = load_event("authorizer_valid_token.json")
    event["headers"].pop("authorization")
    if authorization is None:
        event["identitySource"] = []
    else:
        event["headers"][header_name] = authorization
        event["identitySource"] = [authorization]
    return event


def allowed(user_id: str, roles: str) -> dict[str, Any]:
    return {"isAuthorized": True, "context": {"userId": user_id, "roles": roles}}


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def keys() -> Keys:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keys(
        rsa_key=rsa_key,
        ec_key=ec.generate_private_key(ec.SECP256R1()),
        stranger=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa_public_pem=rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@pytest.fixture
def load_authorizer(monkeypatch: pytest.MonkeyPatch, keys: Keys, lambda_context: Any) -> Callable[[str], Invoke]:
    """Load a fresh authorizer module in "hs" (shared secret) or "jwks" mode; returns an invoker.

    load_module re-executes app.py, so module-level configuration follows the env set here. In JWKS
    mode the client's fetch is replaced so that no test touches the network.
    """

    def load(mode: str) -> Invoke:
        if mode == "jwks":
            monkeypatch.setenv("JWT_JWKS_URL", JWKS_URL)
            monkeypatch.delenv("JWT_SECRET", raising=False)
        else:
            monkeypatch.delenv("JWT_JWKS_URL", raising=False)
        module, handler = load_module("functions/authorizer")
        if mode == "jwks":
            monkeypatch.setattr(module.JWKS_CLIENT, "fetch_data", lambda: keys.jwks)
        return lambda event: handler(event, lambda_context)

    return load


@pytest.fixture
def authorize(load_authorizer: Callable[[str], Invoke]) -> Invoke:
    """The authorizer as configured locally and in tests: HS256 shared secret."""
    return load_authorizer("hs")


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Records of the Powertools logger (it does not propagate, so caplog alone sees nothing)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    target = logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"])
    target.addHandler(handler)
    yield records
    target.removeHandler(handler)


# ------------------------------------------------------------------------------------ allowed tokens
def test_valid_hs256_student_token_is_allowed_with_user_id_and_roles(authorize: Invoke) -> None:
    response = authorize(event_with(bearer(hs256(claims()))))

    assert response == allowed("student-1", "student")


def test_roles_come_from_cognito_groups_when_there_is_no_roles_claim(authorize: Invoke) -> None:
    token = hs256(claims(sub="teacher-1", roles=DROP, **{"cognito:groups": ["admin", "instructor"]}))

    assert authorize(event_with(bearer(token))) == allowed("teacher-1", "instructor,admin")


def test_roles_claim_wins_over_cognito_groups(authorize: Invoke) -> None:
    token = hs256(claims(roles=["instructor"], **{"cognito:groups": ["admin"]}))

    assert authorize(event_with(bearer(token))) == allowed("student-1", "instructor")


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param(["superuser", "root"], id="only-unknown-roles"),
        pytest.param([], id="empty-roles"),
        pytest.param(DROP, id="no-roles-claim"),
    ],
)
def test_token_without_a_known_role_is_a_student(authorize: Invoke, roles: Any) -> None:
    assert authorize(event_with(bearer(hs256(claims(roles=roles))))) == allowed("student-1", "student")


def test_unknown_roles_are_dropped_and_known_ones_kept(authorize: Invoke) -> None:
    token = hs256(claims(roles=["admin", "superuser"]))

    assert authorize(event_with(bearer(token))) == allowed("student-1", "admin")


@pytest.mark.parametrize("exp_offset", [pytest.param(-30, id="expired-30s-ago"), pytest.param(0, id="expiring-now")])
def test_token_expired_within_the_60s_leeway_is_still_accepted(authorize: Invoke, exp_offset: int) -> None:
    """Given clocks that disagree by less than a minute, a just-expired token still passes."""
    now = int(time.time())
    token = hs256(claims(iat=now - 600, exp=now + exp_offset))

    assert authorize(event_with(bearer(token)))["isAuthorized"] is True


def test_token_issued_slightly_in_the_future_is_accepted_within_leeway(authorize: Invoke) -> None:
    token = hs256(claims(iat=int(time.time()) + 30))

    assert authorize(event_with(bearer(token)))["isAuthorized"] is True


@pytest.mark.parametrize(
    ("scheme", "header_name"),
    [
        pytest.param("bearer", "authorization", id="lowercase-scheme"),
        pytest.param("BEARER", "Authorization", id="uppercase-scheme-capitalised-header"),
    ],
)
def test_scheme_and_header_name_are_case_insensitive(authorize: Invoke, scheme: str, header_name: str) -> None:
    event = event_with(f"{scheme} {hs256(claims())}", header_name=header_name)

    assert authorize(event) == allowed("student-1", "student")


def test_token_is_taken_from_identity_source_when_headers_are_absent(authorize: Invoke) -> None:
    event = event_with(bearer(hs256(claims())))
    del event["headers"]

    assert authorize(event) == allowed("student-1", "student")


@pytest.mark.parametrize(
    ("algorithm", "kid", "key_name"),
    [
        pytest.param("RS256", "rsa-1", "rsa_key", id="RS256"),
        pytest.param("ES256", "ec-1", "ec_key", id="ES256"),
    ],
)
def test_jwks_mode_accepts_tokens_signed_by_a_published_key(
    load_authorizer: Callable[[str], Invoke], keys: Keys, algorithm: str, kid: str, key_name: str
) -> None:
    authorize = load_authorizer("jwks")
    token = jwt.encode(claims(roles=["instructor"]), getattr(keys, key_name), algorithm=algorithm, headers={"kid": kid})

    assert authorize(event_with(bearer(token))) == allowed("student-1", "instructor")


def test_allowed_context_is_what_the_handlers_identity_reads(authorize: Invoke) -> None:
    """Given the authorizer's context, When a handler builds its Identity, Then user and roles survive."""
    response = authorize(event_with(bearer(hs256(claims(sub="u-9", roles=["admin", "instructor"])))))

    identity = Identity.from_authorizer_context(response["context"])

    assert identity.user_id == "u-9"
    assert identity.roles == frozenset({Role.ADMIN, Role.INSTRUCTOR})


# ------------------------------------------------------------------------------ forged and invalid
def _now() -> int:
    return int(time.time())


TokenFactory = Callable[[Keys], str | None]

FORGED: list[Any] = [
    # signature and algorithm
    pytest.param("hs", lambda k: bearer(unsigned(claims())), id="alg-none-unsigned"),
    pytest.param("jwks", lambda k: bearer(unsigned(claims())), id="alg-none-unsigned-jwks-mode"),
    pytest.param("hs", lambda k: bearer(hs256(claims(), "a-wrong-secret-that-is-also-32-bytes")), id="wrong-secret"),
    pytest.param(
        "hs",
        lambda k: bearer(jwt.encode(claims(), SECRET + "-x" * 16, algorithm="HS512")),
        id="hs512-when-only-hs256-allowed",
    ),
    pytest.param(
        "hs",
        lambda k: bearer(jwt.encode(claims(), k.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})),
        id="rs256-token-when-hs256-configured",
    ),
    pytest.param(
        "jwks",
        lambda k: bearer(raw_hmac_token({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), k.rsa_public_pem)),
        id="hs256-signed-with-rsa-public-pem-jwks-mode",
    ),
    pytest.param(
        "jwks",
        lambda k: bearer(jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "rsa-1"})),
        id="hs256-shared-secret-token-jwks-mode",
    ),
    pytest.param(
        "jwks",
        lambda k: bearer(jwt.encode(claims(), k.ec_key, algorithm="ES256", headers={"kid": "rsa-1"})),
        id="es256-token-naming-the-rsa-kid",
    ),
    pytest.param(
        "jwks",
        lambda k: bearer(jwt.encode(claims(), k.stranger, algorithm="RS256", headers={"kid": "rotated-away"})),
        id="unknown-kid-jwks-mode",
    ),
    pytest.param(
        "jwks",
        lambda k: bearer(jwt.encode(claims(), k.stranger, algorithm="RS256", headers={"kid": "rsa-1"})),
        id="known-kid-signed-by-another-key",
    ),
    pytest.param("jwks", lambda k: bearer(jwt.encode(claims(), k.rsa_key, algorithm="RS256")), id="no-kid-jwks-mode"),
    pytest.param("hs", lambda k: bearer(tampered(hs256(claims()), claims(roles=["admin"]))), id="tampered-payload"),
    pytest.param(
        "jwks",
        lambda k: bearer(
            tampered(
                jwt.encode(claims(), k.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}),
                claims(sub="admin-1"),
            )
        ),
        id="tampered-payload-rs256",
    ),
    # time claims
    pytest.param(
        "hs", lambda k: bearer(hs256(claims(iat=_now() - 7200, exp=_now() - 120))), id="expired-beyond-leeway"
    ),
    pytest.param("hs", lambda k: bearer(hs256(claims(nbf=_now() + 120))), id="future-nbf"),
    pytest.param("hs", lambda k: bearer(hs256(claims(iat=_now() + 120))), id="future-iat-beyond-leeway"),
    pytest.param("hs", lambda k: bearer(hs256(claims(exp=DROP))), id="missing-exp"),
    pytest.param("hs", lambda k: bearer(hs256(claims(iat=DROP))), id="missing-iat"),
    pytest.param("hs", lambda k: bearer(hs256(claims(exp=str(_now() + 3600)))), id="exp-as-string"),
    pytest.param("hs", lambda k: bearer(hs256(claims(iat=str(_now())))), id="iat-as-string"),
    pytest.param("hs", lambda k: bearer(hs256(claims(nbf=str(_now() - 10)))), id="nbf-as-string"),
    pytest.param("hs", lambda k: bearer(hs256(claims(iat=True))), id="iat-as-boolean"),
    # issuer, audience, subject
    pytest.param("hs", lambda k: bearer(hs256(claims(iss="https://evil.example"))), id="wrong-iss"),
    pytest.param("hs", lambda k: bearer(hs256(claims(iss=DROP))), id="missing-iss"),
    pytest.param("hs", lambda k: bearer(hs256(claims(aud="another-api"))), id="wrong-aud"),
    pytest.param("hs", lambda k: bearer(hs256(claims(aud=DROP))), id="missing-aud"),
    pytest.param("hs", lambda k: bearer(hs256(claims(sub=DROP))), id="missing-sub"),
    pytest.param("hs", lambda k: bearer(hs256(claims(sub=""))), id="empty-sub"),
    pytest.param("hs", lambda k: bearer(hs256(claims(sub=12345))), id="sub-not-a-string"),
    pytest.param("hs", lambda k: bearer(hs256(claims(sub="u" * 257))), id="sub-over-256-characters"),
    pytest.param("hs", lambda k: bearer(hs256(claims(sub="ann\ud800"))), id="sub-with-a-lone-surrogate"),
    # roles
    pytest.param("hs", lambda k: bearer(hs256(claims(roles="admin"))), id="roles-not-a-list"),
    pytest.param("hs", lambda k: bearer(hs256(claims(roles=["admin", 1]))), id="roles-list-with-non-strings"),
    pytest.param(
        "hs",
        lambda k: bearer(hs256(claims(roles=DROP, **{"cognito:groups": "admin"}))),
        id="groups-not-a-list",
    ),
    # the Authorization header itself
    pytest.param("hs", lambda k: bearer("only.two"), id="malformed-two-segments"),
    pytest.param("hs", lambda k: bearer("not-a-jwt-at-all"), id="malformed-one-segment"),
    pytest.param("hs", lambda k: None, id="missing-authorization-header"),
    pytest.param("hs", lambda k: f"Basic {hs256(claims())}", id="non-bearer-scheme"),
    pytest.param("hs", lambda k: hs256(claims()), id="token-without-scheme"),
    pytest.param("hs", lambda k: "Bearer", id="bearer-without-token"),
    pytest.param("hs", lambda k: f"Bearer {hs256(claims())} extra", id="bearer-with-trailing-garbage"),
]


@pytest.mark.parametrize(("mode", "make_authorization"), FORGED)
def test_forged_or_invalid_token_is_denied_without_raising(
    load_authorizer: Callable[[str], Invoke], keys: Keys, mode: str, make_authorization: TokenFactory
) -> None:
    authorize = load_authorizer(mode)

    assert authorize(event_with(make_authorization(keys))) == DENIED


def test_forged_tokens_cover_at_least_fifteen_kinds() -> None:
    assert len(FORGED) >= 15


# --------------------------------------------------------------------------- robustness and config
def test_unexpected_error_is_denied_not_raised(authorize: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a failure outside pyjwt's own errors, When authorizing, Then the request is denied."""

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(jwt, "decode", explode)

    assert authorize(event_with(bearer(hs256(claims())))) == DENIED


def test_event_with_garbage_shape_is_denied(authorize: Invoke) -> None:
    assert authorize({"headers": "nonsense", "identitySource": 42}) == DENIED


def test_without_issuer_configured_everything_is_denied(
    load_authorizer: Callable[[str], Invoke], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_ISSUER")
    authorize = load_authorizer("hs")

    assert authorize(event_with(bearer(hs256(claims())))) == DENIED


def test_without_any_key_configured_everything_is_denied(
    load_authorizer: Callable[[str], Invoke], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.delenv("JWT_SECRET_PARAMETER", raising=False)
    authorize = load_authorizer("hs")

    assert authorize(event_with(bearer(hs256(claims())))) == DENIED


@pytest.fixture
def ssm_secret(_mocked_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The HS256 secret as a SecureString in (moto) SSM, and nothing cached by Powertools."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/lms/dev/jwt-secret", Value=SECRET, Type="SecureString", Overwrite=True)
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.setenv("JWT_SECRET_PARAMETER", "/lms/dev/jwt-secret")
    parameters.clear_caches()
    yield ssm
    parameters.clear_caches()


def test_secret_parameter_is_read_from_ssm_once_within_its_max_age(
    load_authorizer: Callable[[str], Invoke], ssm_secret: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given only JWT_SECRET_PARAMETER, When two requests arrive, Then SSM is read once, decrypted."""
    reads: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "botocore.client.BaseClient._make_api_call",
        _counting(reads, "GetParameter"),
    )
    authorize = load_authorizer("hs")

    first = authorize(event_with(bearer(hs256(claims()))))
    second = authorize(event_with(bearer(hs256(claims(sub="student-2")))))

    assert first == allowed("student-1", "student")
    assert second == allowed("student-2", "student")
    assert reads == [{"Name": "/lms/dev/jwt-secret", "WithDecryption": True}]


def _counting(reads: list[dict[str, Any]], operation: str) -> Callable[..., Any]:
    import botocore.client

    send = botocore.client.BaseClient._make_api_call

    def counting(client: Any, name: str, params: dict[str, Any]) -> Any:
        if name == operation:
            reads.append(params)
        return send(client, name, params)

    return counting


def test_a_rotated_secret_is_used_once_the_cached_one_is_older_than_max_age(
    load_authorizer: Callable[[str], Invoke], ssm_secret: Any
) -> None:
    """Rotation needs no redeploy: within max_age the old secret still verifies; after it, only the
    new one does (a container-lifetime cache would keep the old secret for good)."""
    rotated = "a-rotated-secret-that-is-32-bytes-long"
    authorize = load_authorizer("hs")
    assert authorize(event_with(bearer(hs256(claims()))))["isAuthorized"] is True

    ssm_secret.put_parameter(Name="/lms/dev/jwt-secret", Value=rotated, Type="SecureString", Overwrite=True)
    assert authorize(event_with(bearer(hs256(claims(), rotated)))) == DENIED  # still cached

    expire_parameter_caches()
    assert authorize(event_with(bearer(hs256(claims(), rotated)))) == allowed("student-1", "student")
    assert authorize(event_with(bearer(hs256(claims())))) == DENIED


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts its fetches; `hang()` makes it accept and never answer."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        import http.server
        import threading

        self.jwks = jwks
        self.fetches = 0
        self.released = threading.Event()
        self.hanging = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.hanging:
                    server.released.wait(timeout=30)
                    return
                body = json.dumps(server.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def hang(self) -> None:
        self.hanging = True

    def close(self) -> None:
        self.released.set()
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def jwks_server(keys: Keys, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Iterator[tuple[JwksServer, Any]]:
    """A JWKS endpoint and an authorizer module (JWKS mode) that really fetches from it."""
    server = JwksServer(keys.jwks)
    monkeypatch.setenv("JWT_JWKS_URL", server.url)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    module, _ = load_module("functions/authorizer")
    yield server, module
    server.close()


def rs256(keys: Keys, **changes: Any) -> str:
    return jwt.encode(claims(**changes), keys.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})


def test_a_jwks_endpoint_that_never_answers_denies_before_the_authorizer_times_out(
    jwks_server: tuple[JwksServer, Any], keys: Keys, lambda_context: Any
) -> None:
    """pyjwt would wait 30 s, past the authorizer's 5 s (API Gateway then answers 500). The fetch is
    bounded: the request is denied while the endpoint is still holding the connection."""
    server, module = jwks_server
    server.hang()

    response = module.lambda_handler(event_with(bearer(rs256(keys))), lambda_context)

    assert response == DENIED
    assert server.fetches == 1
    assert not server.released.is_set()
    assert module.JWKS_CLIENT.timeout == module.JWKS_FETCH_TIMEOUT_SECONDS <= 2


def test_fetched_jwks_keys_are_cached_for_their_lifespan_only(
    jwks_server: tuple[JwksServer, Any], keys: Keys, lambda_context: Any
) -> None:
    """One fetch serves many requests; once the lifespan has passed, the set is fetched again, so a
    key the IdP withdrew stops verifying (pyjwt's per-kid cache would have kept it for good)."""
    server, module = jwks_server

    def authorize() -> dict[str, Any]:
        result: dict[str, Any] = module.lambda_handler(event_with(bearer(rs256(keys))), lambda_context)
        return result

    assert authorize() == allowed("student-1", "student")
    assert authorize() == allowed("student-1", "student")
    assert server.fetches == 1

    server.jwks = {"keys": [key for key in keys.jwks["keys"] if key["kid"] != "rsa-1"]}  # withdrawn
    cached = module.JWKS_CLIENT.jwk_set_cache
    assert cached.lifespan == module.JWKS_LIFESPAN_SECONDS
    cached.jwk_set_with_timestamp.timestamp -= cached.lifespan + 1  # the lifespan has passed

    assert authorize() == DENIED
    assert server.fetches == 2


@pytest.mark.parametrize(
    "sub",
    ["CN=Ann,OU=Staff", "José", "alice#ENROLLMENT", "user with spaces", "u" * 256, "ユーザー"],
)
def test_any_sub_up_to_256_characters_is_the_user_id(authorize: Invoke, sub: str) -> None:
    assert authorize(event_with(bearer(hs256(claims(sub=sub))))) == allowed(sub, "student")


def test_jwt_secret_takes_precedence_over_the_ssm_parameter(
    load_authorizer: Callable[[str], Invoke], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    def must_not_be_called(*_: Any, **__: Any) -> str:
        raise AssertionError("SSM read although JWT_SECRET is set")

    monkeypatch.setattr(parameters, "get_parameter", must_not_be_called)
    monkeypatch.setenv("JWT_SECRET_PARAMETER", "/lms/dev/jwt-secret")
    authorize = load_authorizer("hs")

    assert authorize(event_with(bearer(hs256(claims())))) == allowed("student-1", "student")


def test_denial_is_logged_with_its_reason_but_never_the_token(
    authorize: Invoke, log_records: list[logging.LogRecord]
) -> None:
    token = hs256(claims(), "a-wrong-secret-that-is-also-32-bytes")

    assert authorize(event_with(bearer(token))) == DENIED

    denials = [record for record in log_records if record.getMessage() == "denied"]
    assert len(denials) == 1
    assert denials[0].levelno == logging.INFO
    assert "InvalidSignatureError" in denials[0].__dict__["reason"]
    logged = " ".join(str(value) for record in log_records for value in record.__dict__.values())
    assert token not in logged
    assert token.split(".")[2] not in logged
    assert SECRET not in logged


def test_cold_start_imports_neither_boto3_nor_pydantic_nor_lms() -> None:
    """The authorizer fronts every request; heavy imports would slow every cold start."""
    script = (
        "import sys; from local.loader import load_module; load_module('functions/authorizer'); "
        "print(sorted(m for m in ('boto3', 'pydantic', 'lms') if m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------- recorded events
def test_recorded_valid_token_event_is_allowed_as_student_1(authorize: Invoke) -> None:
    assert authorize(load_event("authorizer_valid_token.json")) == allowed("student-1", "student")


def test_recorded_invalid_token_event_is_denied(authorize: Invoke) -> None:
    assert authorize(load_event("authorizer_invalid_token.json")) == DENIED
