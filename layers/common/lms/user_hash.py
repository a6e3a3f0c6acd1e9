"""The keyed hash an erasure record is keyed by: HMAC-SHA256 of the user id, with a key from a
Secrets Manager secret (docs/privacy.md, "The erasure record"). Without the key, a hash cannot be
tested against a guessed id, so a finished record tells nothing about who was erased.

The secret holds JSON, `{"keyId": "1", "key": "..."}`, and after a rotation the keys it replaced,
`"retired": {"<keyId>": "<key>", ...}`: a record keeps the id of the key that hashed it, a new erasure
uses the current key, and a lookup tries every key, current first. A plain string is one key, id "0"
(local runs and tests)."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserHash:
    key_id: str
    value: str


class UserHasher:
    def __init__(self, secret: Callable[[], str]) -> None:
        self._secret = secret

    def _keys(self) -> list[tuple[str, bytes]]:
        text = self._secret()
        if not text.lstrip().startswith("{"):
            return [("0", text.encode("utf-8"))]
        parsed = json.loads(text)
        keys = [(str(parsed["keyId"]), str(parsed["key"]).encode("utf-8"))]
        keys += [(str(key_id), str(key).encode("utf-8")) for key_id, key in (parsed.get("retired") or {}).items()]
        return keys

    def hashes(self, user_id: str) -> list[UserHash]:
        """The user's hash under every key, the current key's first."""
        data = user_id.encode("utf-8", "surrogatepass")
        return [
            UserHash(key_id, base64.urlsafe_b64encode(hmac.digest(key, data, hashlib.sha256)).rstrip(b"=").decode())
            for key_id, key in self._keys()
        ]
