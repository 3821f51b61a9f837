"""How codes reach users: a ``CodeSender``. The default writes them to the server log.

Plug in another (e-mail, SMS, a test's capturing list) by setting ``UserPool.sender``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("trellis.userpool")


@dataclass(frozen=True)
class CodeMessage:
    """``purpose``: ``SignUp``, ``ResendConfirmationCode``, ``ForgotPassword`` or ``AdminCreateUser``
    (then ``code`` is the temporary password)."""

    purpose: str
    username: str
    code: str
    destination: str | None  # the e-mail address or phone number, if the user has one
    medium: str | None  # "EMAIL" | "SMS"


class CodeSender(Protocol):
    async def send(self, message: CodeMessage) -> None: ...


class LoggingCodeSender:
    async def send(self, message: CodeMessage) -> None:
        log.warning("user pool %s code for %s (%s %s): %s", message.purpose, message.username,
                    message.medium or "no medium", message.destination or "-", message.code)
