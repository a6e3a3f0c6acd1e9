"""Opaque list cursors, signed and bound to the query and the caller.

A cursor carries DynamoDB's LastEvaluatedKey. It is HMAC-signed together with a fingerprint of the
query (route, caller, filters), so a cursor that was altered, or that belongs to another query or
another caller, is rejected as a 400 instead of being used as a start key.
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from lms.errors import InvalidCursorError
from lms.pagination import PageRequest

# Our cursors are a few hundred characters; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 2048


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encodes and verifies cursors with a secret key. The key is asked for on every use: the
    provider caches it for a while (Powertools Parameters' max_age), so a rotated key is picked up
    without a redeploy; cursors signed with the previous key then become invalid (400)."""

    def __init__(self, key_provider: Callable[[], str]) -> None:
        self._key_provider = key_provider

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key_provider().encode("utf-8"), payload, hashlib.sha256).digest()

    @staticmethod
    def fingerprint(*parts: str | None) -> str:
        """A stable digest of what defines the query: route, caller and filters."""
        return hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8")).hexdigest()[:24]

    def encode(self, last_key: dict[str, Any] | None, query: str) -> str | None:
        if not last_key:
            return None
        payload = json.dumps({"k": last_key, "q": query}, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, cursor: str | None, query: str) -> dict[str, Any] | None:
        if cursor is None:
            return None
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursorError
        try:
            payload_part, signature_part = cursor.split(".")
            payload = _b64decode(payload_part)
            signature = _b64decode(signature_part)
        except (ValueError, binascii.Error) as error:
            raise InvalidCursorError from error
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursorError
        decoded = json.loads(payload)
        if decoded.get("q") != query or not isinstance(decoded.get("k"), dict):
            raise InvalidCursorError
        start_key: dict[str, Any] = decoded["k"]
        return start_key

    def page_request(self, limit: int, cursor: str | None, query: str) -> PageRequest:
        return PageRequest(limit=limit, start_key=self.decode(cursor, query))
