"""AppSync scalars: format rules per scalar, then behaviour inside a real schema after bind_scalars."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from graphql import (
    BooleanValueNode,
    FloatValueNode,
    GraphQLError,
    GraphQLScalarType,
    IntValueNode,
    StringValueNode,
    ValueNode,
    build_schema,
    graphql_sync,
    parse_value,
)

from app.scalars import APPSYNC_SCALAR_SDL, APPSYNC_SCALARS, bind_scalars

NAMES = [
    "AWSDate",
    "AWSTime",
    "AWSDateTime",
    "AWSTimestamp",
    "AWSEmail",
    "AWSJSON",
    "AWSURL",
    "AWSPhone",
    "AWSIPAddress",
]

# Valid and invalid wire strings for every string-valued scalar (AWSTimestamp and AWSJSON have their own).
VALID: dict[str, list[str]] = {
    "AWSDate": [
        "1970-01-01",
        "2024-02-29",
        "2000-02-29",
        "1970-01-01Z",
        "1970-01-01-07:00",
        "1970-01-01+05:30",
        "1970-01-01+05:30:15",
        "-2017-05-01",
        "0000-02-29",
    ],
    "AWSTime": [
        "12:30",
        "12:30Z",
        "12:30:24",
        "12:30:24-07:00",
        "12:30:24.500+05:30",
        "00:00:00.1",
        "23:59:59.123456789",
        "12:30+05:30:15",
    ],
    "AWSDateTime": [
        "1970-01-01T12:00Z",
        "1970-01-01T12:00:10Z",
        "1970-01-01T12:00:10.2Z",
        "1970-01-01T12:00:00.277Z",
        "1970-01-01T12:00:00.123456789Z",
        "2024-02-29T23:59:59-07:00",
        "1970-01-01T00:00+05:30:15",
        "-2017-01-01T00:00Z",
    ],
    "AWSEmail": [
        "username@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.ie",
        "a@b.c",
    ],
    "AWSURL": [
        "https://www.amazon.com/dp/B000NZW3KC/",
        "http://localhost/",
        "http://localhost:8080",
        "mailto:example@example.com",
        "ftp://user:pw@files.example.com/file.txt",
        "https://example.com/login?next=https://example.com/home",
        "https://example.com/page#section//x",
        "urn:isbn:0451450523",
    ],
    "AWSPhone": [
        "+1 555 123 4567",
        "555-123-4567",
        "(555) 123-4567",
        "+44 20 7946 0958",
        "+1-(800)-555-0199",
        "0123456789",
        "911",
        "123456789012345",
    ],
    "AWSIPAddress": [
        "127.0.0.1",
        "123.12.34.56",
        "10.0.0.0/8",
        "123.45.67.89/16",
        "::1",
        "1a2b:3c4b::1234:4567",
        "2001:db8::/32",
        "::ffff:192.0.2.1",
    ],
}

INVALID: dict[str, list[str]] = {
    "AWSDate": [
        "2023-02-30",
        "2023-02-29",
        "1900-02-29",
        "2023-04-31",
        "2023-13-01",
        "2023-00-10",
        "2023-01-00",
        "2023-1-01",
        "23-01-01",
        "2023/01/01",
        "2023-01-01T00:00Z",
        "2023-01-01+5:30",
        "2023-01-01+24:00",
        "2023-01-01z",
        " 2023-01-01",
        "2023-01-01\n",
        "١٩٧٠-01-01",  # Arabic-Indic digits are digits to Python, not to ISO 8601
        "",
    ],
    "AWSTime": [
        "24:00",
        "12:60",
        "12:30:60",
        "1:30",
        "12:30.5",
        "12:30:24.",
        "12:30:24.1234567890",
        "12:30 Z",
        "12:30:24+25:00",
        "2023-01-01T12:30Z",
        "noon",
        "",
    ],
    "AWSDateTime": [
        "1970-01-01T12:00",
        "1970-01-01T12:00:00",
        "1970-01-01T12:00:00.000",
        "1970-01-01 12:00Z",
        "1970-01-01t12:00Z",
        "2023-02-30T12:00Z",
        "1970-01-01T25:00Z",
        "1970-01-01T12:00:00.Z",
        "1970-01-01T12:00:00.1234567890Z",
        "1970-01-01Z",
        "12:00Z",
        "",
    ],
    "AWSEmail": [
        "username",
        "@example.com",
        "user@",
        "user@example",
        "user@@example.com",
        "a@b@example.com",
        "us er@example.com",
        "user@exa mple.com",
        "user@.example.com",
        "user@example..com",
        "user@example.com.",
        "",
    ],
    "AWSURL": [
        "www.amazon.com",
        "/relative/path",
        "https://",
        "http:///path",
        "https://example.com//double",
        "https://exa mple.com",
        "https://example.com/\tx",
        "://example.com",
        "1http://example.com",
        "http:",
        "",
    ],
    "AWSPhone": [
        "555-CALL-NOW",
        "phone",
        "+",
        "()",
        "1234567890123456",
        "+1 555 123 4567 ext 2",
        "555.123.4567",
        "555-123-",
        " 5551234",
        "++15551234",
        "5551234+",
        "",
    ],
    "AWSIPAddress": [
        "256.0.0.1",
        "1.2.3",
        "01.2.3.4",
        "10.0.0.0/33",
        "10.0.0.0/255.0.0.0",
        "10.0.0.0/",
        "10.0.0.0/8/8",
        "2001:db8::/129",
        "[::1]",
        "localhost",
        "1.2.3.4 ",
        "",
    ],
}

STRING_CASES = [(name, value) for name, values in VALID.items() for value in values]
BAD_STRING_CASES = [(name, value) for name, values in INVALID.items() for value in values]


def scalar(name: str) -> GraphQLScalarType:
    return APPSYNC_SCALARS[name]


def literal(source: str) -> ValueNode:
    return parse_value(source)


def expect_error(name: str, call: Any, *args: Any) -> GraphQLError:
    with pytest.raises(GraphQLError) as caught:
        call(*args)
    assert caught.value.message.startswith(f"Invalid {name} value: ")
    assert "(expected " in caught.value.message
    return caught.value


# --- exports --------------------------------------------------------------------------------------


def test_all_nine_scalars_are_exported_by_name() -> None:
    assert list(APPSYNC_SCALARS) == NAMES
    for name, type_ in APPSYNC_SCALARS.items():
        assert isinstance(type_, GraphQLScalarType)
        assert type_.name == name
        assert type_.description
        assert type_.specified_by_url == "https://docs.aws.amazon.com/appsync/latest/devguide/scalars.html"


def test_the_sdl_declares_each_scalar_once() -> None:
    assert APPSYNC_SCALAR_SDL.splitlines() == [f"scalar {name}" for name in NAMES]
    schema = build_schema(APPSYNC_SCALAR_SDL + "type Query { ok: Boolean }")
    assert all(isinstance(schema.type_map[name], GraphQLScalarType) for name in NAMES)


# --- string scalars: one table drives variables, literals and output ---------------------------------


@pytest.mark.parametrize(("name", "value"), STRING_CASES)
def test_valid_strings_pass_through_unchanged(name: str, value: str) -> None:
    type_ = scalar(name)
    assert type_.coerce_input_value(value) == value
    assert type_.coerce_input_literal is not None
    assert type_.coerce_input_literal(StringValueNode(value=value)) == value
    assert type_.parse_literal(StringValueNode(value=value)) == value
    assert type_.coerce_output_value(value) == value


@pytest.mark.parametrize(("name", "value"), BAD_STRING_CASES)
def test_invalid_strings_are_rejected_everywhere(name: str, value: str) -> None:
    type_ = scalar(name)
    assert type_.coerce_input_literal is not None
    error = expect_error(name, type_.coerce_input_value, value)
    assert repr(value) in error.message
    expect_error(name, type_.coerce_input_literal, StringValueNode(value=value))
    expect_error(name, type_.coerce_output_value, value)


def test_the_error_message_has_the_documented_shape() -> None:
    error = expect_error("AWSDate", scalar("AWSDate").coerce_input_value, "2023-02-30")
    assert error.message == (
        "Invalid AWSDate value: '2023-02-30' (expected YYYY-MM-DD with optional timezone offset)"
    )


def test_huge_bad_values_are_truncated_in_the_message() -> None:
    error = expect_error("AWSEmail", scalar("AWSEmail").coerce_input_value, "x" * 10_000)
    assert len(error.message) < 300
    assert "..." in error.message


@pytest.mark.parametrize("name", list(VALID))
@pytest.mark.parametrize("bad", [12, 1.5, True, None, ["1970-01-01"], {"a": 1}])
def test_string_scalars_refuse_non_string_variables(name: str, bad: Any) -> None:
    expect_error(name, scalar(name).coerce_input_value, bad)


@pytest.mark.parametrize("name", list(VALID))
@pytest.mark.parametrize("source", ["12", "1.5", "true", "RED", "[1]", '{a: "1970-01-01"}'])
def test_string_scalars_refuse_non_string_literals(name: str, source: str) -> None:
    type_ = scalar(name)
    error = expect_error(name, type_.parse_literal, literal(source))
    assert "a string" in error.message
    assert error.nodes  # the node is attached so the client gets a location


# --- output of data-layer Python values ----------------------------------------------------------

PLUS_0530 = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AWSDate", date(2024, 2, 29), "2024-02-29"),
        ("AWSDate", datetime(2024, 2, 29, 23, 30, tzinfo=UTC), "2024-02-29"),
        ("AWSTime", time(12, 30), "12:30:00"),
        ("AWSTime", time(12, 30, 24, 500_000), "12:30:24.500000"),
        ("AWSTime", time(12, 30, tzinfo=UTC), "12:30:00Z"),
        ("AWSTime", time(12, 30, tzinfo=PLUS_0530), "12:30:00+05:30"),
        ("AWSTime", datetime(2024, 1, 1, 8, 15, 30, tzinfo=UTC), "08:15:30Z"),
        ("AWSDateTime", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05Z"),
        (
            "AWSDateTime",
            datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=PLUS_0530),
            "2024-01-02T03:04:05.006000+05:30",
        ),
        ("AWSDateTime", datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05Z"),  # naive is taken as UTC
        ("AWSIPAddress", ipaddress.ip_address("10.1.2.3"), "10.1.2.3"),
        ("AWSIPAddress", ipaddress.ip_network("2001:db8::/32"), "2001:db8::/32"),
        ("AWSIPAddress", ipaddress.ip_interface("10.1.2.3/16"), "10.1.2.3/16"),
    ],
)
def test_python_values_are_serialized_to_the_wire_format(name: str, value: Any, expected: str) -> None:
    assert scalar(name).coerce_output_value(value) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AWSDateTime", date(2024, 1, 2)),  # no time of day to invent
        ("AWSDate", 20240102),
        ("AWSTime", 1230),
        ("AWSEmail", 42),
        ("AWSURL", b"https://example.com"),
        ("AWSPhone", 5551234567),
        ("AWSIPAddress", 167772161),
    ],
)
def test_unsupported_python_values_fail_to_serialize(name: str, value: Any) -> None:
    expect_error(name, scalar(name).coerce_output_value, value)


# --- AWSTimestamp --------------------------------------------------------------------------------

TS = "AWSTimestamp"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1_700_000_000, 1_700_000_000),
        (-86_400, -86_400),
        (1.7e9, 1_700_000_000),
        (2**63 - 1, 2**63 - 1),
    ],
)
def test_timestamp_variables_accept_whole_numbers(value: Any, expected: int) -> None:
    result = scalar(TS).coerce_input_value(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value", [True, False, "1700000000", 1.5, float("nan"), float("inf"), 2**63, -(2**63) - 1, None, [1]]
)
def test_timestamp_variables_refuse_everything_else(value: Any) -> None:
    expect_error(TS, scalar(TS).coerce_input_value, value)


@pytest.mark.parametrize(("source", "expected"), [("0", 0), ("1700000000", 1_700_000_000), ("-5", -5)])
def test_timestamp_accepts_int_literals(source: str, expected: int) -> None:
    type_ = scalar(TS)
    assert type_.coerce_input_literal is not None
    assert type_.coerce_input_literal(IntValueNode(value=source)) == expected
    assert type_.parse_literal(IntValueNode(value=source)) == expected


@pytest.mark.parametrize(
    "node",
    [
        FloatValueNode(value="1.0"),
        StringValueNode(value="123"),
        BooleanValueNode(value=True),
        IntValueNode(value=str(2**63)),
    ],
)
def test_timestamp_refuses_other_literals(node: ValueNode) -> None:
    expect_error(TS, scalar(TS).parse_literal, node)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000),
        (1.7e9, 1_700_000_000),
        ("1700000000", 1_700_000_000),
        ("-1", -1),
        (Decimal(1_700_000_000), 1_700_000_000),
        (datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), 1_700_000_000),
        (datetime(2023, 11, 14, 22, 13, 20), 1_700_000_000),  # naive is taken as UTC
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), -1),  # floors, like Unix time
    ],
)
def test_timestamp_output_accepts_data_layer_forms(value: Any, expected: int) -> None:
    assert scalar(TS).coerce_output_value(value) == expected


@pytest.mark.parametrize("value", ["soon", "1.5", 1.5, True, Decimal("1.5"), date(2024, 1, 1)])
def test_timestamp_output_refuses_non_integers(value: Any) -> None:
    expect_error(TS, scalar(TS).coerce_output_value, value)


# --- AWSJSON -------------------------------------------------------------------------------------

JS = "AWSJSON"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"upvotes": 10}', {"upvotes": 10}),
        ("[1,2,3]", [1, 2, 3]),
        ('"AWSJSON example string"', "AWSJSON example string"),
        ("1", 1),
        ("true", True),
        ("null", None),
        ('{"nested": {"list": [1.5, "x", null]}}', {"nested": {"list": [1.5, "x", None]}}),
    ],
)
def test_json_input_is_decoded(text: str, expected: Any) -> None:
    type_ = scalar(JS)
    assert type_.coerce_input_value(text) == expected
    assert type_.coerce_input_literal is not None
    assert type_.coerce_input_literal(StringValueNode(value=text)) == expected


@pytest.mark.parametrize(
    "text", ["{a: 1}", "{'a': 1}", "Unquoted string", "NaN", "[1, Infinity]", "", "[1,", "[" * 100_000]
)
def test_invalid_json_strings_are_rejected(text: str) -> None:
    type_ = scalar(JS)
    expect_error(JS, type_.coerce_input_value, text)
    expect_error(JS, type_.parse_literal, StringValueNode(value=text))


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], 5, True])
def test_json_variables_must_be_strings(value: Any) -> None:
    expect_error(JS, scalar(JS).coerce_input_value, value)


@pytest.mark.parametrize("source", ["{a: 1}", "[1, 2]", "5", "true"])
def test_json_literals_must_be_strings(source: str) -> None:
    expect_error(JS, scalar(JS).parse_literal, literal(source))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'),
        ([1, "two"], '[1,"two"]'),
        (5, "5"),
        (True, "true"),
        ({"price": Decimal("1.50"), "qty": Decimal(2)}, '{"price":1.5,"qty":2}'),
        ({"name": "Zoë"}, '{"name":"Zoë"}'),
        ('{"already": "json"}', '{"already": "json"}'),  # a stored JSON string is returned as-is
        ("[1, 2]", "[1, 2]"),
        ("hello", '"hello"'),  # a plain string is encoded as a JSON string
    ],
)
def test_json_output_is_a_json_string(value: Any, expected: str) -> None:
    out = scalar(JS).coerce_output_value(value)
    assert out == expected
    json.loads(out)


@pytest.mark.parametrize("value", [object(), {"x": float("nan")}, {1, 2}, {"when": datetime(2024, 1, 1)}])
def test_unserializable_json_output_fails(value: Any) -> None:
    expect_error(JS, scalar(JS).coerce_output_value, value)


# --- bind_scalars ----------------------------------------------------------------------------------


def test_bind_scalars_replaces_placeholder_behaviour_in_place() -> None:
    schema = build_schema(APPSYNC_SCALAR_SDL + "type Query { d(v: AWSDate): AWSDate }")
    placeholder = schema.type_map["AWSDate"]
    assert isinstance(placeholder, GraphQLScalarType)
    assert placeholder.coerce_input_value("2023-02-30") == "2023-02-30"  # pass-through before binding

    bind_scalars(schema)

    assert schema.type_map["AWSDate"] is placeholder
    assert placeholder is not APPSYNC_SCALARS["AWSDate"]
    expect_error("AWSDate", placeholder.coerce_input_value, "2023-02-30")
    expect_error("AWSDate", placeholder.parse_value, "2023-02-30")
    expect_error("AWSDate", placeholder.serialize, "2023-02-30")
    expect_error("AWSDate", placeholder.parse_literal, StringValueNode(value="2023-02-30"))
    assert placeholder.description == APPSYNC_SCALARS["AWSDate"].description
    assert placeholder.specified_by_url == APPSYNC_SCALARS["AWSDate"].specified_by_url


def test_bind_scalars_is_a_no_op_for_absent_scalars_and_idempotent() -> None:
    schema = build_schema("scalar AWSEmail\ntype Query { e: AWSEmail, s: String }")
    before = set(schema.type_map)
    bind_scalars(schema)
    bind_scalars(schema)
    assert set(schema.type_map) == before
    assert "AWSDate" not in schema.type_map
    email = schema.type_map["AWSEmail"]
    assert isinstance(email, GraphQLScalarType)
    expect_error("AWSEmail", email.coerce_input_value, "nope")


def test_bind_scalars_leaves_non_scalar_types_with_aws_names_alone() -> None:
    schema = build_schema("type AWSDate { year: Int }\ntype Query { d: AWSDate }")
    bind_scalars(schema)
    result = graphql_sync(schema, "{ d { year } }", root_value={"d": {"year": 2024}})
    assert result.errors is None


def test_bound_scalars_show_up_in_introspection() -> None:
    schema = build_schema(APPSYNC_SCALAR_SDL + "type Query { ok: Boolean }")
    bind_scalars(schema)
    result = graphql_sync(schema, '{ __type(name: "AWSJSON") { description specifiedByURL } }')
    assert result.errors is None
    assert result.data == {
        "__type": {
            "description": APPSYNC_SCALARS["AWSJSON"].description,
            "specifiedByURL": "https://docs.aws.amazon.com/appsync/latest/devguide/scalars.html",
        }
    }


# --- round trips through a real schema ------------------------------------------------------------

FIELD = {name: "echo" + name.removeprefix("AWS") for name in NAMES}  # AWSDate -> echoDate
ECHO_SDL = (
    APPSYNC_SCALAR_SDL
    + "type Query {\n"
    + "".join(f"  {FIELD[name]}(v: {name}): {name}\n" for name in NAMES)
    + '  withDefault(v: AWSDate = "2020-02-29"): AWSDate\n'
    + "  stored(name: String!): AWSDateTime\n"
    + "}\n"
)
SCHEMA = build_schema(ECHO_SDL)
bind_scalars(SCHEMA)


def echo(_info: Any, v: Any = None) -> Any:
    return v


ROOT: dict[str, Any] = dict.fromkeys([*FIELD.values(), "withDefault"], echo)


def run(query: str, variables: dict[str, Any] | None = None, root: dict[str, Any] | None = None) -> Any:
    return graphql_sync(SCHEMA, query, root_value=root or ROOT, variable_values=variables)


def gql_string(value: str) -> str:
    # JSON string syntax is valid GraphQL string syntax (\uXXXX escapes included).
    return json.dumps(value)


@pytest.mark.parametrize(("name", "value"), STRING_CASES)
def test_good_inline_literals_come_back(name: str, value: str) -> None:
    field = FIELD[name]
    result = run(f"{{ {field}(v: {gql_string(value)}) }}")
    assert result.errors is None
    assert result.data == {field: value}


@pytest.mark.parametrize(("name", "value"), STRING_CASES)
def test_good_variables_come_back(name: str, value: str) -> None:
    field = FIELD[name]
    result = run(f"query($v: {name}) {{ {field}(v: $v) }}", {"v": value})
    assert result.errors is None
    assert result.data == {field: value}


@pytest.mark.parametrize(("name", "value"), BAD_STRING_CASES)
def test_bad_inline_literals_fail_validation(name: str, value: str) -> None:
    result = run(f"{{ {FIELD[name]}(v: {gql_string(value)}) }}")
    assert result.data is None
    assert len(result.errors) == 1
    assert result.errors[0].message.startswith(f"Invalid {name} value: ")
    assert result.errors[0].locations  # points at the bad literal


@pytest.mark.parametrize(("name", "value"), BAD_STRING_CASES)
def test_bad_variables_fail_before_execution(name: str, value: str) -> None:
    result = run(f"query($v: {name}) {{ {FIELD[name]}(v: $v) }}", {"v": value})
    assert result.data is None
    assert len(result.errors) == 1
    message = result.errors[0].message
    assert message.startswith("Variable '$v' has invalid value")
    assert f"Invalid {name} value: " in message


def test_timestamp_round_trips_as_an_int() -> None:
    assert run("{ echoTimestamp(v: -1700000000) }").data == {"echoTimestamp": -1_700_000_000}
    result = run("query($v: AWSTimestamp) { echoTimestamp(v: $v) }", {"v": 1_700_000_000})
    assert result.errors is None
    assert result.data == {"echoTimestamp": 1_700_000_000}


@pytest.mark.parametrize("source", ['"1700000000"', "1.5", "1.0", "true", str(2**63)])
def test_timestamp_bad_literals_fail(source: str) -> None:
    result = run(f"{{ echoTimestamp(v: {source}) }}")
    assert result.data is None
    assert "Invalid AWSTimestamp value: " in result.errors[0].message


@pytest.mark.parametrize("value", ["1700000000", 1.5, True])
def test_timestamp_bad_variables_fail(value: Any) -> None:
    result = run("query($v: AWSTimestamp) { echoTimestamp(v: $v) }", {"v": value})
    assert result.data is None
    assert "Invalid AWSTimestamp value: " in result.errors[0].message


def test_json_round_trips_through_literal_and_variable() -> None:
    seen: list[Any] = []

    def capture(_info: Any, v: Any = None) -> Any:
        seen.append(v)
        return v

    root = {"echoJSON": capture}
    literal_result = run('{ echoJSON(v: "{\\"upvotes\\": 10, \\"tags\\": [\\"a\\"]}") }', root=root)
    variable_result = run(
        "query($v: AWSJSON) { echoJSON(v: $v) }", {"v": '{"upvotes": 10, "tags": ["a"]}'}, root=root
    )
    block_result = run('{ echoJSON(v: """{"upvotes": 10, "tags": ["a"]}""") }', root=root)
    for result in (literal_result, variable_result, block_result):
        assert result.errors is None
        assert result.data == {"echoJSON": '{"upvotes":10,"tags":["a"]}'}
    # The resolver sees the decoded value, not the string.
    assert seen == [{"upvotes": 10, "tags": ["a"]}] * 3


@pytest.mark.parametrize("source", ["{upvotes: 10}", "[1, 2]", "10", '"{a: 1}"', '"Unquoted string"'])
def test_json_bad_literals_fail(source: str) -> None:
    result = run(f"{{ echoJSON(v: {source}) }}")
    assert result.data is None
    assert "Invalid AWSJSON value: " in result.errors[0].message


@pytest.mark.parametrize("value", [{"upvotes": 10}, "{upvotes: 10}", 10])
def test_json_bad_variables_fail(value: Any) -> None:
    result = run("query($v: AWSJSON) { echoJSON(v: $v) }", {"v": value})
    assert result.data is None
    assert "Invalid AWSJSON value: " in result.errors[0].message


def test_default_values_in_the_sdl_use_the_bound_scalar() -> None:
    result = run("{ withDefault }")
    assert result.errors is None
    assert result.data == {"withDefault": "2020-02-29"}


def test_python_values_from_resolvers_are_serialized() -> None:
    root: dict[str, Any] = {
        "echoDate": lambda _info, v=None: date(2024, 2, 29),
        "echoDateTime": lambda _info, v=None: datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
        "echoTimestamp": lambda _info, v=None: datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "echoJSON": lambda _info, v=None: {"a": [1, 2]},
        "echoIPAddress": lambda _info, v=None: ipaddress.ip_address("::1"),
    }
    result = run("{ echoDate echoDateTime echoTimestamp echoJSON echoIPAddress }", root=root)
    assert result.errors is None
    assert result.data == {
        "echoDate": "2024-02-29",
        "echoDateTime": "2024-02-29T12:00:00Z",
        "echoTimestamp": 1_700_000_000,
        "echoJSON": '{"a":[1,2]}',
        "echoIPAddress": "::1",
    }


def test_bad_stored_values_become_field_errors() -> None:
    root: dict[str, Any] = {
        "stored": lambda _info, name: "2024-02-30T12:00Z",
        "echoEmail": lambda _info, v=None: "nobody",
    }
    result = run('{ stored(name: "x") echoEmail }', root=root)
    assert result.data == {"stored": None, "echoEmail": None}
    messages = sorted(error.message for error in result.errors)
    assert messages == [
        "Invalid AWSDateTime value: '2024-02-30T12:00Z' "
        "(expected YYYY-MM-DDThh:mm[:ss[.sss]] with timezone offset Z or ±hh:mm[:ss])",
        "Invalid AWSEmail value: 'nobody' (expected an email address like name@example.com)",
    ]
    assert sorted(error.path for error in result.errors) == [["echoEmail"], ["stored"]]
