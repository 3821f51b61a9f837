"""A JSON Web Key Set cache for verifying OIDC and Cognito user-pool tokens.

``JwksCache`` fetches the signing keys of one identity provider, either from an explicit JWKS URL
or from the ``jwks_uri`` of the issuer's ``/.well-known/openid-configuration`` (whose ``issuer``
must equal the configured one exactly), and keeps them by ``kid``.

Refresh policy (every network fetch goes through ``_refresh``):

* the keys are refreshed when they are older than ``ttl`` (default one hour) and when a token names
  a ``kid`` the cache does not know (this is how a rotated-in signing key is picked up);
* **at most one fetch starts per** ``min_refresh_interval`` (default 60 s), shared by all callers,
  and concurrent callers that need a refresh await the same in-flight fetch (single flight). A
  flood of tokens with made-up ``kid`` values therefore costs at most one fetch a minute, and a
  rotated-in key is accepted at the latest ``min_refresh_interval`` after the previous fetch;
* a failed refresh keeps the last good keys (an identity provider outage does not log everybody
  out), and a fetch that never succeeded leaves the cache empty, so every token is refused
  (fail closed) with ``JwksUnavailableError``.

Only signature keys for RS256/384/512 (RSA, at least 2048 bits) and ES256/384/512 (EC P-256,
P-384, P-521) are kept; keys without a ``kid``, with ``use`` other than ``sig``, with another
``kty`` or ``alg``, or that do not parse are ignored. The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.errors import UnauthorizedError

logger = logging.getLogger(__name__)

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | EC_ALGORITHMS
# The curve each ECDSA algorithm is defined over (RFC 7518 section 3.4).
EC_CURVE_FOR_ALGORITHM = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_KEY_BITS = 2048
MAX_DOCUMENT_BYTES = 1 << 20


class JwksUnavailableError(UnauthorizedError):
    """No signing keys could ever be fetched, so no token can be verified (fail closed)."""

    reason = "jwks_unavailable"


class _FetchError(Exception):
    """A fetch of the discovery or JWKS document failed; the message says why (for the log)."""


@dataclass(frozen=True, eq=False)
class SigningKey:
    """One usable public key from the JWKS. ``eq=False``: identity tells a replaced key apart."""

    kid: str
    kty: str  # "RSA" or "EC"
    alg: str | None  # the JWK's own ``alg``, when it pins one
    curve: str | None  # "P-256" / "P-384" / "P-521" for EC keys
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey

    def allows(self, algorithm: str) -> bool:
        """Whether a token signed with ``algorithm`` may be verified with this key."""
        if self.alg is not None and self.alg != algorithm:
            return False
        if self.kty == "RSA":
            return algorithm in RSA_ALGORITHMS
        if self.kty == "EC":
            return EC_CURVE_FOR_ALGORITHM.get(algorithm) == self.curve
        return False


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    """The usable signing keys of a JWKS document, by ``kid`` (the first key wins on a duplicate)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _FetchError("JWKS document has no 'keys' list")
    keys: dict[str, SigningKey] = {}
    for entry in document["keys"]:
        key = _parse_key(entry)
        if key is not None and key.kid not in keys:
            keys[key.kid] = key
    return keys


def _parse_key(entry: Any) -> SigningKey | None:
    if not isinstance(entry, Mapping):
        return None
    kid, kty, use, alg = entry.get("kid"), entry.get("kty"), entry.get("use"), entry.get("alg")
    if not isinstance(kid, str) or not kid:
        return None
    if use is not None and use != "sig":
        return None
    if kty not in ("RSA", "EC"):
        return None
    if alg is not None and (alg not in SUPPORTED_ALGORITHMS or (alg in RSA_ALGORITHMS) != (kty == "RSA")):
        return None
    try:
        # PyJWK needs an algorithm to pick a parser; the key's own "alg" (if any) was checked above.
        parsed = jwt.PyJWK(dict(entry), algorithm=alg or ("RS256" if kty == "RSA" else None))
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        logger.warning("ignoring JWKS key %r that does not parse: %s", kid, exc)
        return None
    public_key = parsed.key
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_KEY_BITS:
            logger.warning("ignoring JWKS key %r: RSA key of %d bits is too short", kid, public_key.key_size)
            return None
        return SigningKey(kid=kid, kty="RSA", alg=alg, curve=None, key=public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(public_key.curve.name)
        if curve is None or (alg is not None and EC_CURVE_FOR_ALGORITHM[alg] != curve):
            return None
        return SigningKey(kid=kid, kty="EC", alg=alg, curve=curve, key=public_key)
    return None  # a private key or another type slipped through: never use it


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http":
        host = parts.hostname or ""
        if host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise _FetchError(f"refusing to fetch keys from {url!r}: https is required (http only on loopback)")


class JwksCache:
    """Signing keys of one identity provider, by ``kid``; see the module docstring for the policy."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        issuer: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        ttl: float = 3600.0,
        min_refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if jwks_url is None and issuer is None:
            raise ValueError("JwksCache needs a jwks_url or an issuer to discover it from")
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._timeout = timeout
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch started, successful or not
        self._inflight: asyncio.Task[None] | None = None
        self.fetch_count = 0  # fetches started (for metrics and tests)

    async def aclose(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        if self._own_client:
            await self._client.aclose()

    def peek(self, kid: str) -> SigningKey | None:
        """The key now cached under ``kid``, without any fetch."""
        return self._keys.get(kid)

    async def get_key(self, kid: str) -> SigningKey | None:
        """The signing key named ``kid``, refreshing (rate limited) when stale or when ``kid`` is unknown.

        ``None`` means the key is not in the JWKS (or no refresh was allowed yet); raises
        ``JwksUnavailableError`` when no key set has ever been fetched.
        """
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at >= self._ttl or kid not in self._keys:
            await self._refresh()
        if self._fetched_at is None:
            raise JwksUnavailableError("The identity provider's signing keys could not be fetched.")
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        """Join the in-flight fetch, or start one unless one started under ``min_refresh_interval`` ago."""
        task = self._inflight
        if task is None:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh_interval:
                return
            self._attempted_at = now
            self.fetch_count += 1
            task = self._inflight = asyncio.create_task(self._fetch_and_store())
            task.add_done_callback(self._clear_inflight)
        # shield: a caller that is cancelled (client went away) does not cancel the shared fetch.
        await asyncio.shield(task)

    def _clear_inflight(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _fetch_and_store(self) -> None:
        try:
            # One deadline for discovery and JWKS together: a slow-drip server cannot hold the fetch open.
            async with asyncio.timeout(self._timeout * 2):
                keys = parse_jwks(await self._get_json(await self._jwks_location()))
            if not keys:
                raise _FetchError("JWKS document has no usable RSA/EC signature keys")
        except (_FetchError, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError, TimeoutError) as exc:
            # Keep the last good keys; the next attempt waits for min_refresh_interval.
            logger.warning("JWKS refresh failed (keeping %d cached keys): %s", len(self._keys), exc)
            return
        self._keys = keys
        self._fetched_at = self._clock()

    async def _jwks_location(self) -> str:
        if self._jwks_url is not None:
            return self._jwks_url
        assert self._issuer is not None
        discovery = await self._get_json(self._issuer.rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(discovery, Mapping):
            raise _FetchError("openid-configuration is not a JSON object")
        if discovery.get("issuer") != self._issuer:
            raise _FetchError(f"openid-configuration issuer {discovery.get('issuer')!r} != {self._issuer!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _FetchError("openid-configuration has no jwks_uri")
        self._jwks_url = jwks_uri  # discovered once; the JWKS itself is what rotates
        return jwks_uri

    async def _get_json(self, url: str) -> Any:
        _check_url(url)
        request = self._client.stream("GET", url, timeout=self._timeout, headers={"Accept": "application/json"})
        async with request as response:
            if response.status_code != 200:
                raise _FetchError(f"GET {url} returned HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise _FetchError(f"GET {url} returned more than {MAX_DOCUMENT_BYTES} bytes")
        return json.loads(body)
