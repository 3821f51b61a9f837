"""Sealing small secrets with AES-256-GCM: IAM access-key and TOTP secrets at rest, STS session tokens.

The key comes from ``TRELLIS_SECRET`` when it is set (stretched with HKDF-SHA256 under a per-use label),
else from a random 32-byte key kept in ``<data_dir>/iam.key`` (created once, mode 0600). A sealed value is
``<prefix>`` + base64url(nonce || ciphertext || tag); the *associated data* binds it to its use (an access
key's id, a user's MFA serial), so a sealed secret copied to another record does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE = "iam.key"
_NONCE = 12


class SealError(ValueError):
    """A sealed value is malformed, was sealed under another key, or was tampered with."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("SecretBox needs a 32-byte key")
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, secret: bytes, label: str = "trellis-iam") -> SecretBox:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode())
        return cls(hkdf.derive(secret))

    def seal(self, plaintext: bytes, aad: str, prefix: str = "") -> str:
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, aad.encode())
        return prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, sealed: str, aad: str, prefix: str = "") -> bytes:
        if not sealed.startswith(prefix):
            raise SealError("not a sealed value")
        body = sealed[len(prefix):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealError("sealed value is not base64url") from None
        if len(raw) < _NONCE + 16:
            raise SealError("sealed value is too short")
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())
        except InvalidTag:
            raise SealError("sealed value does not open under this key") from None


def load_box(data_dir: Path, secret: bytes | None, label: str = "trellis-iam") -> SecretBox:
    """The box for ``TRELLIS_SECRET`` (``secret``), else for the key file in ``data_dir`` (made on first use)."""
    if secret:
        return SecretBox.from_secret(secret, label)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
                out.flush()
                os.fsync(out.fileno())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise SealError(f"{path}: not a hex-encoded key") from None
    return SecretBox.from_secret(key, label)
