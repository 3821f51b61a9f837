"""OPENID_CONNECT and AMAZON_COGNITO_USER_POOLS modes: a JWT in ``Authorization``.

Several token modes can be configured at once (an OIDC provider and a user pool); a token is
routed to the mode whose issuer it names — read from the unverified payload for routing only,
then verified in full by that mode's ``JwtVerifier`` (signature, issuer, audience, times).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from app.errors import UnauthorizedError
from auth.base import UNAUTHORIZED_MESSAGE, AuthRequest
from auth.jwt_verifier import JwtVerifier, TokenError, VerifiedToken, strip_bearer
from auth.modes import AuthMode, Identity


def unverified_issuer(authorization: str) -> str | None:
    """The ``iss`` a token claims, without trusting it (used only to pick the verifier)."""
    parts = strip_bearer(authorization).split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def appsync_identity(mode: AuthMode, token: VerifiedToken, source_ip: str | None) -> dict[str, Any]:
    """``ctx.identity`` as AppSync shapes it for each token mode."""
    if mode is AuthMode.AMAZON_COGNITO_USER_POOLS:
        return {
            "sub": token.sub,
            "issuer": token.issuer,
            "username": token.username,
            "claims": dict(token.claims),
            "sourceIp": [source_ip] if source_ip else [],
            "defaultAuthStrategy": "ALLOW",
            "groups": list(token.groups) or None,
        }
    return {"sub": token.sub, "issuer": token.issuer, "claims": dict(token.claims)}


class JwtAuthorizer:
    def __init__(self, mode: AuthMode, verifier: JwtVerifier, issuer: str) -> None:
        self.mode = mode
        self.verifier = verifier
        self.issuer = issuer

    def presents(self, request: AuthRequest) -> bool:
        authorization = request.headers.get("authorization")
        if not authorization or authorization.startswith("AWS4-"):
            return False
        return unverified_issuer(authorization) == self.issuer

    async def authenticate(self, request: AuthRequest) -> Identity:
        try:
            token = await self.verifier.verify(request.headers.get("authorization", ""))
        except TokenError as exc:
            # The reason is for logs and errorInfo; the client sees AppSync's plain refusal.
            raise UnauthorizedError(UNAUTHORIZED_MESSAGE, error_info={"reason": exc.message}) from exc
        return Identity(self.mode, appsync_identity(self.mode, token, request.source_ip), frozenset(token.groups),
                        expires_at=token.expires_at)

    async def close(self) -> None:
        await self.verifier.aclose()
