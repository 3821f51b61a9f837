"""The authorizer protocol: one implementation per AppSync mode, chosen per request.

An ``AuthRequest`` carries what any mode may need (headers, the raw body for SigV4, the client
address). Each ``Authorizer`` says whether a request carries *its* kind of credential
(``presents``) and, if so, verifies it — returning an ``Identity`` or raising
``UnauthorizedError``. ``Authenticator`` tries the API's configured modes in order and fails
closed: no credential of a configured mode, or a credential that does not verify, is a 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.errors import UnauthorizedError
from auth.modes import AuthMode, Identity

UNAUTHORIZED_MESSAGE = "You are not authorized to make this call."


@dataclass(frozen=True)
class AuthRequest:
    """What a mode may inspect. ``read_body`` is only awaited by modes that sign the body
    (SigV4), so a key-only request is refused before its body is read."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    read_body: Callable[[], Awaitable[bytes]]
    source_ip: str | None = None


class Authorizer(Protocol):
    mode: AuthMode

    def presents(self, request: AuthRequest) -> bool:
        """Does the request carry this mode's kind of credential?"""
        ...

    async def authenticate(self, request: AuthRequest) -> Identity:
        """Verify the credential; raise ``UnauthorizedError`` if it does not verify."""
        ...


class Authenticator:
    """The API's modes: the default first, then the additional ones (as AppSync orders them)."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        if not authorizers:
            raise ValueError("an API needs at least one authorization mode")
        self.authorizers = list(authorizers)

    @property
    def default_mode(self) -> AuthMode:
        return self.authorizers[0].mode

    @property
    def modes(self) -> frozenset[AuthMode]:
        return frozenset(a.mode for a in self.authorizers)

    async def authenticate(self, request: AuthRequest) -> Identity:
        for authorizer in self.authorizers:
            if authorizer.presents(request):
                # The first mode whose credential is present decides; a bad credential is not
                # retried under another mode (that would let a forged token fall through).
                return await authorizer.authenticate(request)
        raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
