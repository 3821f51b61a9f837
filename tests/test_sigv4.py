"""SigV4 verification against requests signed by real botocore (no hand-written signer)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import botocore.auth as botocore_auth  # a test dependency: missing botocore fails, never skips
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app.errors import UnauthorizedError
from auth.sigv4 import (
    Credential,
    ExpiredTokenError,
    Headers,
    IncompleteSignatureError,
    MissingAuthenticationError,
    SignatureError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignedRequest,
    UnrecognizedClientError,
    VerifiedSignature,
    canonical_uri,
    verify,
)

HOST = "127.0.0.1:8000"
BODY = b'{"query":"query { listPosts { items { id } } }"}'
LONG = Credential("AKIDLONGTERMEXAMPLE", "long-term-secret/abc+def", None, principal="user:alice")
TEMP = Credential("ASIATEMPORARYEXAMPLE", "temporary-secret", "session-token-xyz==", principal="role:worker")
EXPIRED = Credential("ASIAEXPIREDEXAMPLE", "expired-secret", "old-token", principal="role:old")


class MemoryLookup:
    """An in-memory CredentialLookup: a real, tiny implementation of the protocol."""

    def __init__(self, *credentials: Credential, expired: tuple[str, ...] = ()) -> None:
        self.by_id = {c.access_key_id: c for c in credentials}
        self.expired = set(expired)
        self.calls: list[str] = []

    async def find(self, access_key_id: str) -> Credential | None:
        self.calls.append(access_key_id)
        if access_key_id in self.expired:
            raise ExpiredTokenError("The security token included in the request is expired")
        return self.by_id.get(access_key_id)


LOOKUP = MemoryLookup(LONG, TEMP, EXPIRED, expired=(EXPIRED.access_key_id,))


def sign(
    *,
    method: str = "POST",
    url: str = f"http://{HOST}/graphql",
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    key: Credential = LONG,
    secret: str | None = None,
    token: str | None = "<from key>",  # noqa: S107 - a marker, not a secret
    service: str = "appsync",
    region: str = "us-east-1",
    presign_expires: int | None = None,
) -> SignedRequest:
    """Sign with botocore and return what the server would receive."""
    all_headers = {"host": HOST, "content-type": "application/json"}
    if presign_expires is not None:
        all_headers = {"host": HOST}
    all_headers.update(headers or {})
    request = AWSRequest(method=method, url=url, data=body, headers=all_headers, params=params or {})
    session_token = key.session_token if token == "<from key>" else token
    creds = Credentials(key.access_key_id, secret if secret is not None else key.secret_access_key, session_token)
    if presign_expires is None:
        botocore_auth.SigV4Auth(creds, service, region).add_auth(request)
    else:
        botocore_auth.SigV4QueryAuth(creds, service, region, expires=presign_expires).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    sent_body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    return SignedRequest(prepared.method, parts.path, parts.query, list(prepared.headers.items()), sent_body)


def signed_time(request: SignedRequest) -> datetime:
    text = request.headers.get("x-amz-date")
    if text is None:
        text = re.search(r"X-Amz-Date=(\w+)", request.query_string).group(1)  # type: ignore[union-attr]
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def replace_header(request: SignedRequest, name: str, value: str | None, *, add: bool = False) -> SignedRequest:
    pairs = [(n, v) for n, v in request.headers.pairs() if n != name.lower()]
    if value is not None:
        pairs.append((name, value))
    if add:
        pairs = [*request.headers.pairs(), (name, value or "")]
    return SignedRequest(request.method, request.path, request.query_string, pairs, request.body)


def with_authorization(request: SignedRequest, value: str) -> SignedRequest:
    return replace_header(request, "authorization", value)


async def check(request: SignedRequest, *, now: datetime | None = None, **options: object) -> VerifiedSignature:
    options.setdefault("expected_service", "appsync")
    return await verify(request, LOOKUP, now=now or signed_time(request), **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ accepted


async def test_a_botocore_signed_graphql_post_is_accepted_with_its_credential_and_scope() -> None:
    request = sign()
    result = await check(request)
    assert result.credential is LONG
    assert result.credential.principal == "user:alice"
    assert (result.region, result.service) == ("us-east-1", "appsync")
    assert "host" in result.signed_headers and "x-amz-date" in result.signed_headers
    assert result.request_time == signed_time(request)


async def test_temporary_credentials_with_their_session_token_are_accepted() -> None:
    request = sign(key=TEMP)
    assert "x-amz-security-token" in request.headers
    result = await check(request)
    assert result.credential is TEMP


async def test_an_empty_get_body_is_accepted() -> None:
    assert (await check(sign(method="GET", body=b""))).credential is LONG


@pytest.mark.parametrize(
    "path",
    [
        "/graphql/",
        "/a%20b/c%2Fd",
        "/caf%C3%A9/%E2%9C%93",
        "/café/ünïcode",
        "/with space/and+plus",
        "//double//slashes//",
        "/a/./b/../c/.",
        "/../escape",
        "/~user/-_.!$&'()*,;=:@",
        "/%7Euser/%2E%2E/x",
        "",
    ],
)
async def test_paths_with_odd_characters_are_canonicalised_as_botocore_signed_them(path: str) -> None:
    request = sign(url=f"http://{HOST}{path}")
    assert (await check(request)).credential is LONG


@pytest.mark.parametrize(
    "query",
    [
        "a=2&a=1&b=",
        "flag&z=last&a=first",
        "k=v%3Dw&k=v&k=",
        "x=%E2%9C%93&y=a%2Bb&z=%20sp",
        "b=2&a=1&a=1",
        "A=upper&a=lower&_=under",
    ],
)
async def test_query_strings_with_repeated_keys_special_characters_and_empty_values_are_accepted(query: str) -> None:
    request = sign(url=f"http://{HOST}/graphql?{query}")
    assert (await check(request)).credential is LONG


async def test_query_parameters_encoded_by_botocore_itself_are_accepted() -> None:
    request = sign(params={"q": "a b/c?d=e&f", "empty": "", "uni": "✓ ü", "tilde": "~x*y'z(1)!"})
    assert "a+b" in request.query_string  # sent form-encoded, signed as a%20b
    assert (await check(request)).credential is LONG


async def test_a_service_in_an_expected_set_is_accepted() -> None:
    request = sign(service="states", region="eu-west-1")
    result = await check(request, expected_service={"states", "appsync"}, allowed_regions={"eu-west-1"})
    assert (result.service, result.region) == ("states", "eu-west-1")


async def test_headers_accept_raw_byte_pairs_and_mappings_case_insensitively() -> None:
    request = sign()
    as_bytes = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in request.headers.pairs()]
    raw = SignedRequest(request.method, request.path.encode(), request.query_string.encode(), as_bytes, request.body)
    assert (await check(raw)).credential is LONG
    headers = Headers({"X-Amz-Date": "1", "HOST": "h"})
    assert headers["x-amz-date"] == "1" and headers["Host"] == "h" and "host" in headers


async def test_repeated_headers_are_joined_and_whitespace_collapsed_as_signed() -> None:
    request = sign(headers={"x-custom": "  a   b\t c  "})
    assert (await check(request)).credential is LONG


# -------------------------------------------------------------------------------------- tampering


async def test_a_tampered_body_is_rejected_as_an_invalid_signature() -> None:
    request = sign()
    tampered = SignedRequest(request.method, request.path, request.query_string, request.headers, BODY + b" ")
    with pytest.raises(SignatureMismatchError) as caught:
        await check(tampered)
    assert caught.value.code == "InvalidSignatureException"
    assert isinstance(caught.value, UnauthorizedError)


async def test_a_tampered_signed_header_value_is_rejected() -> None:
    with pytest.raises(SignatureMismatchError):
        await check(replace_header(sign(), "content-type", "text/plain"))


async def test_a_tampered_path_or_query_is_rejected() -> None:
    request = sign(url=f"http://{HOST}/graphql?a=1")
    for path, query in (("/graphql2", "a=1"), ("/graphql", "a=2"), ("/graphql", "a=1&b=2")):
        moved = SignedRequest(request.method, path, query, request.headers, request.body)
        with pytest.raises(SignatureMismatchError):
            await check(moved)


async def test_a_header_added_to_signed_headers_after_signing_is_rejected() -> None:
    request = sign()
    auth = request.headers["authorization"]
    changed = auth.replace(";x-amz-date,", ";x-amz-date;x-extra,")
    assert changed != auth
    tampered = with_authorization(replace_header(request, "x-extra", "evil"), changed)
    with pytest.raises(SignatureMismatchError):
        await check(tampered)


async def test_an_unsigned_host_header_is_rejected() -> None:
    request = sign()
    auth = request.headers["authorization"].replace("content-type;host;", "content-type;")
    with pytest.raises(IncompleteSignatureError, match="'host' header must be signed"):
        await check(with_authorization(request, auth))


async def test_a_signed_header_missing_from_the_request_is_rejected() -> None:
    with pytest.raises(IncompleteSignatureError, match="content-type"):
        await check(replace_header(sign(), "content-type", None))


async def test_a_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureMismatchError):
        await check(sign(secret="not-the-secret"))


async def test_an_unknown_access_key_is_an_unrecognized_client() -> None:
    stranger = Credential("AKIDSTRANGER", "whatever")
    with pytest.raises(UnrecognizedClientError) as caught:
        await check(sign(key=stranger))
    assert caught.value.code == "UnrecognizedClientException"
    assert caught.value.message == "The security token included in the request is invalid."


async def test_a_request_signed_for_another_service_is_rejected() -> None:
    with pytest.raises(SignatureMismatchError, match="correct service: 'appsync'"):
        await check(sign(service="states"))


async def test_a_region_outside_the_allowed_set_is_rejected_only_when_regions_are_restricted() -> None:
    request = sign(region="ap-south-1")
    assert (await check(request)).region == "ap-south-1"
    with pytest.raises(SignatureMismatchError, match="valid region"):
        await check(request, allowed_regions={"us-east-1"})


async def test_a_credential_scope_date_other_than_the_request_day_is_rejected() -> None:
    request = sign()
    day = signed_time(request).strftime("%Y%m%d")
    other = (signed_time(request) - timedelta(days=1)).strftime("%Y%m%d")
    tampered = with_authorization(request, request.headers["authorization"].replace(f"/{day}/", f"/{other}/"))
    with pytest.raises(SignatureMismatchError, match="Date in Credential scope does not match"):
        await check(tampered)


async def test_an_x_amz_content_sha256_that_does_not_match_the_body_is_rejected() -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(SignatureMismatchError, match="x-amz-content-sha256"):
        await check(sign(headers={"x-amz-content-sha256": wrong}))
    right = hashlib.sha256(BODY).hexdigest()
    assert (await check(sign(headers={"x-amz-content-sha256": right}))).credential is LONG


async def test_unsigned_payload_is_refused() -> None:
    with pytest.raises(IncompleteSignatureError, match="UNSIGNED-PAYLOAD"):
        await check(sign(headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}))


# ------------------------------------------------------------------------------------------- time


@pytest.mark.parametrize("offset", [timedelta(seconds=299), timedelta(seconds=-299), timedelta(0)])
async def test_a_request_within_five_minutes_of_now_either_way_is_accepted(offset: timedelta) -> None:
    request = sign()
    assert (await check(request, now=signed_time(request) + offset)).credential is LONG


async def test_a_request_301_seconds_in_the_past_is_rejected_as_expired() -> None:
    request = sign()
    with pytest.raises(SignatureExpiredError, match=r"Signature expired: .* is now earlier than") as caught:
        await check(request, now=signed_time(request) + timedelta(seconds=301))
    assert caught.value.code == "InvalidSignatureException"


async def test_a_request_301_seconds_in_the_future_is_rejected_as_not_yet_current() -> None:
    request = sign()
    with pytest.raises(SignatureExpiredError, match="Signature not yet current"):
        await check(request, now=signed_time(request) - timedelta(seconds=301))


async def test_skew_is_checked_before_the_credential_is_looked_up() -> None:
    lookup = MemoryLookup(LONG)
    request = sign()
    with pytest.raises(SignatureExpiredError):
        await verify(request, lookup, now=signed_time(request) + timedelta(hours=1), expected_service="appsync")
    assert lookup.calls == []


async def test_a_malformed_x_amz_date_is_rejected() -> None:
    for bad in ("2026-11-25T03:00:00Z", "20261325T030000Z", "20261125T030000", ""):
        with pytest.raises(IncompleteSignatureError, match="X-Amz-Date"):
            await check(replace_header(sign(), "x-amz-date", bad), now=datetime.now(UTC))


async def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await verify(sign(), LOOKUP, now=datetime(2026, 1, 1), expected_service="appsync")


# ----------------------------------------------------------------------------- malformed headers


async def test_a_request_without_any_authentication_is_missing_authentication() -> None:
    request = replace_header(sign(), "authorization", None)
    with pytest.raises(MissingAuthenticationError) as caught:
        await check(request)
    assert caught.value.code == "MissingAuthenticationTokenException"


AUTH_PATTERN = re.compile(r"Credential=(?P<cred>[^,]+), SignedHeaders=(?P<sh>[^,]+), Signature=(?P<sig>\w+)")


def malformed_variants(auth: str) -> list[str]:
    match = AUTH_PATTERN.search(auth)
    assert match
    cred, sh, sig = match["cred"], match["sh"], match["sig"]
    return [
        "",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}",
        f"AWS4-HMAC-SHA256 Credential={cred}, Signature={sig}",
        f"AWS4-HMAC-SHA256 SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, Credential={cred}, SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}, Signature={sig}, Extra=1",
        f"AWS4-HMAC-SHA256 Credential={cred} SignedHeaders={sh} Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred.rsplit('/', 1)[0]}, SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred.replace('aws4_request', 'aws3_request')}, SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential=/20261125/us-east-1/appsync/aws4_request, SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential=AKID/20261345/us-east-1/appsync/aws4_request, SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential=AKID/2026112/us-east-1/appsync/aws4_request, SignedHeaders={sh}, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host;content-type;x-amz-date, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=Host;X-Amz-Date, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host;host;x-amz-date, Signature={sig}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}, Signature={sig[:-1]}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}, Signature={sig[:-1]}g",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}, Signature={sig.upper()}",
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={sh}, Signature=",
        "Bearer eyJhbGciOiJIUzI1NiJ9",
        "AWS4-HMAC-SHA256 Credential=\x00\n, SignedHeaders=\u2603, Signature=\U0001f600",
        "\u2603" * 5000,
    ]


async def test_malformed_authorization_headers_are_incomplete_signatures_never_other_exceptions() -> None:
    request = sign()
    variants = malformed_variants(request.headers["authorization"])
    for variant in variants:
        with pytest.raises(IncompleteSignatureError) as caught:
            await check(with_authorization(request, variant))
        assert caught.value.code == "IncompleteSignatureException", variant


async def test_two_authorization_headers_are_rejected() -> None:
    request = sign()
    doubled = replace_header(request, "authorization", request.headers["authorization"], add=True)
    with pytest.raises(IncompleteSignatureError, match="repeated"):
        await check(doubled)


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA1", "AWS4-HMAC-SHA512", "aws4-hmac-sha256", "AWS3"])
async def test_algorithms_other_than_hmac_sha256_are_refused(algorithm: str) -> None:
    request = sign()
    auth = request.headers["authorization"].replace("AWS4-HMAC-SHA256", algorithm, 1)
    with pytest.raises(IncompleteSignatureError, match="Unsupported AWS 'algorithm'"):
        await check(with_authorization(request, auth))


async def test_sigv4a_is_refused_with_a_clear_message() -> None:
    request = sign()
    auth = request.headers["authorization"].replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)
    with pytest.raises(IncompleteSignatureError, match="Signature Version 4A"):
        await check(with_authorization(request, auth))


# ------------------------------------------------------------------------------------ session tokens


async def test_temporary_credentials_without_their_session_token_are_rejected() -> None:
    with pytest.raises(UnrecognizedClientError):
        await check(sign(key=TEMP, token=None))


async def test_temporary_credentials_with_a_wrong_session_token_are_rejected() -> None:
    with pytest.raises(UnrecognizedClientError):
        await check(sign(key=TEMP, token="session-token-xyz=!"))


async def test_a_long_term_key_carrying_a_session_token_is_rejected() -> None:
    with pytest.raises(UnrecognizedClientError):
        await check(sign(key=LONG, token="some-token"))


async def test_a_session_token_header_added_after_signing_is_rejected() -> None:
    request = replace_header(sign(key=TEMP, token=None), "x-amz-security-token", TEMP.session_token)
    with pytest.raises(IncompleteSignatureError, match="x-amz-security-token"):
        await check(request)


async def test_an_expired_temporary_credential_reported_by_the_lookup_is_an_expired_token() -> None:
    with pytest.raises(ExpiredTokenError) as caught:
        await check(sign(key=EXPIRED))
    assert caught.value.code == "ExpiredTokenException"


# ---------------------------------------------------------------------------------------- presigned


async def test_a_presigned_request_is_accepted() -> None:
    request = sign(method="GET", body=b"", url=f"http://{HOST}/graphql?b=2&a=1", presign_expires=300)
    assert "authorization" not in request.headers
    assert "X-Amz-Signature=" in request.query_string
    result = await check(request, now=signed_time(request) + timedelta(seconds=290))
    assert result.credential is LONG


async def test_a_presigned_request_with_a_session_token_is_accepted_and_checked() -> None:
    request = sign(method="GET", body=b"", key=TEMP, presign_expires=60)
    assert "X-Amz-Security-Token=" in request.query_string
    assert (await check(request)).credential is TEMP
    wrong = sign(method="GET", body=b"", key=TEMP, token="nope", presign_expires=60)
    with pytest.raises(UnrecognizedClientError):
        await check(wrong)


async def test_a_presigned_post_with_a_body_is_accepted_and_its_body_is_covered() -> None:
    request = sign(body=BODY, presign_expires=60)
    assert (await check(request)).credential is LONG
    tampered = SignedRequest(request.method, request.path, request.query_string, request.headers, b"{}")
    with pytest.raises(SignatureMismatchError):
        await check(tampered)


async def test_a_session_token_in_the_query_of_a_header_signed_request_is_part_of_the_signature() -> None:
    request = sign(key=TEMP, token=None, url=f"http://{HOST}/graphql?X-Amz-Security-Token=session-token-xyz%3D%3D")
    assert (await check(request)).credential is TEMP


async def test_a_tab_after_the_algorithm_is_accepted() -> None:
    request = sign()
    auth = request.headers["authorization"].replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256\t", 1)
    assert (await check(with_authorization(request, auth))).credential is LONG


async def test_a_presigned_request_past_its_expiry_is_rejected() -> None:
    request = sign(method="GET", body=b"", presign_expires=60)
    assert (await check(request, now=signed_time(request) + timedelta(seconds=60))).credential is LONG
    with pytest.raises(SignatureExpiredError, match="expired"):
        await check(request, now=signed_time(request) + timedelta(seconds=61))


async def test_a_presigned_request_from_the_future_is_rejected() -> None:
    request = sign(method="GET", body=b"", presign_expires=60)
    with pytest.raises(SignatureExpiredError):
        await check(request, now=signed_time(request) - timedelta(seconds=301))


async def test_a_tampered_presigned_query_is_rejected() -> None:
    request = sign(method="GET", body=b"", url=f"http://{HOST}/graphql?a=1", presign_expires=60)
    tampered = SignedRequest("GET", "/graphql", request.query_string.replace("a=1", "a=2"), request.headers, b"")
    with pytest.raises(SignatureMismatchError):
        await check(tampered)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("X-Amz-Expires=60", "X-Amz-Expires=604801", "X-Amz-Expires"),
        ("X-Amz-Expires=60", "X-Amz-Expires=-1", "X-Amz-Expires"),
        ("X-Amz-Expires=60&", "", "X-Amz-Expires"),
        ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", "algorithm"),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "repeated",
        ),
        ("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date", "'host' header must be signed"),
        ("X-Amz-Date=", "X-Amz-Date=x", "X-Amz-Date"),
        ("X-Amz-Credential=", "X-Amz-Credential=%FF", "UTF-8"),
    ],
)
async def test_malformed_presigned_parameters_are_incomplete_signatures(old: str, new: str, message: str) -> None:
    request = sign(method="GET", body=b"", presign_expires=60)
    assert old in request.query_string
    query = request.query_string.replace(old, new, 1)
    with pytest.raises(IncompleteSignatureError, match=message):
        await check(SignedRequest("GET", request.path, query, request.headers, b""), now=signed_time(request))


async def test_an_authorization_header_and_presigned_parameters_together_are_rejected() -> None:
    presigned = sign(method="GET", body=b"", presign_expires=60)
    both = replace_header(presigned, "authorization", sign().headers["authorization"])
    with pytest.raises(IncompleteSignatureError, match="Only one authentication mechanism"):
        await check(both)


# ------------------------------------------------------------------------------ details and families


async def test_the_mismatch_detail_holds_the_canonical_request_and_string_to_sign_but_the_message_does_not() -> None:
    request = sign(url=f"http://{HOST}/graphql?b=2&a=1")
    with pytest.raises(SignatureMismatchError) as caught:
        await check(sign(url=f"http://{HOST}/graphql?b=2&a=1", secret="wrong"))
    error = caught.value
    assert error.detail is not None
    body_hash = hashlib.sha256(BODY).hexdigest()
    expected_canonical = "\n".join(
        [
            "POST",
            "/graphql",
            "a=1&b=2",
            "content-type:application/json",
            f"host:{HOST}",
            f"x-amz-date:{request.headers['x-amz-date']}",
            "",
            "content-type;host;x-amz-date",
            body_hash,
        ]
    )
    assert expected_canonical in error.detail
    assert "AWS4-HMAC-SHA256\n" in error.detail and "/us-east-1/appsync/aws4_request\n" in error.detail
    assert "a=1&b=2" not in error.message and error.data is None and error.error_info is None
    assert error.error_type == "InvalidSignatureException"


async def test_sts_requests_get_query_protocol_error_codes() -> None:
    with pytest.raises(SignatureMismatchError) as mismatch:
        await check(sign(service="sts", secret="wrong"), expected_service="sts")
    assert mismatch.value.code == "SignatureDoesNotMatch"
    with pytest.raises(UnrecognizedClientError) as unknown:
        await check(sign(service="sts", key=Credential("AKIDNOPE", "x")), expected_service="sts")
    assert unknown.value.code == "InvalidClientTokenId"
    with pytest.raises(IncompleteSignatureError) as incomplete:
        await check(with_authorization(sign(service="sts"), "AWS4-HMAC-SHA256 nonsense"), expected_service="sts")
    assert incomplete.value.code == "IncompleteSignature"


def test_every_failure_is_a_signature_error_and_an_unauthorized_error() -> None:
    for kind in (
        IncompleteSignatureError,
        MissingAuthenticationError,
        SignatureMismatchError,
        SignatureExpiredError,
        UnrecognizedClientError,
        ExpiredTokenError,
    ):
        assert issubclass(kind, SignatureError) and issubclass(kind, UnauthorizedError)
        assert kind("m").code == kind.json_code


def test_the_canonical_uri_double_encodes_the_raw_path_after_removing_dot_segments() -> None:
    assert canonical_uri("") == "/"
    assert canonical_uri("/a%20b//c/./d/../e/") == "/a%2520b/c/e/"
    assert canonical_uri("/café") == "/caf%C3%A9"
    assert canonical_uri("/~a-b_c.d") == "/~a-b_c.d"


async def test_a_date_header_used_instead_of_x_amz_date_must_be_signed() -> None:
    request = sign()
    auth = request.headers["authorization"].replace(";x-amz-date,", ",")
    pairs = [(n, v) for n, v in request.headers.pairs() if n not in ("x-amz-date", "authorization")]
    pairs += [("date", "Wed, 25 Nov 2026 03:00:00 GMT"), ("authorization", auth)]
    unsigned = SignedRequest(request.method, request.path, request.query_string, pairs, request.body)
    with pytest.raises(IncompleteSignatureError, match="'date' header must be signed"):
        await check(unsigned, now=datetime(2026, 11, 25, 3, tzinfo=UTC))


async def test_odd_strings_from_callers_raise_signature_errors_not_unicode_errors() -> None:
    request = sign()
    odd = [
        ("x-amz-date", "\u0662" + request.headers["x-amz-date"][1:]),  # an Arabic-Indic digit 2
        ("authorization", request.headers["authorization"].replace("us-east-1", "us-\ud800-1")),
        ("authorization", request.headers["authorization"].replace("AKID", "\udcff")),
    ]
    for name, value in odd:
        with pytest.raises(SignatureError):
            await check(replace_header(request, name, value), now=signed_time(request))
    surrogate_query = SignedRequest(request.method, "/\ud800", "a=\ud800&b=%FF", request.headers, request.body)
    with pytest.raises(SignatureMismatchError):
        await check(surrogate_query)
