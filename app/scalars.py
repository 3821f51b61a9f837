"""AWS AppSync's service-defined scalars as graphql-core scalar types.

AppSync schemas may use nine ``AWS*`` scalars without declaring them. Trellis prepends
``APPSYNC_SCALAR_SDL`` to the user's schema so it parses, then ``bind_scalars`` swaps the placeholder
behaviour graphql-core gives SDL-declared scalars (pass everything through) for AppSync's rules.

Formats follow https://docs.aws.amazon.com/appsync/latest/devguide/scalars.html. Where the docs are
vague the choice made here is noted next to the rule. Values stay in the form the client sent them:
the string scalars stay strings, AWSTimestamp is an int, and only AWSJSON is decoded (to the JSON
value), because resolvers and the data layer store what AppSync would have handed them.
"""

from __future__ import annotations

import calendar
import ipaddress
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, NoReturn

from graphql import (
    ConstValueNode,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    IntValueNode,
    StringValueNode,
    ValueNode,
    print_ast,
)

__all__ = ["APPSYNC_SCALARS", "APPSYNC_SCALAR_SDL", "bind_scalars"]

_DOC_URL = "https://docs.aws.amazon.com/appsync/latest/devguide/scalars.html"

# Error messages echo the offending value; cap it so a megabyte of junk doesn't come back verbatim.
_MAX_SHOWN = 80

# re.ASCII keeps \d to 0-9: Python's default \d also matches Arabic-Indic and other Unicode digits.
# Offsets may carry seconds (±hh:mm:ss): AppSync accepts that although ISO 8601 does not.
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?)"
# AppSync documents "negative years" (-YYYY) for years before 0000, so the sign is allowed.
_DATE = r"(-?\d{4})-(\d{2})-(\d{2})"
# Seconds are optional; the fraction (1-9 digits, i.e. up to nanoseconds) needs seconds first.
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?"

_DATE_RE = re.compile(_DATE + _OFFSET + "?", re.ASCII)
_TIME_RE = re.compile(_TIME + _OFFSET + "?", re.ASCII)
# Unlike AWSDate and AWSTime, AWSDateTime *requires* the offset.
_DATETIME_RE = re.compile(_DATE + "T" + _TIME + _OFFSET, re.ASCII)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February's leap day is added in code

# One @, a non-empty local part, and a domain of at least two non-empty dot-separated labels.
# Full RFC 822 (quoted local parts, comments) is not worth the hot-path cost; real addresses fit this.
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")

# RFC 3986 shape: scheme ":" ["//" authority] path ["?" query] ["#" fragment].
_URL_RE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*:(?P<rest>(?P<slashes>//(?P<authority>[^/?#]*))?(?P<path>[^?#]*).*)"
)
_URL_FORBIDDEN_RE = re.compile(r"[\s\x00-\x1f\x7f]")

# Digits with an optional leading +, grouped by spaces, hyphens or parentheses; letters are refused.
_PHONE_RE = re.compile(r"\+?[0-9(][0-9 ()-]*", re.ASCII)
_PHONE_MAX_DIGITS = 15  # E.164's limit, country code included

_INTEGER_RE = re.compile(r"-?\d+", re.ASCII)
# AppSync timestamps are Java longs; bound them the same way instead of accepting unbounded ints.
_TIMESTAMP_MIN = -(2**63)
_TIMESTAMP_MAX = 2**63 - 1

_CIDR_SUFFIX_RE = re.compile(r"/\d{1,3}", re.ASCII)


def _raise(name: str, shown: str, expected: str, node: ValueNode | None) -> NoReturn:
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    # With the literal's node attached the client gets a line/column for the bad argument.
    raise GraphQLError(f"Invalid {name} value: {shown} (expected {expected})", node)


def _fail(name: str, value: Any, expected: str, node: ValueNode | None = None) -> NoReturn:
    _raise(name, repr(value), expected, node)


def _fail_literal(name: str, node: ValueNode, expected: str) -> NoReturn:
    # Show the literal as written in the query (e.g. 12 or {a: 1}), not as a Python repr.
    _raise(name, print_ast(node), expected, node)


def _utc_as_z(text: str) -> str:
    # isoformat() writes UTC as +00:00; AppSync (and $util.time) write Z.
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- format checks -----------------------------------------------------------------------------------


def _is_real_date(year: str, month: str, day: str) -> bool:
    # datetime.date can't hold year 0 or negative years, so check the proleptic Gregorian calendar by hand.
    m, d = int(month), int(day)
    if not 1 <= m <= 12:
        return False
    days = 29 if m == 2 and calendar.isleap(int(year)) else _DAYS_IN_MONTH[m - 1]
    return 1 <= d <= days


def _is_date(text: str) -> bool:
    match = _DATE_RE.fullmatch(text)
    return match is not None and _is_real_date(*match.group(1, 2, 3))


def _is_time(text: str) -> bool:
    return _TIME_RE.fullmatch(text) is not None


def _is_datetime(text: str) -> bool:
    match = _DATETIME_RE.fullmatch(text)
    return match is not None and _is_real_date(*match.group(1, 2, 3))


def _is_email(text: str) -> bool:
    return _EMAIL_RE.fullmatch(text) is not None


def _is_url(text: str) -> bool:
    match = _URL_RE.fullmatch(text)
    if match is None or not match["rest"] or _URL_FORBIDDEN_RE.search(text):
        return False
    # "http://" alone (or "file:///x") has no host; a hierarchical URL must name one.
    if match["slashes"] and not match["authority"]:
        return False
    # AppSync refuses a double slash in the path; it's fine in the query or fragment (?next=https://...).
    return "//" not in match["path"]


def _is_phone(text: str) -> bool:
    if _PHONE_RE.fullmatch(text) is None or text[-1] in " -":
        return False
    digits = sum(ch.isdigit() for ch in text)
    return 1 <= digits <= _PHONE_MAX_DIGITS


def _is_ip(text: str) -> bool:
    address, slash, prefix = text.partition("/")
    try:
        if not slash:
            ipaddress.ip_address(address)
            return True
        # Only a numeric CIDR suffix: ipaddress would also take "/255.0.0.0" netmasks, AppSync doesn't.
        if _CIDR_SUFFIX_RE.fullmatch(slash + prefix) is None:
            return False
        # strict=False: a host address with a prefix (10.1.2.3/16) names an interface and is fine.
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


# --- conversions of data-layer Python values to the wire string ---------------------------------------


def _date_to_text(value: Any) -> str | None:
    if isinstance(value, datetime):
        # A timestamp column exposed as AWSDate: the calendar date is the meaningful part.
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def _time_to_text(value: Any) -> str | None:
    if isinstance(value, datetime):
        value = value.timetz()
    if isinstance(value, time):
        return _utc_as_z(value.isoformat())
    return None


def _datetime_to_text(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None  # a bare date has no time of day to invent
    if value.tzinfo is None:
        # AWSDateTime needs an offset; naive values from the data layer (SQLite, most ORMs) are UTC.
        value = value.replace(tzinfo=UTC)
    return _utc_as_z(value.isoformat())


def _ip_to_text(value: Any) -> str | None:
    if isinstance(
        value,
        ipaddress.IPv4Address
        | ipaddress.IPv6Address
        | ipaddress.IPv4Network
        | ipaddress.IPv6Network
        | ipaddress.IPv4Interface
        | ipaddress.IPv6Interface,
    ):
        return str(value)
    return None


def _no_conversion(value: Any) -> str | None:
    return None


# --- scalar construction ------------------------------------------------------------------------------

_LiteralCoercer = Callable[..., Any]


def _build(
    name: str,
    description: str,
    serialize: Callable[[Any], Any],
    parse_value: Callable[[Any], Any],
    parse_literal: _LiteralCoercer,
    to_literal: Callable[[Any], ConstValueNode],
) -> GraphQLScalarType:
    scalar = GraphQLScalarType(
        name,
        description=description,
        specified_by_url=_DOC_URL,
        coerce_output_value=serialize,
        coerce_input_value=parse_value,
        coerce_input_literal=parse_literal,
        value_to_literal=to_literal,
    )
    # graphql-core 3.3 aliases serialize/parse_value to the coercers above, but the legacy parse_literal
    # (still used by value_from_ast) would fall back to a generic literal decoder; give it our rule too.
    scalar.parse_literal = parse_literal  # type: ignore[method-assign]
    return scalar


def _string_scalar(
    name: str,
    description: str,
    expected: str,
    is_valid: Callable[[str], bool],
    to_text: Callable[[Any], str | None] = _no_conversion,
) -> GraphQLScalarType:
    """A scalar whose wire form and stored form are the same validated string."""

    def serialize(value: Any) -> str:
        text = value if isinstance(value, str) else to_text(value)
        if text is None or not is_valid(text):
            _fail(name, value, expected)
        return text

    def parse_value(value: Any) -> str:
        if not isinstance(value, str) or not is_valid(value):
            _fail(name, value, expected)
        return value

    def parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> str:
        if not isinstance(node, StringValueNode):
            _fail_literal(name, node, f"a string: {expected}")
        if not is_valid(node.value):
            _fail(name, node.value, expected, node)
        return node.value

    def to_literal(value: Any) -> ConstValueNode:
        return StringValueNode(value=serialize(value))

    return _build(name, description, serialize, parse_value, parse_literal, to_literal)


# --- AWSTimestamp -------------------------------------------------------------------------------------

_TIMESTAMP = "AWSTimestamp"
_TIMESTAMP_EXPECTED = "an integer number of seconds since 1970-01-01T00:00Z"


def _checked_timestamp(seconds: int, original: Any, node: ValueNode | None = None) -> int:
    if not _TIMESTAMP_MIN <= seconds <= _TIMESTAMP_MAX:
        _fail(_TIMESTAMP, original, _TIMESTAMP_EXPECTED, node)
    return seconds


def _timestamp_parse_value(value: Any) -> int:
    # bool is an int subclass, but true/false is never a timestamp.
    if isinstance(value, int) and not isinstance(value, bool):
        return _checked_timestamp(value, value)
    # JSON decoders may hand over 1.7e9 as a float; accept it only if it's a whole number.
    if isinstance(value, float) and value.is_integer():
        return _checked_timestamp(int(value), value)
    _fail(_TIMESTAMP, value, _TIMESTAMP_EXPECTED)


def _timestamp_serialize(value: Any) -> int:
    # Output is more forgiving than input: the data layer may keep timestamps as datetimes or digit strings.
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _checked_timestamp(math.floor(aware.timestamp()), value)
    if isinstance(value, str) and _INTEGER_RE.fullmatch(value):
        return _checked_timestamp(int(value), value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return _checked_timestamp(int(value), value)
    return _timestamp_parse_value(value)


def _timestamp_parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> int:
    # Only an Int literal: AppSync rejects "123" and 123.0 in a query.
    if not isinstance(node, IntValueNode):
        _fail_literal(_TIMESTAMP, node, f"an Int literal: {_TIMESTAMP_EXPECTED}")
    seconds = int(node.value)
    return _checked_timestamp(seconds, seconds, node)


def _timestamp_to_literal(value: Any) -> ConstValueNode:
    return IntValueNode(value=str(_timestamp_serialize(value)))


# --- AWSJSON ------------------------------------------------------------------------------------------

_JSON = "AWSJSON"
_JSON_EXPECTED = "a string containing valid JSON"


def _reject_constant(token: str) -> NoReturn:
    # json.loads accepts NaN/Infinity by default; RFC 8259 JSON does not.
    raise ValueError(f"{token} is not valid JSON")


def _json_default(value: Any) -> Any:
    # Numeric columns often come back as Decimal; JSON has only one number type.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _loads(text: str, node: ValueNode | None = None) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        _fail(_JSON, text, _JSON_EXPECTED, node)


def _json_parse_value(value: Any) -> Any:
    # Variables carry AWSJSON as a JSON *string*, like the literal; a raw object is refused as in AppSync.
    if not isinstance(value, str):
        _fail(_JSON, value, _JSON_EXPECTED)
    return _loads(value)


def _json_serialize(value: Any) -> str:
    if isinstance(value, str):
        # Stored AWSJSON is often the original string; pass it through if it is JSON already,
        # otherwise it is a plain string value that still has to be encoded as a JSON string.
        try:
            json.loads(value, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            return json.dumps(value, ensure_ascii=False)
        return value
    try:
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
        )
    except (TypeError, ValueError, RecursionError):
        _fail(_JSON, value, "a JSON-serializable value")


def _json_parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Any:
    # AppSync wants the JSON quoted ("{\"a\": 1}"); an object literal {a: 1} is a validation error.
    if not isinstance(node, StringValueNode):
        _fail_literal(_JSON, node, _JSON_EXPECTED)
    return _loads(node.value, node)


def _json_to_literal(value: Any) -> ConstValueNode:
    return StringValueNode(value=_json_serialize(value))


# --- the nine scalars ---------------------------------------------------------------------------------

_SCALAR_LIST: tuple[GraphQLScalarType, ...] = (
    _string_scalar(
        "AWSDate",
        "An extended ISO 8601 date, YYYY-MM-DD, optionally with a time zone offset (Z or ±hh:mm[:ss]).",
        "YYYY-MM-DD with optional timezone offset",
        _is_date,
        _date_to_text,
    ),
    _string_scalar(
        "AWSTime",
        "An extended ISO 8601 time, hh:mm[:ss[.sss]], optionally with a time zone offset.",
        "hh:mm, hh:mm:ss or hh:mm:ss.sss with optional timezone offset",
        _is_time,
        _time_to_text,
    ),
    _string_scalar(
        "AWSDateTime",
        "An extended ISO 8601 date and time, YYYY-MM-DDThh:mm[:ss[.sss]] with a required time zone offset.",
        "YYYY-MM-DDThh:mm[:ss[.sss]] with timezone offset Z or ±hh:mm[:ss]",
        _is_datetime,
        _datetime_to_text,
    ),
    _build(
        _TIMESTAMP,
        "An integer number of seconds before or after 1970-01-01T00:00Z.",
        _timestamp_serialize,
        _timestamp_parse_value,
        _timestamp_parse_literal,
        _timestamp_to_literal,
    ),
    _string_scalar(
        "AWSEmail",
        "An email address, local-part@domain.",
        "an email address like name@example.com",
        _is_email,
    ),
    _build(
        _JSON,
        "A JSON value, sent and returned as a string containing JSON.",
        _json_serialize,
        _json_parse_value,
        _json_parse_literal,
        _json_to_literal,
    ),
    _string_scalar(
        "AWSURL",
        "A URL with a scheme, such as https://example.com/path or mailto:name@example.com.",
        "a URL with a scheme, like https://example.com/path, without spaces or // in the path",
        _is_url,
    ),
    _string_scalar(
        "AWSPhone",
        "A phone number: digits with an optional leading + country code, grouped by spaces or hyphens.",
        "a phone number of digits with optional leading +, spaces, hyphens or parentheses",
        _is_phone,
    ),
    _string_scalar(
        "AWSIPAddress",
        "An IPv4 or IPv6 address, optionally with a CIDR prefix length (10.0.0.0/8).",
        "an IPv4 or IPv6 address with optional /prefix",
        _is_ip,
        _ip_to_text,
    ),
)

APPSYNC_SCALARS: dict[str, GraphQLScalarType] = {scalar.name: scalar for scalar in _SCALAR_LIST}

APPSYNC_SCALAR_SDL: str = "".join(f"scalar {name}\n" for name in APPSYNC_SCALARS)

# Everything that makes a scalar behave like AppSync's: the 3.3 coercers, the legacy names other code
# may still call, and the introspection metadata.
_BEHAVIOUR_ATTRS = (
    "coerce_output_value",
    "coerce_input_value",
    "coerce_input_literal",
    "value_to_literal",
    "serialize",
    "parse_value",
    "parse_literal",
    "description",
    "specified_by_url",
)


def bind_scalars(schema: GraphQLSchema) -> None:
    """Give the AWS* scalars declared in ``schema`` AppSync's behaviour, in place.

    ``build_ast_schema`` turns ``scalar AWSDate`` into a pass-through placeholder. The executor and
    validator reach types through ``schema.type_map`` (and the fields that reference those same
    objects), so mutating the placeholders is enough; no schema rebuild is needed. Names the schema
    doesn't declare are skipped.
    """
    for name, source in APPSYNC_SCALARS.items():
        target = schema.type_map.get(name)
        # Only scalars: a same-named object type is a schema error that validation reports elsewhere.
        if target is None or target is source or not isinstance(target, GraphQLScalarType):
            continue
        for attr in _BEHAVIOUR_ATTRS:
            setattr(target, attr, getattr(source, attr))
