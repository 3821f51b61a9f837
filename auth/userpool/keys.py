"""The pool's RS256 signing key: generated once, kept (sealed) in the database, published as a JWKS.

Kept in the database so tokens survive restarts and every instance on one PostgreSQL database signs
and verifies with the same key; two instances starting together race on one primary key and the
loser reads the winner's key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth.jwks import SigningKey
from auth.secretbox import SecretBox
from auth.userpool.store import DuplicateError, UserPoolStore


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class PoolKeys:
    def __init__(self, store: UserPoolStore, sealer: SecretBox) -> None:
        self._store = store
        self._sealer = sealer
        self._private: rsa.RSAPrivateKey | None = None
        self.kid = ""
        self.signing_key: SigningKey | None = None  # stable object: the verifier's cache compares identity

    async def load(self) -> None:
        stored = await self._store.signing_key()
        if stored is None:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            numbers = private.public_key().public_numbers()
            kid = base64.urlsafe_b64encode(hashlib.sha256(_b64(numbers.n).encode()).digest()[:18]).decode()
            with contextlib.suppress(DuplicateError):  # another instance created the key first
                await self._store.add_signing_key(kid, self._sealer.seal(pem, self._store.pool_id), int(time.time()))
            stored = await self._store.signing_key()
            assert stored is not None
        kid, sealed = stored
        key = serialization.load_pem_private_key(self._sealer.open(sealed, self._store.pool_id), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the pool's stored signing key is not an RSA key")
        self._private, self.kid = key, kid
        self.signing_key = SigningKey(kid=kid, kty="RSA", alg="RS256", curve=None, key=key.public_key())

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        if self._private is None:
            raise RuntimeError("the user pool has not started (no signing key loaded)")
        return self._private

    def jwks(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {"keys": [{"alg": "RS256", "e": _b64(numbers.e), "kid": self.kid, "kty": "RSA",
                          "n": _b64(numbers.n), "use": "sig"}]}
