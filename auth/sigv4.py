"""AWS Signature Version 4 verification, server side (a pure module: no web framework, no I/O).

Callers build a ``SignedRequest`` from what arrived on the wire (raw path and query, header pairs,
the body bytes actually received) and ``await verify(...)`` it against a ``CredentialLookup``.

What is checked, and how (AWS's "Create a signed AWS API request" / "Authenticating requests"):

* Both the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
  header form and the presigned query-string form (``X-Amz-Algorithm`` ... ``X-Amz-Signature``).
  Only ``AWS4-HMAC-SHA256``; SigV4a (``AWS4-ECDSA-P256-SHA256``) and anything else is refused.
* Canonical URI, non-S3 rule: the raw (already once percent-encoded) path has its dot segments
  removed and runs of ``/`` collapsed (RFC 3986 section 5.2.4, as AWS's SDKs do for every service but
  S3), then is URI-encoded once more, keeping ``/``.  That second encoding of a once-encoded wire
  path is what AWS's documentation calls "each path segment URI-encoded twice".  Percent escapes in
  the raw path are *not* decoded first (``%2F`` stays a segment character, ``%2E%2E`` is no dot
  segment), matching what the signing SDK computed from the URL it sent.
* Canonical query string: every ``name=value`` pair of the raw query (a pair without ``=`` has an
  empty value) is percent-decoded and re-encoded with AWS's rules (only ``A-Z a-z 0-9 - _ . ~`` left
  bare, ``%XX`` upper-case), then sorted by encoded name and then encoded value.  A bare ``+`` is
  read as a space, as in form encoding: botocore's ``AWSRequest`` sends ``params`` form-encoded
  (``a+b``) but signs them as ``a%20b``, and SDKs always send a literal plus as ``%2B``.
  ``X-Amz-Signature`` is left out (it cannot sign itself).
* Canonical headers: lower-case names, values trimmed with inner whitespace runs collapsed to one
  space, repeated headers joined with ``,``, only the headers listed in SignedHeaders, sorted.
  ``host`` must be signed; so must ``x-amz-date`` (or ``date``) when it provides the request time,
  and ``x-amz-security-token`` whenever it is sent.  AWS's documentation leaves the last one to each
  service ("some services require that you include this parameter in the canonical request"); the
  SDKs always sign it and we require it, so a token cannot be swapped onto a signed request.
* Payload hash: SHA-256 of the body actually received.  A client-sent ``x-amz-content-sha256`` must
  equal it; ``UNSIGNED-PAYLOAD`` and the ``STREAMING-...`` chunked modes are always refused (every
  Trellis API signs its body).
* Time: ``x-amz-date`` (falling back to ``Date``) in basic ISO 8601 ``YYYYMMDDTHHMMSSZ`` (``Date`` may
  also be RFC 7231).  ``|now - request time| <= max_skew`` for header auth; presigned requests must not
  be from the future (beyond ``max_skew``) and expire ``X-Amz-Expires`` seconds (1..604800) after
  signing.  The credential scope's date must be the request time's UTC day.
* Session tokens: a credential with a ``session_token`` requires an equal ``X-Amz-Security-Token``
  (compared in constant time); a long-term credential must not carry one.  *The lookup owns
  expiry*: for an expired temporary credential it returns ``None`` or raises ``ExpiredTokenError``.
  A lookup that also has ``find_session(access_key_id, token)`` (``SessionCredentialLookup``) is asked
  that whenever a token is sent, so stateless tokens can carry their own credential.
  Other exceptions from the lookup (a database outage) propagate unchanged: they are server faults.
* Signatures are compared with ``hmac.compare_digest``.

Everything wrong with the request raises a ``SignatureError`` subclass (an ``UnauthorizedError``)
whose ``code`` (and ``error_type``) is the AWS error code for the service's protocol family:

================================  ==========================================  ========================
situation                         JSON services (appsync, states, cognito-idp)  query services (sts)
================================  ==========================================  ========================
no authentication at all          MissingAuthenticationTokenException         MissingAuthenticationToken
malformed / unsupported algorithm IncompleteSignatureException                IncompleteSignature
signature, scope, body mismatch   InvalidSignatureException                   SignatureDoesNotMatch
clock skew / presigned expired    InvalidSignatureException                   SignatureDoesNotMatch
unknown access key, bad token     UnrecognizedClientException                 InvalidClientTokenId
expired temporary credential      ExpiredTokenException                       ExpiredToken
================================  ==========================================  ========================

(AWS's JSON services report skew as ``InvalidSignatureException: Signature expired: ...``; S3's
``RequestTimeTooSkewed`` is S3-only.)  A mismatch error's ``detail`` holds the canonical request and
string to sign the server computed, for server logs; it is never part of the client-visible message.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from app.errors import UnauthorizedError

ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4A_ALGORITHM = "AWS4-ECDSA-P256-SHA256"
SCOPE_TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

# Services speaking AWS's query protocol name their auth errors without the "Exception" suffix.
QUERY_PROTOCOL_SERVICES = frozenset({"sts", "iam", "ec2", "sqs", "sns", "rds", "elasticloadbalancing"})

_AMZ_DATE_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_SCOPE_DATE_RE = re.compile(r"[0-9]{8}")
_ACCESS_KEY_RE = re.compile(r"[\x21-\x7e]{1,128}")
_SCOPE_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_DIGITS_RE = re.compile(r"[0-9]{1,7}")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
)


# --------------------------------------------------------------------------------------------- errors


class SignatureError(UnauthorizedError):
    """A request's SigV4 authentication failed; ``code`` is AWS's error code for it."""

    json_code: ClassVar[str] = "IncompleteSignatureException"
    query_code: ClassVar[str] = "IncompleteSignature"

    def __init__(self, message: str, code: str | None = None, *, detail: str | None = None) -> None:
        code = code or self.json_code
        super().__init__(message, error_type=code)
        self.code = code
        self.detail = detail

    @classmethod
    def for_service(cls, message: str, service: str | None, *, detail: str | None = None) -> SignatureError:
        code = cls.query_code if service in QUERY_PROTOCOL_SERVICES else cls.json_code
        return cls(message, code, detail=detail)


class MissingAuthenticationError(SignatureError):
    json_code = "MissingAuthenticationTokenException"
    query_code = "MissingAuthenticationToken"


class IncompleteSignatureError(SignatureError):
    """Malformed or incomplete authentication information, or an unsupported algorithm."""

    json_code = "IncompleteSignatureException"
    query_code = "IncompleteSignature"


class SignatureMismatchError(SignatureError):
    """The signature (or scope, or payload hash) does not match what the server computed."""

    json_code = "InvalidSignatureException"
    query_code = "SignatureDoesNotMatch"


class SignatureExpiredError(SignatureError):
    """Request time outside the allowed skew, or a presigned URL past its X-Amz-Expires."""

    json_code = "InvalidSignatureException"
    query_code = "SignatureDoesNotMatch"


class UnrecognizedClientError(SignatureError):
    """Unknown access key id, or a session token that does not belong to the credential."""

    json_code = "UnrecognizedClientException"
    query_code = "InvalidClientTokenId"


class ExpiredTokenError(SignatureError):
    """A temporary credential has expired; a ``CredentialLookup`` may raise this."""

    json_code = "ExpiredTokenException"
    query_code = "ExpiredToken"


_INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 - a message
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


# ------------------------------------------------------------------------------------------ data types


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive request headers; repeated names read as one ``,``-joined value."""

    __slots__ = ("_index", "_pairs")

    def __init__(self, source: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]) -> None:
        items: Iterable[tuple[str | bytes, str | bytes]]
        items = source.items() if isinstance(source, Mapping) else source
        pairs: list[tuple[str, str]] = []
        index: dict[str, list[str]] = {}
        for raw_name, raw_value in items:
            name = _text(raw_name).lower()
            value = _text(raw_value)
            pairs.append((name, value))
            index.setdefault(name, []).append(value)
        self._pairs = tuple(pairs)
        self._index = {name: tuple(values) for name, values in index.items()}

    def __getitem__(self, name: str) -> str:
        return ",".join(self._index[name.lower()])

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def get_all(self, name: str) -> tuple[str, ...]:
        return self._index.get(name.lower(), ())

    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    def __repr__(self) -> str:
        return f"Headers({list(self._pairs)!r})"


def _text(value: str | bytes) -> str:
    # Header bytes are ISO-8859-1 on the wire (RFC 9110); this round-trips every byte.
    return value.decode("latin-1") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class SignedRequest:
    """A request as received: raw path and query (still percent-encoded), headers, body bytes."""

    method: str
    path: str
    query_string: str
    headers: Headers = field(repr=False)
    body: bytes = field(default=b"", repr=False)

    def __init__(
        self,
        method: str,
        path: str | bytes,
        query_string: str | bytes,
        headers: Headers | Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
        body: bytes = b"",
    ) -> None:
        # Raw path/query bytes (Starlette's ``raw_path``, ``query_string``) decode losslessly.
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "path", _raw_text(path))
        object.__setattr__(self, "query_string", _raw_text(query_string))
        object.__setattr__(self, "headers", headers if isinstance(headers, Headers) else Headers(headers))
        object.__setattr__(self, "body", bytes(body))


def _to_bytes(value: str) -> bytes:
    """UTF-8, giving back the raw bytes ``_raw_text`` smuggled in; never raises on lone surrogates."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _raw_text(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    principal: Any = None


class CredentialLookup(Protocol):
    async def find(self, access_key_id: str) -> Credential | None:
        """The credential for this key id, or ``None`` if unknown (or expired, for temporary ones).

        May raise ``ExpiredTokenError`` for an expired temporary credential instead of returning None.
        """
        ...


class SessionCredentialLookup(CredentialLookup, Protocol):
    """A lookup for self-contained session tokens: ``verify`` calls ``find_session`` when a token is sent."""

    async def find_session(self, access_key_id: str, session_token: str) -> Credential | None:
        """The temporary credential the token describes, if it belongs to ``access_key_id``; ``None`` if not.

        Raises ``ExpiredTokenError`` when the token is genuine but expired.
        """
        ...


@dataclass(frozen=True)
class VerifiedSignature:
    credential: Credential
    region: str
    service: str
    signed_headers: tuple[str, ...]
    request_time: datetime


# ------------------------------------------------------------------------------------ canonical request


def aws_uri_encode(value: str | bytes, *, keep_slash: bool = False) -> str:
    """AWS's UriEncode: bytes outside ``A-Za-z0-9-_.~`` become ``%XX`` (upper-case hex)."""
    data = _to_bytes(value) if isinstance(value, str) else value
    out: list[str] = []
    for byte in data:
        if byte in _UNRESERVED or (keep_slash and byte == 0x2F):
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def _percent_decode(value: str, *, plus_is_space: bool = True) -> bytes:
    """Decode ``%XX`` escapes (a ``%`` not followed by two hex digits stays literal) and ``+`` as space."""
    data = _to_bytes(value)
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x25 and i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        elif byte == 0x2B and plus_is_space:
            out.append(0x20)
            i += 1
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def canonical_uri(raw_path: str) -> str:
    """Non-S3 canonical URI: remove dot segments, collapse ``//``, then URI-encode (keeping ``/``)."""
    if not raw_path:
        return "/"
    kept: list[str] = []
    for segment in raw_path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    normalised = ("/" if raw_path.startswith("/") else "") + "/".join(kept)
    if kept and raw_path.endswith("/"):
        normalised += "/"
    return aws_uri_encode(normalised or "/", keep_slash=True)


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Raw ``name=value`` pairs in order (not decoded); a pair without ``=`` has an empty value."""
    if not raw_query:
        return []
    pairs = []
    for piece in raw_query.split("&"):
        name, _, value = piece.partition("=")
        pairs.append((name, value))
    return pairs


def canonical_query_string(raw_query: str, *, exclude: Iterable[str] = ("X-Amz-Signature",)) -> str:
    excluded = set(exclude)
    encoded = []
    for name, value in _query_pairs(raw_query):
        decoded_name = _percent_decode(name)
        if decoded_name.decode("utf-8", "surrogateescape") in excluded:
            continue
        encoded.append((aws_uri_encode(decoded_name), aws_uri_encode(_percent_decode(value))))
    encoded.sort()
    return "&".join(f"{name}={value}" for name, value in encoded)


def _canonical_header_value(values: Iterable[str]) -> str:
    return ",".join(" ".join(value.split()) for value in values)


def canonical_request(request: SignedRequest, signed_headers: Iterable[str], payload_hash: str) -> str:
    """The canonical request the server computes (``X-Amz-Signature`` left out of the query)."""
    names = list(signed_headers)
    header_lines = "".join(f"{name}:{_canonical_header_value(request.headers.get_all(name))}\n" for name in names)
    return "\n".join(
        [
            request.method,
            canonical_uri(request.path),
            canonical_query_string(request.query_string),
            header_lines,
            ";".join(names),
            payload_hash,
        ]
    )


def string_to_sign(request_time: datetime, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(_to_bytes(canonical)).hexdigest()
    return "\n".join([ALGORITHM, _amz_date(request_time), scope, digest])


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = _to_bytes("AWS4" + secret_access_key)
    for part in (date, region, service, SCOPE_TERMINATOR):
        key = hmac.new(key, _to_bytes(part), hashlib.sha256).digest()
    return key


def _amz_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# ------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Parsed:
    presigned: bool
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    expires: int | None


def _parse_credential(value: str, fail: _Fail) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise fail(
            IncompleteSignatureError,
            f"Credential should be of the form <access key>/<date>/<region>/<service>/{SCOPE_TERMINATOR}.",
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != SCOPE_TERMINATOR:
        raise fail(
            IncompleteSignatureError, f"Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}'."
        )
    if not _SCOPE_DATE_RE.fullmatch(date) or _valid_day(date) is None:
        raise fail(IncompleteSignatureError, f"Credential scope date '{date}' is not a valid YYYYMMDD date.")
    if not _ACCESS_KEY_RE.fullmatch(access_key_id):
        raise fail(IncompleteSignatureError, "Credential access key id is malformed.")
    if not _SCOPE_NAME_RE.fullmatch(region) or not _SCOPE_NAME_RE.fullmatch(service):
        raise fail(
            IncompleteSignatureError, "Credential region and service must be names like 'us-east-1' and 'appsync'."
        )
    return access_key_id, date, region, service


def _valid_day(date: str) -> datetime | None:
    try:
        return datetime(int(date[:4]), int(date[4:6]), int(date[6:8]), tzinfo=UTC)
    except ValueError:
        return None


def _parse_signed_headers(value: str, fail: _Fail) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not value or not all(_HEADER_NAME_RE.fullmatch(name) for name in names):
        raise fail(IncompleteSignatureError, "SignedHeaders must be a ';'-separated list of lower-case header names.")
    if list(names) != sorted(set(names)):
        raise fail(IncompleteSignatureError, "SignedHeaders must be sorted and must not repeat a header.")
    return names


def _check_algorithm(algorithm: str, fail: _Fail) -> None:
    if algorithm == ALGORITHM:
        return
    if algorithm == SIGV4A_ALGORITHM:
        raise fail(
            IncompleteSignatureError,
            f"Signature Version 4A ({SIGV4A_ALGORITHM}) is not supported; sign with {ALGORITHM}.",
        )
    shown = algorithm[:40]
    if not shown.isprintable():
        shown = shown.encode("unicode_escape").decode("ascii")
    raise fail(IncompleteSignatureError, f"Unsupported AWS 'algorithm': '{shown}'; only {ALGORITHM} is accepted.")


def _parse_authorization(value: str, fail: _Fail) -> _Parsed:
    words = value.strip().split(None, 1)
    algorithm = words[0] if words else ""
    rest = words[1] if len(words) > 1 else ""
    _check_algorithm(algorithm, fail)
    fields: dict[str, str] = {}
    for item in rest.split(","):
        item = item.strip()
        key, eq, field_value = item.partition("=")
        key = key.strip()
        if not eq or key not in ("Credential", "SignedHeaders", "Signature"):
            raise fail(
                IncompleteSignatureError,
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' as key=value pairs.",
            )
        if key in fields:
            raise fail(IncompleteSignatureError, f"Authorization header repeats '{key}'.")
        fields[key] = field_value.strip()
    missing = [key for key in ("Credential", "SignedHeaders", "Signature") if key not in fields]
    if missing:
        raise fail(IncompleteSignatureError, f"Authorization header requires parameter(s): {', '.join(missing)}.")
    access_key_id, date, region, service = _parse_credential(fields["Credential"], fail)
    fail.service = service
    signed = _parse_signed_headers(fields["SignedHeaders"], fail)
    signature = fields["Signature"]
    if not _SIGNATURE_RE.fullmatch(signature):
        raise fail(IncompleteSignatureError, "Signature must be 64 lower-case hexadecimal characters.")
    return _Parsed(False, access_key_id, date, region, service, signed, signature, None)


def _presign_params(request: SignedRequest, fail: _Fail) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in _query_pairs(request.query_string):
        name = _decode_text(raw_name, fail)
        if name in _PRESIGN_PARAMS:
            if name in found:
                raise fail(IncompleteSignatureError, f"Query parameter '{name}' is repeated.")
            found[name] = _decode_text(raw_value, fail)
    return found


def _decode_text(raw: str, fail: _Fail) -> str:
    try:
        return _percent_decode(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise fail(IncompleteSignatureError, "Query string is not valid percent-encoded UTF-8.") from None


def _parse_presigned(params: Mapping[str, str], fail: _Fail) -> _Parsed:
    missing = [
        name
        for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
        if name not in params
    ]
    if missing:
        raise fail(IncompleteSignatureError, f"Presigned request is missing query parameter(s): {', '.join(missing)}.")
    _check_algorithm(params["X-Amz-Algorithm"], fail)
    access_key_id, date, region, service = _parse_credential(params["X-Amz-Credential"], fail)
    fail.service = service
    signed = _parse_signed_headers(params["X-Amz-SignedHeaders"], fail)
    signature = params["X-Amz-Signature"]
    if not _SIGNATURE_RE.fullmatch(signature):
        raise fail(IncompleteSignatureError, "X-Amz-Signature must be 64 lower-case hexadecimal characters.")
    expires_text = params.get("X-Amz-Expires")
    if expires_text is None:
        raise fail(IncompleteSignatureError, "Presigned request is missing query parameter(s): X-Amz-Expires.")
    if not _DIGITS_RE.fullmatch(expires_text) or not 1 <= int(expires_text) <= MAX_PRESIGN_SECONDS:
        raise fail(
            IncompleteSignatureError,
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_SECONDS}.",
        )
    return _Parsed(True, access_key_id, date, region, service, signed, signature, int(expires_text))


def _parse_amz_date(value: str) -> datetime | None:
    match = _AMZ_DATE_RE.fullmatch(value)
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def _parse_http_date(value: str) -> datetime | None:
    parsed = _parse_amz_date(value)
    if parsed is not None:
        return parsed
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


class _Fail:
    """Builds errors with the code family of the service being addressed (known once parsed)."""

    def __init__(self, expected_service: str | set[str]) -> None:
        self.service: str | None = expected_service if isinstance(expected_service, str) else None
        self.expected = {expected_service} if isinstance(expected_service, str) else set(expected_service)

    def family_service(self) -> str | None:
        if self.service in self.expected:
            return self.service
        if len(self.expected) == 1:
            return next(iter(self.expected))
        return None

    def __call__(self, kind: type[SignatureError], message: str, *, detail: str | None = None) -> SignatureError:
        return kind.for_service(message, self.family_service(), detail=detail)


def _single_header(request: SignedRequest, name: str, fail: _Fail) -> str | None:
    values = request.headers.get_all(name)
    if len(values) > 1:
        raise fail(IncompleteSignatureError, f"The '{name}' header must not be repeated.")
    return values[0] if values else None


# -------------------------------------------------------------------------------------------- verify


async def verify(
    request: SignedRequest,
    lookup: CredentialLookup,
    *,
    now: datetime,
    expected_service: str | set[str],
    allowed_regions: set[str] | None = None,
    max_skew: timedelta = timedelta(minutes=5),
) -> VerifiedSignature:
    """Verify ``request``'s SigV4 signature; raise a ``SignatureError`` subclass if it is not valid.

    ``now`` must be timezone-aware.  See the module docstring for every rule applied.
    """
    if now.tzinfo is None:
        raise ValueError("verify() needs a timezone-aware 'now'")
    fail = _Fail(expected_service)

    # 1. Which form, and parse it.
    authorization = _single_header(request, "authorization", fail)
    presign = _presign_params(request, fail)
    presign_auth = any(name in presign for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"))
    if authorization is not None and presign_auth:
        raise fail(
            IncompleteSignatureError,
            "Only one authentication mechanism is allowed: the Authorization header or query parameters.",
        )
    if authorization is not None:
        parsed = _parse_authorization(authorization, fail)
    elif presign_auth:
        parsed = _parse_presigned(presign, fail)
    else:
        raise fail(MissingAuthenticationError, "Missing Authentication Token")

    # 2. Scope: service and region.
    if parsed.service not in fail.expected:
        wanted = " or ".join(f"'{name}'" for name in sorted(fail.expected))
        raise fail(SignatureMismatchError, f"Credential should be scoped to correct service: {wanted}.")
    if allowed_regions is not None and parsed.region not in allowed_regions:
        raise fail(SignatureMismatchError, "Credential should be scoped to a valid region.")

    # 3. Signed headers that must be there, and that every signed header was sent.
    signed = parsed.signed_headers
    if "host" not in signed:
        raise fail(IncompleteSignatureError, "The 'host' header must be signed.")
    for name in signed:
        if name not in request.headers:
            raise fail(IncompleteSignatureError, f"Signed header '{name}' is missing from the request.")
    if "x-amz-security-token" in request.headers and "x-amz-security-token" not in signed:
        raise fail(IncompleteSignatureError, "The 'x-amz-security-token' header must be signed.")

    # 4. Request time.
    if parsed.presigned:
        request_time = _parse_amz_date(presign["X-Amz-Date"])
        if request_time is None:
            raise fail(IncompleteSignatureError, "X-Amz-Date must be in the format YYYYMMDD'T'HHMMSS'Z'.")
    else:
        amz_date = _single_header(request, "x-amz-date", fail)
        if amz_date is not None:
            if "x-amz-date" not in signed:
                raise fail(IncompleteSignatureError, "The 'x-amz-date' header must be signed.")
            request_time = _parse_amz_date(amz_date.strip())
            if request_time is None:
                raise fail(IncompleteSignatureError, "X-Amz-Date must be in the format YYYYMMDD'T'HHMMSS'Z'.")
        else:
            date = _single_header(request, "date", fail)
            if date is None:
                raise fail(IncompleteSignatureError, "Authorization requires an 'x-amz-date' or 'date' header.")
            if "date" not in signed:
                raise fail(IncompleteSignatureError, "The 'date' header must be signed.")
            request_time = _parse_http_date(date.strip())
            if request_time is None:
                raise fail(IncompleteSignatureError, "The 'date' header is not a valid date.")
    if parsed.scope_date != request_time.strftime("%Y%m%d"):
        raise fail(
            SignatureMismatchError,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{parsed.scope_date}' != '{request_time:%Y%m%d}', from '{_amz_date(request_time)}'.",
        )
    now_utc = now.astimezone(UTC)
    minutes = f"{max_skew.total_seconds() / 60:g} min."
    if request_time - now_utc > max_skew:
        raise fail(
            SignatureExpiredError,
            f"Signature not yet current: {_amz_date(request_time)} is still later than "
            f"{_amz_date(now_utc + max_skew)} ({_amz_date(now_utc)} + {minutes})",
        )
    if parsed.presigned:
        assert parsed.expires is not None
        if now_utc - request_time > timedelta(seconds=parsed.expires):
            raise fail(SignatureExpiredError, "Request has expired.")
    elif now_utc - request_time > max_skew:
        raise fail(
            SignatureExpiredError,
            f"Signature expired: {_amz_date(request_time)} is now earlier than "
            f"{_amz_date(now_utc - max_skew)} ({_amz_date(now_utc)} - {minutes})",
        )

    # 5. Payload hash: always the body actually received.
    body_hash = hashlib.sha256(request.body).hexdigest()
    payload_hash = body_hash
    claimed = _single_header(request, "x-amz-content-sha256", fail)
    if claimed is not None:
        claimed = claimed.strip()
        if claimed == UNSIGNED_PAYLOAD or claimed.startswith("STREAMING-"):
            raise fail(
                IncompleteSignatureError,
                f"x-amz-content-sha256 '{claimed[:60]}' is not accepted; sign the payload.",
            )
        if not _SHA256_RE.fullmatch(claimed) or not hmac.compare_digest(claimed.lower(), body_hash):
            raise fail(
                SignatureMismatchError, "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        payload_hash = claimed

    # 6. Session token as sent (query for presigned; header otherwise, or both if equal).
    header_token = _single_header(request, "x-amz-security-token", fail)
    query_token = presign.get("X-Amz-Security-Token")
    if header_token is not None and query_token is not None and header_token != query_token:
        raise fail(IncompleteSignatureError, "X-Amz-Security-Token is given twice with different values.")
    token = query_token if query_token is not None else header_token

    # 7. The credential (a lookup with ``find_session`` resolves temporary keys from their token).
    try:
        find_session = getattr(lookup, "find_session", None)
        if token is not None and find_session is not None:
            credential = await find_session(parsed.access_key_id, token)
        else:
            credential = await lookup.find(parsed.access_key_id)
    except SignatureError as exc:
        raise fail(type(exc), exc.message, detail=exc.detail) from None
    if credential is None:
        raise fail(UnrecognizedClientError, _INVALID_TOKEN)
    if credential.session_token is not None:
        if token is None or not hmac.compare_digest(_to_bytes(token), _to_bytes(credential.session_token)):
            raise fail(UnrecognizedClientError, _INVALID_TOKEN)
    elif token is not None:
        raise fail(UnrecognizedClientError, _INVALID_TOKEN)

    # 8. The signature.
    scope = f"{parsed.scope_date}/{parsed.region}/{parsed.service}/{SCOPE_TERMINATOR}"
    creq = canonical_request(request, signed, payload_hash)
    sts = string_to_sign(request_time, scope, creq)
    key = signing_key(credential.secret_access_key, parsed.scope_date, parsed.region, parsed.service)
    expected = hmac.new(key, _to_bytes(sts), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), parsed.signature.encode("ascii")):
        detail = f"The canonical request:\n{creq}\n\nThe string to sign:\n{sts}"
        raise fail(SignatureMismatchError, _MISMATCH, detail=detail)
    return VerifiedSignature(credential, parsed.region, parsed.service, signed, request_time)
