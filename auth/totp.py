"""RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits), as virtual MFA devices and authenticator apps
compute it — for IAM MFA devices (STS) and the built-in user pool's software tokens alike.

A code is accepted for the current step or one step either side (clock drift), and only for a step
newer than the last one used, so a code is accepted once: a replayed (or an older) code fails.
``matching_step`` leaves remembering the step to the caller (the user pool keeps it in its
database); ``TotpVerifier`` remembers it in memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import threading
from urllib.parse import quote

STEP = 30
DIGITS = 6
WINDOW = 1


def new_secret() -> str:
    """160 random bits, base32 without padding (what authenticator apps read)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret_b32: str) -> bytes:
    text = secret_b32.upper().replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(secret_b32: str, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226: HMAC-SHA1 of the 8-byte counter, dynamically truncated."""
    digest = hmac.new(_key(secret_b32), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def totp(secret_b32: str, at: float) -> str:
    return hotp(secret_b32, int(at // STEP))


def matching_step(secret_b32: str, code: str, at: float, last_used_step: int | None) -> int | None:
    """The step (within ±1 of ``at``) whose code equals ``code`` and that is newer than ``last_used_step``."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = int(at // STEP)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Every candidate is checked (no early exit): the time taken does not say which step matched.
        if hmac.compare_digest(hotp(secret_b32, step), code) and (last_used_step is None or step > last_used_step):
            found = step if found is None else found
    return found


def otpauth_uri(secret_b32: str, account: str, issuer: str = "Trellis") -> str:
    return (f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret_b32}&issuer={quote(issuer)}"
            f"&algorithm=SHA1&digits={DIGITS}&period={STEP}")


class TotpVerifier:
    """Checks codes and refuses reuse: a device's accepted step must grow strictly."""

    def __init__(self) -> None:
        self._last_step: dict[str, int] = {}
        self._lock = threading.Lock()

    def verify(self, device: str, secret_b32: str, code: str, at: float) -> bool:
        with self._lock:
            step = matching_step(secret_b32, code, at, self._last_step.get(device))
            if step is None:
                return False
            self._last_step[device] = step
            return True
