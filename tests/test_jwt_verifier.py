"""JWT verification for OIDC and Cognito user pools, against a real JWKS server on loopback.

A tiny Starlette app on uvicorn serves the JWKS and an openid-configuration document and counts
fetches server-side. Keys are generated with ``cryptography``; tokens are signed with PyJWT (or by
hand, for forgeries PyJWT refuses to produce). Clocks are injected, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.errors import ConfigError, UnauthorizedError
from auth.jwks import JwksCache, SigningKey
from auth.jwt_verifier import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    CognitoConfig,
    ExpiredTokenError,
    InvalidSignatureError,
    IssuerMismatchError,
    JwtVerifier,
    KeysUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
    OidcConfig,
    TokenError,
    TokenTooOldError,
    TokenUseError,
    UnknownKeyError,
    pyjwt_verify_signature,
)

NOW = 1_800_000_000.0
CLIENT = "6abc123clientid"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key: Any, kid: str, alg: str | None = None, use: str | None = "sig") -> dict[str, Any]:
    algorithm = (
        jwt.algorithms.RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    )
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(private_key.public_key()))
    jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    if use is not None:
        jwk["use"] = use
    return jwk


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class JwksServer:
    base: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def jwks_url(self) -> str:
        return self.base + "/jwks.json"

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
            self.server = self.task = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def idp() -> AsyncIterator[JwksServer]:
    port = free_port()
    state = JwksServer(base=f"http://127.0.0.1:{port}")
    state.keys = [public_jwk(RSA_KEY, "rsa-1"), public_jwk(EC_KEY, "ec-1")]

    async def jwks(request: Request) -> JSONResponse:
        state.jwks_fetches += 1
        return JSONResponse({"keys": state.keys})

    async def huge(request: Request) -> JSONResponse:
        state.jwks_fetches += 1
        return JSONResponse({"keys": state.keys, "padding": "x" * (2 << 20)})

    async def discovery(request: Request) -> JSONResponse:
        state.discovery_fetches += 1
        return JSONResponse({"issuer": state.issuer, "jwks_uri": state.jwks_url})

    app = Starlette(
        routes=[
            Route("/jwks.json", jwks),
            Route("/huge.json", huge),
            Route("/pool/.well-known/jwks.json", jwks),
            Route("/.well-known/openid-configuration", discovery),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    state.server = uvicorn.Server(config)
    state.task = asyncio.create_task(state.server.serve())
    for _ in range(500):
        if state.server.started:
            break
        await asyncio.sleep(0.01)
    assert state.server.started
    yield state
    await state.stop()


def claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": issuer,
        "sub": "user-sub-1",
        "aud": CLIENT,
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 3600,
        "token_use": "id",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: Any = RSA_KEY, kid: str = "rsa-1", alg: str = "RS256") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


class CountingVerifier:
    """The default PyJWT signature check, counted (the injectable seam, not a mock)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, token: str, key: SigningKey, algorithm: str) -> dict[str, Any]:
        self.calls += 1
        return pyjwt_verify_signature(token, key, algorithm)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def oidc(idp: JwksServer, clock: FakeClock) -> AsyncIterator[JwtVerifier]:
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, client_id=CLIENT), clock=clock)
    yield verifier
    await verifier.aclose()


@pytest.fixture
async def cognito(idp: JwksServer, clock: FakeClock) -> AsyncIterator[JwtVerifier]:
    config = CognitoConfig(issuer=idp.base + "/pool", app_id_client_regex=r"6abc\w+")
    verifier = JwtVerifier(config, clock=clock)
    yield verifier
    await verifier.aclose()


# ------------------------------------------------------------------------------------- accepted


async def test_a_cognito_id_token_is_accepted_with_its_username_and_groups(
    cognito: JwtVerifier, idp: JwksServer
) -> None:
    token = sign(claims(idp.base + "/pool", **{"cognito:username": "alice", "cognito:groups": ["admins", "staff"]}))
    verified = await cognito.verify(token)
    assert verified.sub == "user-sub-1"
    assert verified.username == "alice"
    assert verified.groups == ("admins", "staff")
    assert verified.token_use == "id"
    assert verified.issuer == idp.base + "/pool"
    assert verified.claims["aud"] == CLIENT


async def test_a_cognito_access_token_is_accepted_by_its_client_id(cognito: JwtVerifier, idp: JwksServer) -> None:
    payload = claims(idp.base + "/pool", aud=None, token_use="access", client_id=CLIENT, username="bob")
    verified = await cognito.verify("Bearer " + sign(payload))
    assert verified.username == "bob"
    assert verified.groups == ()
    assert verified.token_use == "access"


async def test_an_oidc_token_is_accepted_raw_or_with_a_bearer_prefix_using_discovered_keys(
    oidc: JwtVerifier, idp: JwksServer
) -> None:
    payload = claims(idp.issuer, token_use=None)
    assert (await oidc.verify(sign(payload))).username == "user-sub-1"
    assert (await oidc.verify("bearer  " + sign({**payload, "sub": "other"}))).sub == "other"
    assert idp.discovery_fetches == 1
    assert idp.jwks_fetches == 1


async def test_an_es256_token_is_accepted_when_es256_is_pinned(idp: JwksServer, clock: FakeClock) -> None:
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, allowed_algorithms=("ES256",)), clock=clock)
    try:
        assert (await verifier.verify(sign(claims(idp.issuer), EC_KEY, "ec-1", "ES256"))).sub == "user-sub-1"
        with pytest.raises(AlgorithmNotAllowedError):
            await verifier.verify(sign(claims(idp.issuer)))  # RS256 is not pinned here
    finally:
        await verifier.aclose()


async def test_the_cognito_issuer_is_derived_from_the_pool_id_and_region() -> None:
    config = CognitoConfig(user_pool_id="eu-west-1_AbC123")
    assert config.effective_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    assert config.effective_jwks_url == config.effective_issuer + "/.well-known/jwks.json"
    with pytest.raises(ConfigError):
        CognitoConfig(user_pool_id="not a pool")
    with pytest.raises(ConfigError):
        OidcConfig(issuer="https://idp.example", allowed_algorithms=("HS256",))
    with pytest.raises(ConfigError):
        OidcConfig(issuer="https://idp.example", client_id="(unclosed")


# ------------------------------------------------------------------------------------- rejected


async def test_an_alg_none_token_is_rejected_before_any_key_fetch(oidc: JwtVerifier, idp: JwksServer) -> None:
    token = f"{b64json({'alg': 'none', 'kid': 'rsa-1'})}.{b64json(claims(idp.issuer))}."
    with pytest.raises(AlgorithmNotAllowedError):
        await oidc.verify(token)
    assert idp.jwks_fetches == 0


async def test_an_hs256_token_signed_with_the_rsa_public_key_is_rejected_before_verification(
    idp: JwksServer, clock: FakeClock
) -> None:
    counter = CountingVerifier()
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer), clock=clock, verify_signature=counter)
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'})}.{b64json(claims(idp.issuer))}"
    forged = signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    try:
        with pytest.raises(AlgorithmNotAllowedError):
            await verifier.verify(forged)
        assert counter.calls == 0
        assert idp.jwks_fetches == 0
    finally:
        await verifier.aclose()


async def test_an_es256_token_pointing_at_an_rsa_key_is_rejected(idp: JwksServer, clock: FakeClock) -> None:
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, allowed_algorithms=("RS256", "ES256")), clock=clock)
    try:
        with pytest.raises(AlgorithmNotAllowedError):
            await verifier.verify(sign(claims(idp.issuer), EC_KEY, "rsa-1", "ES256"))
    finally:
        await verifier.aclose()


@pytest.mark.parametrize("token", ["", "Bearer ", "not-a-jwt", "a.b", "!!!.e30.sig", "e30.e30.sig", "W10.e30.sig"])
async def test_a_malformed_token_is_rejected(oidc: JwtVerifier, token: str) -> None:
    with pytest.raises(TokenError):
        await oidc.verify(token)


async def test_a_token_without_a_kid_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(MalformedTokenError):
        await oidc.verify(jwt.encode(claims(idp.issuer), RSA_KEY, algorithm="RS256"))


async def test_a_token_signed_with_an_unknown_kid_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(UnknownKeyError):
        await oidc.verify(sign(claims(idp.issuer), RSA_KEY_2, kid="rsa-unknown"))


async def test_a_token_signed_by_another_key_under_a_known_kid_has_a_bad_signature(
    oidc: JwtVerifier, idp: JwksServer
) -> None:
    with pytest.raises(InvalidSignatureError):
        await oidc.verify(sign(claims(idp.issuer), RSA_KEY_2, kid="rsa-1"))


async def test_a_tampered_payload_is_rejected_as_a_bad_signature(oidc: JwtVerifier, idp: JwksServer) -> None:
    header, _, signature = sign(claims(idp.issuer)).split(".")
    tampered = f"{header}.{b64json(claims(idp.issuer, sub='admin'))}.{signature}"
    with pytest.raises(InvalidSignatureError):
        await oidc.verify(tampered)


async def test_a_token_from_another_issuer_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(IssuerMismatchError):
        await oidc.verify(sign(claims(idp.issuer + "/")))


async def test_a_token_for_another_audience_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(AudienceMismatchError):
        await oidc.verify(sign(claims(idp.issuer, aud="someone-else")))
    with pytest.raises(AudienceMismatchError):
        await oidc.verify(sign(claims(idp.issuer, aud=CLIENT + "x")))  # fullmatch, not a prefix match


async def test_the_client_id_regex_must_fully_match_the_access_tokens_client_id(
    cognito: JwtVerifier, idp: JwksServer
) -> None:
    access = claims(idp.base + "/pool", aud=None, token_use="access")
    with pytest.raises(AudienceMismatchError):
        await cognito.verify(sign({**access, "client_id": "7other"}))
    with pytest.raises(AudienceMismatchError):
        await cognito.verify(sign({**access, "client_id": "x6abc1"}))
    with pytest.raises(AudienceMismatchError):
        await cognito.verify(sign(access))  # no client_id at all
    # an access token is not judged by its aud
    with pytest.raises(AudienceMismatchError):
        await cognito.verify(sign({**access, "aud": CLIENT, "client_id": "7other"}))
    assert (await cognito.verify(sign({**access, "client_id": "6abcXYZ"}))).token_use == "access"


async def test_a_cognito_token_with_a_wrong_or_missing_token_use_is_rejected(
    cognito: JwtVerifier, idp: JwksServer
) -> None:
    with pytest.raises(TokenUseError):
        await cognito.verify(sign(claims(idp.base + "/pool", token_use="refresh")))
    with pytest.raises(TokenUseError):
        await cognito.verify(sign(claims(idp.base + "/pool", token_use=None)))


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
async def test_a_token_missing_a_required_claim_is_rejected(oidc: JwtVerifier, idp: JwksServer, missing: str) -> None:
    with pytest.raises(MissingClaimError):
        await oidc.verify(sign(claims(idp.issuer, **{missing: None})))


async def test_a_token_expired_by_one_second_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(ExpiredTokenError):
        await oidc.verify(sign(claims(idp.issuer, exp=int(NOW) - 1)))
    with pytest.raises(ExpiredTokenError):
        await oidc.verify(sign(claims(idp.issuer, exp=int(NOW))))


async def test_leeway_tolerates_a_recently_expired_token(idp: JwksServer, clock: FakeClock) -> None:
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, leeway=5), clock=clock)
    try:
        assert await verifier.verify(sign(claims(idp.issuer, exp=int(NOW) - 1)))
    finally:
        await verifier.aclose()


async def test_a_token_with_nbf_in_the_future_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(NotYetValidError):
        await oidc.verify(sign(claims(idp.issuer, nbf=int(NOW) + 1)))
    assert await oidc.verify(sign(claims(idp.issuer, nbf=int(NOW))))


async def test_an_iat_slightly_in_the_future_is_tolerated_as_clock_skew(oidc: JwtVerifier, idp: JwksServer) -> None:
    assert await oidc.verify(sign(claims(idp.issuer, iat=int(NOW) + 5)))


async def test_a_non_numeric_time_claim_is_rejected(oidc: JwtVerifier, idp: JwksServer) -> None:
    with pytest.raises(MalformedTokenError):
        await oidc.verify(sign(claims(idp.issuer, exp="tomorrow")))


async def test_iat_ttl_rejects_a_token_issued_too_long_ago(idp: JwksServer, clock: FakeClock) -> None:
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, iat_ttl_ms=60_000), clock=clock)
    try:
        assert await verifier.verify(sign(claims(idp.issuer, iat=int(NOW) - 59)))
        with pytest.raises(TokenTooOldError):
            await verifier.verify(sign(claims(idp.issuer, iat=int(NOW) - 61)))
    finally:
        await verifier.aclose()


async def test_auth_ttl_rejects_a_token_authenticated_too_long_ago_or_without_auth_time(
    idp: JwksServer, clock: FakeClock
) -> None:
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, auth_ttl_ms=300_000), clock=clock)
    try:
        assert await verifier.verify(sign(claims(idp.issuer, auth_time=int(NOW) - 299)))
        with pytest.raises(TokenTooOldError):
            await verifier.verify(sign(claims(idp.issuer, auth_time=int(NOW) - 301)))
        with pytest.raises(MissingClaimError):
            await verifier.verify(sign(claims(idp.issuer)))
    finally:
        await verifier.aclose()


async def test_every_rejection_is_an_unauthorized_error(oidc: JwtVerifier) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        await oidc.verify("garbage")
    assert caught.value.error_type == "UnauthorizedException"


# ------------------------------------------------------------------------------------- JWKS cache


async def test_a_rotated_in_key_is_accepted_after_one_refresh(
    oidc: JwtVerifier, idp: JwksServer, clock: FakeClock
) -> None:
    await oidc.verify(sign(claims(idp.issuer)))
    assert idp.jwks_fetches == 1
    idp.keys = [*idp.keys, public_jwk(RSA_KEY_2, "rsa-2")]
    rotated = sign(claims(idp.issuer, sub="rotated"), RSA_KEY_2, kid="rsa-2")
    # Within min_refresh_interval of the last fetch the new kid is unknown and no fetch happens...
    with pytest.raises(UnknownKeyError):
        await oidc.verify(rotated)
    assert idp.jwks_fetches == 1
    # ...after it, the unknown kid triggers exactly one refresh that picks the new key up.
    clock.advance(61)
    assert (await oidc.verify(rotated)).sub == "rotated"
    assert idp.jwks_fetches == 2


async def test_a_flood_of_unknown_kids_causes_a_bounded_number_of_jwks_fetches(
    oidc: JwtVerifier, idp: JwksServer, clock: FakeClock
) -> None:
    async def flood() -> None:
        tokens = [sign(claims(idp.issuer), RSA_KEY_2, kid=secrets.token_hex(8)) for _ in range(500)]
        results = await asyncio.gather(*(oidc.verify(t) for t in tokens), return_exceptions=True)
        assert all(isinstance(r, UnknownKeyError) for r in results)

    await flood()  # cold cache: one single-flight fetch serves all 500
    assert idp.jwks_fetches == 1
    clock.advance(61)
    await flood()  # one refresh per min_refresh_interval, shared by all callers
    assert idp.jwks_fetches == 2
    assert idp.discovery_fetches == 1


async def test_cached_keys_keep_verifying_when_the_jwks_server_goes_down(
    oidc: JwtVerifier, idp: JwksServer, clock: FakeClock
) -> None:
    await oidc.verify(sign(claims(idp.issuer, exp=int(NOW) + 7200)))
    await idp.stop()
    clock.advance(3601)  # past the one-hour TTL: the refresh fails, the last good keys stay
    fresh = claims(idp.issuer, sub="after-outage", iat=int(clock.now), exp=int(clock.now) + 600)
    assert (await oidc.verify(sign(fresh))).sub == "after-outage"
    with pytest.raises(UnknownKeyError):
        await oidc.verify(sign(fresh, RSA_KEY_2, kid="rsa-unknown"))


async def test_an_unreachable_jwks_fails_closed(clock: FakeClock) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    verifier = JwtVerifier(OidcConfig(issuer=issuer, jwks_url=issuer + "/jwks.json"), clock=clock)
    try:
        with pytest.raises(KeysUnavailableError):
            await verifier.verify(sign(claims(issuer)))
    finally:
        await verifier.aclose()


async def test_keys_not_meant_for_signatures_or_of_other_types_are_ignored(idp: JwksServer, clock: FakeClock) -> None:
    idp.keys = [
        public_jwk(RSA_KEY, "enc-key", use="enc"),
        {"kty": "oct", "kid": "hmac", "k": b64(b"secret")},
        public_jwk(RSA_KEY, "pinned-384", alg="RS384"),
        public_jwk(RSA_KEY_2, "rsa-2"),
    ]
    cache = JwksCache(jwks_url=idp.jwks_url, clock=clock)
    verifier = JwtVerifier(
        OidcConfig(issuer=idp.issuer, allowed_algorithms=("RS256", "RS384")), jwks=cache, clock=clock
    )
    try:
        assert await cache.get_key("enc-key") is None
        assert await cache.get_key("hmac") is None
        with pytest.raises(AlgorithmNotAllowedError):  # the key pins RS384
            await verifier.verify(sign(claims(idp.issuer), kid="pinned-384"))
        assert await verifier.verify(sign(claims(idp.issuer), kid="pinned-384", alg="RS384"))
    finally:
        await verifier.aclose()
        await cache.aclose()


async def test_a_discovery_document_naming_another_issuer_is_not_trusted(idp: JwksServer, clock: FakeClock) -> None:
    cache = JwksCache(issuer=idp.issuer + "/other", clock=clock)
    try:
        with pytest.raises(UnauthorizedError):
            await cache.get_key("rsa-1")
        assert idp.jwks_fetches == 0
    finally:
        await cache.aclose()


async def test_an_oversized_jwks_document_is_refused(idp: JwksServer, clock: FakeClock) -> None:
    cache = JwksCache(jwks_url=idp.base + "/huge.json", clock=clock)
    try:
        with pytest.raises(UnauthorizedError):
            await cache.get_key("rsa-1")
        assert idp.jwks_fetches == 1
    finally:
        await cache.aclose()


async def test_plain_http_keys_are_refused_except_on_loopback(clock: FakeClock) -> None:
    cache = JwksCache(jwks_url="http://idp.example/jwks.json", clock=clock)
    try:
        with pytest.raises(UnauthorizedError):
            await cache.get_key("rsa-1")
    finally:
        await cache.aclose()


# ------------------------------------------------------------------------------------- verification cache


async def test_a_repeated_token_is_served_from_the_cache_without_reverifying(idp: JwksServer, clock: FakeClock) -> None:
    counter = CountingVerifier()
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer, client_id=CLIENT), clock=clock, verify_signature=counter)
    token = sign(claims(idp.issuer))
    try:
        first = await verifier.verify(token)
        assert await verifier.verify(token) is first
        assert await verifier.verify("Bearer " + token) is first
        assert counter.calls == 1
        clock.advance(61)  # cache entries live at most 60 s
        assert (await verifier.verify(token)).sub == first.sub
        assert counter.calls == 2
    finally:
        await verifier.aclose()


async def test_a_cached_token_still_expires_on_time(idp: JwksServer, clock: FakeClock) -> None:
    counter = CountingVerifier()
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer), clock=clock, verify_signature=counter)
    token = sign(claims(idp.issuer, exp=int(NOW) + 10))
    try:
        await verifier.verify(token)
        clock.advance(10)
        with pytest.raises(ExpiredTokenError):
            await verifier.verify(token)
        assert counter.calls == 2
    finally:
        await verifier.aclose()


async def test_a_cached_token_is_dropped_once_its_key_leaves_the_jwks(idp: JwksServer, clock: FakeClock) -> None:
    cache = JwksCache(jwks_url=idp.jwks_url, clock=clock, min_refresh_interval=5)
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer), jwks=cache, clock=clock)
    token = sign(claims(idp.issuer))
    try:
        await verifier.verify(token)
        idp.keys = [public_jwk(RSA_KEY_2, "rsa-2")]  # rsa-1 revoked
        clock.advance(6)
        with pytest.raises(UnknownKeyError):  # an unknown kid triggers the refresh
            await verifier.verify(sign(claims(idp.issuer), RSA_KEY_2, kid="rsa-9"))
        with pytest.raises(UnknownKeyError):  # the cache hit is not honoured any more
            await verifier.verify(token)
    finally:
        await verifier.aclose()
        await cache.aclose()


async def test_the_verification_cache_is_bounded(idp: JwksServer, clock: FakeClock) -> None:
    counter = CountingVerifier()
    verifier = JwtVerifier(OidcConfig(issuer=idp.issuer), clock=clock, verify_signature=counter, cache_max_entries=2)
    tokens = [sign(claims(idp.issuer, sub=f"user-{n}")) for n in range(3)]
    try:
        for token in tokens:
            await verifier.verify(token)
        await verifier.verify(tokens[0])  # evicted as least recently used
        assert counter.calls == 4
        await verifier.verify(tokens[2])
        assert counter.calls == 4
    finally:
        await verifier.aclose()
