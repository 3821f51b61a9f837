"""``UserPool``: the pool's parts wired together, and what several operations share —
token issue and check, sessions, codes, auth challenges and sign-in throttling.

Tokens are shaped like Cognito's (claims listed in ``_id_claims`` / ``_access_claims``), signed
RS256 with the pool's key; the refresh token is opaque (random, stored as a digest). Access and ID
tokens live ``access_token_seconds`` (1 h), refresh tokens ``refresh_token_seconds`` (30 days).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt

from auth.jwks import JwksCache, SigningKey
from auth.jwt_verifier import CognitoConfig, JwtVerifier, TokenError, VerifiedToken
from auth.secretbox import SecretBox
from auth.userpool.config import UserPoolConfig
from auth.userpool.errors import (
    ATTEMPTS_EXCEEDED,
    INVALID_SESSION,
    CognitoError,
    code_limit,
    code_mismatch,
    expired_code,
    not_authorized,
)
from auth.userpool.keys import PoolKeys
from auth.userpool.passwords import PasswordHasher, PasswordPolicy
from auth.userpool.sender import CodeMessage, CodeSender, LoggingCodeSender
from auth.userpool.store import GroupRecord, Pending, SessionRecord, UserPoolStore, UserRecord, username_key
from datasources.sql import SqlDatabase

MAX_LOGIN_FAILURES = 5  # then locked out, doubling from LOCKOUT_SECONDS up to MAX_LOCKOUT_SECONDS
LOCKOUT_SECONDS = 30
MAX_LOCKOUT_SECONDS = 900
MAX_CODE_ATTEMPTS = 5  # wrong guesses of one confirmation code before it is void
MAX_CHALLENGE_ATTEMPTS = 3  # wrong MFA codes within one auth Session
CHALLENGE_SECONDS = 180  # Cognito's default auth session: 3 minutes
SIGN_UP_CODE_SECONDS = 24 * 3600
RESET_CODE_SECONDS = 3600

# Secrets at rest (TOTP secrets, the signing key) are sealed under a key derived from the instance
# secret for this use alone: instances sharing a database must share TRELLIS_SECRET.
POOL_SEAL_LABEL = "trellis user pool: sealed secrets"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def mask(destination: str) -> str:
    """Cognito's masked destination: ``a***@e***`` for an e-mail, ``+*******1234`` for a phone."""
    if "@" in destination:
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    return "+" + "*" * max(len(destination) - 5, 0) + destination[-4:]


class PoolJwks(JwksCache):
    """The pool's own key, in-process: no HTTP fetch, the same checks as any issuer's tokens."""

    def __init__(self, keys: PoolKeys, issuer: str) -> None:
        super().__init__(issuer=issuer)
        self._pool_keys = keys

    def peek(self, kid: str) -> SigningKey | None:
        key = self._pool_keys.signing_key
        return key if key is not None and key.kid == kid else None

    async def get_key(self, kid: str) -> SigningKey | None:
        return self.peek(kid)


class UserPool:
    def __init__(self, config: UserPoolConfig, database: SqlDatabase, instance_secret: bytes | Callable[[], bytes],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = UserPoolStore(database, config.pool_id)
        self.hasher = PasswordHasher(config.scrypt)
        self.policy = PasswordPolicy()
        self._instance_secret = instance_secret
        self.keys: PoolKeys | None = None
        self.sender: CodeSender = LoggingCodeSender()
        self.clock = clock
        self.verifier: JwtVerifier | None = None
        self._sealer: SecretBox | None = None

    @property
    def sealer(self) -> SecretBox:
        if self._sealer is None:
            secret = self._instance_secret() if callable(self._instance_secret) else self._instance_secret
            self._sealer = SecretBox.from_secret(secret, POOL_SEAL_LABEL)
        return self._sealer

    def make_verifier(self) -> JwtVerifier:
        """The verifier for AMAZON_COGNITO_USER_POOLS and for access tokens sent to the pool's API."""
        if self.verifier is None:
            if self.keys is None:
                self.keys = PoolKeys(self.store, self.sealer)
            config = CognitoConfig(issuer=self.config.issuer, app_id_client_regex=re.escape(self.config.client_id))
            self.verifier = JwtVerifier(config, jwks=PoolJwks(self.keys, self.config.issuer), clock=self.clock)
        return self.verifier

    async def start(self) -> None:
        self.make_verifier()
        assert self.keys is not None
        await self.store.migrate()
        await self.keys.load()
        await self.hasher.prepare()

    async def close(self) -> None:
        if self.verifier is not None:
            await self.verifier.jwks.aclose()

    def now(self) -> int:
        return int(self.clock())

    # ------------------------------------------------------------------------------------ tokens

    def _sign(self, claims: dict[str, Any]) -> str:
        assert self.keys is not None
        return jwt.encode(claims, self.keys.private_key, algorithm="RS256", headers={"kid": self.keys.kid})

    def _tokens(self, user: UserRecord, groups: list[GroupRecord], session: SessionRecord) -> tuple[str, str]:
        now = self.now()
        common: dict[str, Any] = {"sub": user.sub, "iss": self.config.issuer, "origin_jti": session.origin_jti,
                                  "event_id": str(uuid.uuid4()), "auth_time": session.auth_time, "iat": now,
                                  "exp": now + self.config.access_token_seconds}
        if groups:
            common["cognito:groups"] = [g.name for g in groups]
        id_claims = {**common, "jti": str(uuid.uuid4()), "aud": self.config.client_id, "token_use": "id",
                     "cognito:username": user.username}
        for name, value in user.attributes.items():
            if name != "sub":
                id_claims[name] = value == "true" if name.endswith("_verified") else value
        access_claims = {**common, "jti": str(uuid.uuid4()), "client_id": self.config.client_id,
                         "token_use": "access", "scope": "aws.cognito.signin.user.admin", "username": user.username}
        return self._sign(id_claims), self._sign(access_claims)

    async def sign_in(self, user: UserRecord) -> dict[str, Any]:
        """A new session: ``AuthenticationResult`` with ID, access and refresh tokens."""
        now = self.now()
        refresh = secrets.token_urlsafe(96)
        session = SessionRecord(str(uuid.uuid4()), user.sub, now, now + self.config.refresh_token_seconds, False)
        await self.store.create_session(session, digest(refresh))
        id_token, access_token = self._tokens(user, await self.store.groups_of(user.sub), session)
        return {"AccessToken": access_token, "ExpiresIn": self.config.access_token_seconds, "TokenType": "Bearer",
                "RefreshToken": refresh, "IdToken": id_token}

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        session = await self.store.session_by_refresh(digest(refresh_token))
        if session is None or session.expires_at <= self.now():
            raise not_authorized("Invalid Refresh Token")
        if session.revoked:
            raise not_authorized("Refresh Token has been revoked")
        user = await self.store.user_by_sub(session.sub)
        if user is None or not user.enabled:
            raise not_authorized("User is disabled." if user else "Invalid Refresh Token")
        id_token, access_token = self._tokens(user, await self.store.groups_of(user.sub), session)
        return {"AccessToken": access_token, "ExpiresIn": self.config.access_token_seconds, "TokenType": "Bearer",
                "IdToken": id_token}

    async def verify(self, token: str) -> VerifiedToken:
        """Full JWT verification, then: the token's session (``origin_jti``) is not signed out."""
        verified = await self.make_verifier().verify(token)
        origin = verified.claims.get("origin_jti")
        if not isinstance(origin, str) or await self.store.session_revoked(origin):
            raise TokenError("Token has been revoked.")
        return verified

    async def access_token_user(self, token: str) -> UserRecord:
        """The user an access token sent to the pool's API belongs to (Cognito's checks and messages)."""
        try:
            verified = await self.make_verifier().verify(token)
        except TokenError as exc:
            raise not_authorized("Invalid Access Token") from exc
        if verified.token_use != "access":  # noqa: S105 - a claim value
            raise not_authorized("Invalid Access Token")
        origin = verified.claims.get("origin_jti")
        if not isinstance(origin, str) or await self.store.session_revoked(origin):
            raise not_authorized("Access Token has been revoked")
        user = await self.store.user_by_sub(verified.sub)
        if user is None:
            raise CognitoError("UserNotFoundException", "User does not exist.")
        if not user.enabled:
            raise not_authorized("User is disabled.")
        return user

    # ---------------------------------------------------------------------------------- throttle

    async def attempt(self, key: str) -> None:
        """Start a password or code check for ``key``: counted as failed until ``succeeded``.

        The ``MAX_LOGIN_FAILURES``-th failure in a row locks ``key`` for ``LOCKOUT_SECONDS``, each
        further one for twice as long (at most ``MAX_LOCKOUT_SECONDS``); while locked, attempts are
        refused before any check.
        """
        now = self.now()

        def lock_for(failures: int) -> int:
            if failures < MAX_LOGIN_FAILURES:
                return 0
            delay: int = min(LOCKOUT_SECONDS << (failures - MAX_LOGIN_FAILURES), MAX_LOCKOUT_SECONDS)
            return now + delay

        if not await self.store.begin_attempt(key, now, lock_for):
            raise not_authorized(ATTEMPTS_EXCEEDED)

    async def succeeded(self, key: str) -> None:
        await self.store.clear_failures(key)

    @staticmethod
    def login_key(username: str) -> str:
        return f"login:{username_key(username)}"

    # ------------------------------------------------------------------------------------- codes

    def delivery(self, user: UserRecord) -> tuple[str, str, str] | None:
        """(destination, medium, attribute) for codes: the e-mail address, else the phone number."""
        if user.attributes.get("email"):
            return user.attributes["email"], "EMAIL", "email"
        if user.attributes.get("phone_number"):
            return user.attributes["phone_number"], "SMS", "phone_number"
        return None

    async def send_code(self, user: UserRecord, purpose: str, kind: str, seconds: int) -> dict[str, str]:
        """A new 6-digit code for ``kind`` (``confirm``/``reset``), sent; returns ``CodeDeliveryDetails``."""
        code = f"{secrets.randbelow(10**6):06d}"
        await self.store.put_code(user.sub, kind, digest(f"{user.sub}:{code}"), self.now() + seconds)
        where = self.delivery(user)
        await self.sender.send(CodeMessage(purpose, user.username, code, where[0] if where else None,
                                           where[1] if where else None))
        return self.delivery_details(where)

    @staticmethod
    def delivery_details(where: tuple[str, str, str] | None) -> dict[str, str]:
        if where is None:
            return {}
        return {"Destination": mask(where[0]), "DeliveryMedium": where[1], "AttributeName": where[2]}

    async def check_code(self, user: UserRecord, kind: str, code: str) -> None:
        """A code is good for ``MAX_CODE_ATTEMPTS`` guesses in all, each counted before it is compared."""
        pending = await self.store.code(user.sub, kind)
        if pending is None or pending.expires_at <= self.now():
            raise expired_code()
        spent = await self.store.spend_code_attempt(user.sub, kind, MAX_CODE_ATTEMPTS)
        if spent is None:
            raise code_limit()
        if not secrets.compare_digest(spent.digest, digest(f"{user.sub}:{code}")):
            raise code_limit() if spent.attempts >= MAX_CODE_ATTEMPTS else code_mismatch()
        await self.store.delete_code(user.sub, kind)

    # -------------------------------------------------------------------------------- challenges

    async def new_challenge(self, user: UserRecord, kind: str, data: dict[str, Any] | None = None) -> str:
        session = secrets.token_urlsafe(96)
        await self.store.put_challenge(Pending(user.sub, kind, digest(session), self.now() + CHALLENGE_SECONDS,
                                               0, data or {}))
        return session

    async def challenge(self, session: str | None, kind: str) -> tuple[Pending, UserRecord]:
        pending = await self.store.challenge(digest(session)) if session else None
        if pending is None or pending.kind != kind or pending.expires_at <= self.now():
            raise not_authorized(INVALID_SESSION)
        user = await self.store.user_by_sub(pending.sub)
        if user is None or not user.enabled:
            raise not_authorized(INVALID_SESSION)
        return pending, user

    async def end_challenge(self, pending: Pending) -> None:
        await self.store.delete_challenge(pending.digest, self.now())

    # ----------------------------------------------------------------------------------- shapes

    @staticmethod
    def attribute_list(user: UserRecord) -> list[dict[str, str]]:
        return [{"Name": name, "Value": value} for name, value in user.attributes.items()]

    @staticmethod
    def mfa_settings(user: UserRecord) -> dict[str, Any]:
        if not user.mfa_enabled:
            return {}
        return {"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"], "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"}

    def user_type(self, user: UserRecord) -> dict[str, Any]:
        return {"Username": user.username, "Attributes": self.attribute_list(user),
                "UserCreateDate": user.created_at, "UserLastModifiedDate": user.updated_at,
                "Enabled": user.enabled, "UserStatus": user.status}

    def group_type(self, group: GroupRecord) -> dict[str, Any]:
        shape: dict[str, Any] = {"GroupName": group.name, "UserPoolId": self.config.pool_id,
                                 "LastModifiedDate": group.updated_at, "CreationDate": group.created_at}
        if group.description is not None:
            shape["Description"] = group.description
        if group.precedence is not None:
            shape["Precedence"] = group.precedence
        if group.role_arn is not None:
            shape["RoleArn"] = group.role_arn
        return shape

    def new_user(self, username: str, attributes: dict[str, str], status: str, password_hash: str) -> UserRecord:
        sub = str(uuid.uuid4())
        now = self.now()
        return UserRecord(sub=sub, username=username, attributes={"sub": sub, **attributes}, status=status,
                          created_at=now, updated_at=now, password_hash=password_hash)
