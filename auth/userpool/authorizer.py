"""AMAZON_COGNITO_USER_POOLS for tokens the built-in pool issued: verified in-process.

The same checks as any Cognito pool's tokens (``JwtVerifier``: RS256 pinned, ``iss``, client id,
``token_use``, ``exp``/``iat``), with the pool's own key instead of a fetched JWKS; then the
token's session (``origin_jti``) must not have been signed out (GlobalSignOut,
AdminUserGlobalSignOut, a disabled user).
"""

from __future__ import annotations

from app.errors import UnauthorizedError
from auth.base import UNAUTHORIZED_MESSAGE, AuthRequest
from auth.jwt_authorizer import JwtAuthorizer, appsync_identity
from auth.jwt_verifier import TokenError
from auth.modes import AuthMode, Identity
from auth.userpool.pool import UserPool


class UserPoolAuthorizer(JwtAuthorizer):
    def __init__(self, pool: UserPool) -> None:
        super().__init__(AuthMode.AMAZON_COGNITO_USER_POOLS, pool.make_verifier(), pool.config.issuer)
        self.pool = pool

    async def authenticate(self, request: AuthRequest) -> Identity:
        try:
            token = await self.pool.verify(request.headers.get("authorization", ""))
        except TokenError as exc:
            raise UnauthorizedError(UNAUTHORIZED_MESSAGE, error_info={"reason": exc.message}) from exc
        return Identity(self.mode, appsync_identity(self.mode, token, request.source_ip), frozenset(token.groups))
