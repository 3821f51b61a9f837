"""Verify OIDC and Cognito user-pool JWTs the way AppSync does, failing closed.

Checks, in order (each failure raises a ``TokenError`` subclass, an ``UnauthorizedError``):

1. the token is three base64url segments with a JSON header (``MalformedTokenError``); an
   ``Authorization`` value may carry a ``Bearer`` prefix or be the raw token, as AppSync accepts;
2. the header ``alg`` is in the configured, pinned list — checked *before* any key is fetched or
   any signature computed, so ``none``, ``HS256`` "signed" with the RSA public key and every other
   algorithm-confusion trick is refused outright (``AlgorithmNotAllowedError``); a ``crit`` header
   is refused; ``jku``/``x5u``/``jwk`` headers are ignored (keys only ever come from the JWKS);
3. the header ``kid`` names a key of the issuer's JWKS (``UnknownKeyError`` after the rate-limited
   refresh of ``JwksCache``) whose type, curve and ``alg`` fit the token's ``alg``;
4. the signature verifies (PyJWT, with the pinned algorithm and the key object) (``InvalidSignatureError``);
5. ``iss`` equals the configured issuer exactly (``IssuerMismatchError``);
6. ``exp``, ``iat`` and ``sub`` are present (``MissingClaimError``); with the injected clock and
   ``leeway``: not expired, ``nbf`` not in the future (``ExpiredTokenError``,
   ``NotYetValidError``; an ``iat`` in the future is tolerated, as clock skew would otherwise
   refuse freshly minted tokens); AppSync's ``iatTTL`` / ``authTTL`` (milliseconds,
   0 = not enforced) bound the age since ``iat`` / ``auth_time`` (``TokenTooOldError``; a missing
   ``auth_time`` fails when ``authTTL`` is set);
7. ``token_use``: Cognito requires ``id`` or ``access``; an OIDC token may omit it, but any other
   value is refused (``TokenUseError``);
8. the client id regular expression (AppSync's ``clientId`` / ``appIdClientRegex``) must
   ``re.fullmatch`` ``aud`` for ID tokens (any element of a list) or ``client_id`` for access
   tokens (``AudienceMismatchError``).

Verification cache (performance): a verified token is remembered, keyed by the SHA-256 of the
token, in a bounded LRU (default 10 000 entries) until the earliest of its ``exp``, its
``iatTTL``/``authTTL`` deadlines and 60 s after verification, so repeated requests with the same
token skip the signature check. This is safe because a cache hit returns exactly what a full check
returned for the very same bytes, and every time-based limit is re-checked against the cache
deadline. The one thing it can delay is key revocation: a token whose signing key is removed from
the JWKS stays trusted until its entry expires. That window is at most 60 s (``cache_max_age``),
and shorter when the ``JwksCache`` has already refreshed: a hit is honoured only while the very
same key object is still cached under the token's ``kid``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx
import jwt

from app.errors import ConfigError, Problem, UnauthorizedError
from auth.jwks import SUPPORTED_ALGORITHMS, JwksCache, JwksUnavailableError, SigningKey

MAX_TOKEN_CHARS = 16 * 1024
_COGNITO_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+")
_BEARER = re.compile(r"bearer\s+", re.IGNORECASE)


# ---------------------------------------------------------------------------------------- errors


class TokenError(UnauthorizedError):
    """A bearer token was refused; ``reason`` is a stable machine-readable code for logs and metrics."""

    reason = "invalid_token"


class MalformedTokenError(TokenError):
    reason = "malformed"


class AlgorithmNotAllowedError(TokenError):
    reason = "algorithm_not_allowed"


class UnknownKeyError(TokenError):
    reason = "unknown_kid"


class KeysUnavailableError(TokenError):
    reason = "jwks_unavailable"


class InvalidSignatureError(TokenError):
    reason = "bad_signature"


class IssuerMismatchError(TokenError):
    reason = "issuer_mismatch"


class AudienceMismatchError(TokenError):
    reason = "audience_mismatch"


class MissingClaimError(TokenError):
    reason = "missing_claim"


class ExpiredTokenError(TokenError):
    reason = "expired"


class NotYetValidError(TokenError):
    reason = "not_yet_valid"


class TokenTooOldError(TokenError):
    reason = "ttl_exceeded"


class TokenUseError(TokenError):
    reason = "wrong_token_use"


# ---------------------------------------------------------------------------------------- config


def _check_algorithms(algorithms: tuple[str, ...], problems: list[Problem]) -> None:
    if not algorithms:
        problems.append(Problem("allowed_algorithms must name at least one algorithm"))
    for alg in algorithms:
        if alg not in SUPPORTED_ALGORITHMS:
            problems.append(Problem(f"algorithm {alg!r} is not supported (use one of {sorted(SUPPORTED_ALGORITHMS)})"))


def _check_regex(name: str, pattern: str | None, problems: list[Problem]) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        problems.append(Problem(f"{name} {pattern!r} is not a valid regular expression: {exc}"))


@dataclass(frozen=True)
class OidcConfig:
    """AppSync's ``OpenIDConnectConfig``: ``issuer``, ``clientId`` (a regex), ``iatTTL``, ``authTTL`` (ms)."""

    issuer: str
    client_id: str | None = None
    iat_ttl_ms: int = 0
    auth_ttl_ms: int = 0
    allowed_algorithms: tuple[str, ...] = ("RS256",)
    jwks_url: str | None = None  # else discovered from the issuer's openid-configuration
    leeway: float = 0.0

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.issuer.strip():
            problems.append(Problem("OIDC issuer must not be empty"))
        if self.iat_ttl_ms < 0 or self.auth_ttl_ms < 0 or self.leeway < 0:
            problems.append(Problem("iat_ttl_ms, auth_ttl_ms and leeway must not be negative"))
        _check_algorithms(self.allowed_algorithms, problems)
        _check_regex("OIDC client_id", self.client_id, problems)
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class CognitoConfig:
    """AppSync's ``UserPoolConfig``: the pool (id + region, or an explicit issuer) and ``appIdClientRegex``."""

    user_pool_id: str | None = None
    region: str | None = None  # defaults to the region prefix of user_pool_id
    app_id_client_regex: str | None = None
    issuer: str | None = None  # explicit issuer, e.g. Trellis's built-in pool
    jwks_url: str | None = None  # else <issuer>/.well-known/jwks.json, as Cognito serves it
    allowed_algorithms: tuple[str, ...] = ("RS256",)
    leeway: float = 0.0

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.issuer is None:
            match = _COGNITO_POOL_ID.fullmatch(self.user_pool_id or "")
            if match is None:
                problems.append(Problem(f"Cognito user_pool_id {self.user_pool_id!r} is not like 'us-east-1_AbC123'"))
        elif not self.issuer.strip():
            problems.append(Problem("Cognito issuer must not be empty"))
        if self.leeway < 0:
            problems.append(Problem("leeway must not be negative"))
        _check_algorithms(self.allowed_algorithms, problems)
        _check_regex("Cognito app_id_client_regex", self.app_id_client_regex, problems)
        if problems:
            raise ConfigError(problems)

    @property
    def effective_issuer(self) -> str:
        if self.issuer is not None:
            return self.issuer
        assert self.user_pool_id is not None
        region = self.region
        if region is None:
            match = _COGNITO_POOL_ID.fullmatch(self.user_pool_id)
            assert match is not None
            region = match.group("region")
        return f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool_id}"

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or self.effective_issuer.rstrip("/") + "/.well-known/jwks.json"


# ---------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check; ``claims`` is a read-only view shared by cache hits."""

    claims: Mapping[str, Any]
    sub: str
    username: str
    groups: tuple[str, ...]
    issuer: str
    token_use: str | None
    expires_at: float
    raw: str = field(repr=False)


# ---------------------------------------------------------------------------------------- verifier

SignatureVerifier = Callable[[str, SigningKey, str], dict[str, Any]]


def pyjwt_verify_signature(token: str, key: SigningKey, algorithm: str) -> dict[str, Any]:
    """Check the signature with PyJWT and return the payload; time and audience claims are checked by us.

    Raises ``jwt.InvalidSignatureError`` on a bad signature and ``jwt.DecodeError`` on a malformed token.
    """
    return jwt.decode(
        token,
        key=key.key,
        algorithms=[algorithm],
        options={
            "verify_signature": True,
            "verify_exp": False,  # PyJWT reads the real clock; the verifier uses the injected one
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": False,
            "verify_iss": False,
            "require": [],
        },
    )


def strip_bearer(authorization: str) -> str:
    """The token in an ``Authorization`` value: ``Bearer <jwt>`` or the raw JWT, as AppSync accepts."""
    value = authorization.strip()
    match = _BEARER.match(value)
    return value[match.end() :] if match else value


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedTokenError(f"Token claim '{name}' is not a number.")
    return float(value)


class JwtVerifier:
    """Verifies bearer tokens for one OIDC provider or Cognito user pool; reuse one per configuration."""

    def __init__(
        self,
        config: OidcConfig | CognitoConfig,
        *,
        jwks: JwksCache | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        verify_signature: SignatureVerifier = pyjwt_verify_signature,
        cache_max_entries: int = 10_000,
        cache_max_age: float = 60.0,
    ) -> None:
        self.config = config
        self._cognito = isinstance(config, CognitoConfig)
        if isinstance(config, CognitoConfig):
            self._issuer = config.effective_issuer
            self._client_regex = re.compile(config.app_id_client_regex) if config.app_id_client_regex else None
            self._iat_ttl = self._auth_ttl = 0.0
            jwks_url: str | None = config.effective_jwks_url
        else:
            self._issuer = config.issuer
            self._client_regex = re.compile(config.client_id) if config.client_id else None
            self._iat_ttl = config.iat_ttl_ms / 1000.0
            self._auth_ttl = config.auth_ttl_ms / 1000.0
            jwks_url = config.jwks_url
        self._algorithms = frozenset(config.allowed_algorithms)
        self._leeway = config.leeway
        self._own_jwks = jwks is None
        self.jwks = jwks or JwksCache(
            jwks_url=jwks_url,
            issuer=self._issuer,
            client=http_client,
            clock=clock,
        )
        self._clock = clock
        self._verify_signature = verify_signature
        self._cache: OrderedDict[bytes, tuple[float, SigningKey, VerifiedToken]] = OrderedDict()
        self._cache_max_entries = cache_max_entries
        self._cache_max_age = cache_max_age

    async def aclose(self) -> None:
        if self._own_jwks:
            await self.jwks.aclose()

    async def verify(self, authorization: str) -> VerifiedToken:
        """Verify an ``Authorization`` header value (``Bearer <jwt>`` or the raw JWT)."""
        token = strip_bearer(authorization)
        if not token:
            raise MalformedTokenError("No token was provided.")
        if len(token) > MAX_TOKEN_CHARS:
            raise MalformedTokenError("Token is too long.")
        cache_key = hashlib.sha256(token.encode()).digest()
        cached = self._cache_get(cache_key)
        if cached is not None:
            return cached

        header = self._header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise AlgorithmNotAllowedError("Token signing algorithm is not allowed.")
        if "crit" in header:
            raise MalformedTokenError("Token has critical header parameters, which are not supported.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise MalformedTokenError("Token header has no 'kid'.")
        try:
            key = await self.jwks.get_key(kid)
        except JwksUnavailableError as exc:
            raise KeysUnavailableError("Signing keys of the identity provider are unavailable.") from exc
        if key is None:
            raise UnknownKeyError("Token is signed with an unknown key.")
        if not key.allows(algorithm):
            raise AlgorithmNotAllowedError("Token signing algorithm does not match its key.")
        try:
            claims = self._verify_signature(token, key, algorithm)
        except jwt.InvalidSignatureError as exc:
            raise InvalidSignatureError("Token signature is invalid.") from exc
        except jwt.InvalidTokenError as exc:
            raise MalformedTokenError("Token is malformed.") from exc

        verified, deadline = self._check_claims(token, claims)
        self._cache_put(cache_key, deadline, key, verified)
        return verified

    # -------------------------------------------------------------------------------- helpers

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        if token.count(".") != 2:
            raise MalformedTokenError("Token is not a JWS in compact form.")
        segment = token.split(".", 1)[0]
        try:
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, TypeError) as exc:
            raise MalformedTokenError("Token header is not base64url-encoded JSON.") from exc
        if not isinstance(header, dict):
            raise MalformedTokenError("Token header is not a JSON object.")
        return header

    def _check_claims(self, token: str, claims: dict[str, Any]) -> tuple[VerifiedToken, float]:
        """Check every claim with the injected clock; return the result and the time it stops being valid."""
        if claims.get("iss") != self._issuer:
            raise IssuerMismatchError("Token issuer does not match.")
        if claims.get("sub") is None:
            raise MissingClaimError("Token has no 'sub' claim.")
        exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
        if exp is None:
            raise MissingClaimError("Token has no 'exp' claim.")
        if iat is None:
            raise MissingClaimError("Token has no 'iat' claim.")
        now, leeway = self._clock(), self._leeway
        if now >= exp + leeway:
            raise ExpiredTokenError("Token has expired.")
        if nbf is not None and now + leeway < nbf:
            raise NotYetValidError("Token is not valid yet (nbf).")
        # An iat slightly in the future (IdP clock ahead of ours) is tolerated, as AppSync and most
        # verifiers do: it proves nothing by itself, and exp / nbf / iatTTL still bound the token.
        deadline = exp + leeway
        if self._iat_ttl > 0:
            iat_deadline = iat + self._iat_ttl + leeway
            if now >= iat_deadline:
                raise TokenTooOldError("Token is older than the issued-at TTL.")
            deadline = min(deadline, iat_deadline)
        if self._auth_ttl > 0:
            auth_time = _number(claims, "auth_time")
            if auth_time is None:
                raise MissingClaimError("Token has no 'auth_time' claim, which the authentication TTL needs.")
            auth_deadline = auth_time + self._auth_ttl + leeway
            if now >= auth_deadline:
                raise TokenTooOldError("Token is older than the authentication TTL.")
            deadline = min(deadline, auth_deadline)

        token_use = claims.get("token_use")
        if token_use is not None and token_use not in ("id", "access"):
            raise TokenUseError("Token 'token_use' must be 'id' or 'access'.")
        if self._cognito and token_use is None:
            raise TokenUseError("Cognito token has no 'token_use' claim.")
        self._check_client(claims, token_use)

        sub = claims["sub"]
        if not isinstance(sub, str) or not sub:
            raise MalformedTokenError("Token claim 'sub' is not a non-empty string.")
        username = claims.get("cognito:username") or claims.get("username") or sub
        groups = claims.get("cognito:groups") or ()
        if not isinstance(username, str) or not isinstance(groups, list | tuple):
            raise MalformedTokenError("Token has a username or groups claim of the wrong type.")
        if not all(isinstance(group, str) for group in groups):
            raise MalformedTokenError("Token 'cognito:groups' must be a list of strings.")
        verified = VerifiedToken(
            claims=MappingProxyType(claims),
            sub=sub,
            username=username,
            groups=tuple(groups),
            issuer=self._issuer,
            token_use=token_use,
            expires_at=exp,
            raw=token,
        )
        return verified, deadline

    def _check_client(self, claims: Mapping[str, Any], token_use: Any) -> None:
        if self._client_regex is None:
            return
        # An access token (Cognito's token_use, or OIDC's client_id without aud) names its client in client_id.
        is_access = token_use == "access" or (  # noqa: S105 - a claim value, not a password
            token_use is None and "aud" not in claims and "client_id" in claims
        )
        if is_access:
            candidates: list[Any] = [claims.get("client_id")]
        else:
            aud = claims.get("aud")
            candidates = list(aud) if isinstance(aud, list) else [aud]
        regex = self._client_regex
        if not any(isinstance(value, str) and regex.fullmatch(value) for value in candidates):
            claim = "client_id" if is_access else "aud"
            raise AudienceMismatchError(f"Token '{claim}' does not match the configured client id.")

    def _cache_get(self, cache_key: bytes) -> VerifiedToken | None:
        entry = self._cache.get(cache_key)
        if entry is None:
            return None
        deadline, key, verified = entry
        # Honour a hit only while it is fresh and the very same key is still published under its kid.
        if self._clock() >= deadline or self.jwks.peek(key.kid) is not key:
            del self._cache[cache_key]
            return None
        self._cache.move_to_end(cache_key)
        return verified

    def _cache_put(self, cache_key: bytes, deadline: float, key: SigningKey, verified: VerifiedToken) -> None:
        if self._cache_max_entries <= 0 or self._cache_max_age <= 0:
            return
        self._cache[cache_key] = (min(deadline, self._clock() + self._cache_max_age), key, verified)
        self._cache.move_to_end(cache_key)
        while len(self._cache) > self._cache_max_entries:
            self._cache.popitem(last=False)
