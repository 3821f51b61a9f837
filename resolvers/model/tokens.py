"""Opaque, tamper-evident pagination tokens.

A token is ``base64url(payload) "." base64url(hmac)``; the payload holds the last row's sort key
and a fingerprint of the query it belongs to, so a token edited by hand, or replayed against a
different filter or field, is refused with ``InvalidNextTokenException``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from app.errors import InvalidTokenError


class TokenCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def fingerprint(self, *parts: Any) -> str:
        canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def encode(self, last_key: Sequence[Any], fingerprint: str) -> str:
        payload = json.dumps({"k": list(last_key), "q": fingerprint}, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        return _b64(payload) + "." + _b64(mac)

    def decode(self, token: str, fingerprint: str) -> list[Any]:
        try:
            body, mac = token.split(".", 1)
            payload = _unb64(body)
            given = _unb64(mac)
        except (ValueError, TypeError) as exc:
            raise InvalidTokenError("Invalid nextToken") from exc
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, given):
            raise InvalidTokenError("Invalid nextToken")
        data = json.loads(payload)
        if data.get("q") != fingerprint:
            raise InvalidTokenError("nextToken does not belong to this query")
        key = data.get("k")
        if not isinstance(key, list):
            raise InvalidTokenError("Invalid nextToken")
        return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
