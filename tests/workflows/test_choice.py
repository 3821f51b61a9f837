"""Choice rules: operators, type tests, missing paths, nesting, JSONata conditions, and AWS's recorded
Choice decisions from the conformance cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.workflows.conformance import CASES_PATH, load_cases
from workflows import errors
from workflows.errors import EvaluationError
from workflows.language import choice
from workflows.language.env import Env
from workflows.language.timestamps import Timestamp, parse_timestamp


def _env(data: Any, variables: Mapping[str, Any] | None = None) -> Env:
    return Env(input=data, context={"Execution": {"Id": "arn:exec"}}, variables=variables or {})


def _matches(rule: dict[str, Any], data: Any, variables: Mapping[str, Any] | None = None) -> bool:
    state = {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"}
    return choice.select_rule(state, _env(data, variables), jsonata=False) is not None


# --- comparisons -------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "value", "expected"), [
    ({"StringEquals": "abc"}, "abc", True),
    ({"StringEquals": "abc"}, "abd", False),
    ({"StringLessThan": "b"}, "a", True),
    ({"StringGreaterThan": "b"}, "a", False),
    ({"StringLessThanEquals": "a"}, "a", True),
    ({"StringGreaterThanEquals": "a"}, "a", True),
    ({"NumericEquals": 1}, 1.0, True),
    ({"NumericLessThan": 2}, 1.5, True),
    ({"NumericGreaterThan": 2}, 2, False),
    ({"NumericLessThanEquals": 2}, 2, True),
    ({"NumericGreaterThanEquals": 2.5}, 2, False),
    ({"BooleanEquals": False}, False, True),
    ({"BooleanEquals": True}, False, False),
    ({"TimestampEquals": "2020-01-01T00:00:00Z"}, "2020-01-01T01:00:00+01:00", True),
    ({"TimestampLessThan": "2020-01-01T00:00:00Z"}, "2019-12-31T23:59:59.999Z", True),
    ({"TimestampGreaterThan": "2020-01-01T00:00:00Z"}, "2020-01-01T00:00:00.000000001Z", True),
    ({"TimestampLessThanEquals": "2020-01-01T00:00:00Z"}, "2020-01-01T00:00:00Z", True),
    ({"TimestampGreaterThanEquals": "2020-01-01T00:00:00Z"}, "2019-01-01T00:00:00Z", False),
])
def test_each_comparison_operator_compares_the_variable_with_its_literal(rule: dict[str, Any], value: Any,
                                                                          expected: bool) -> None:
    assert _matches({"Variable": "$.v", **rule}, {"v": value}) is expected


@pytest.mark.parametrize(("rule", "value"), [
    ({"StringEquals": "1"}, 1),
    ({"StringLessThan": "z"}, None),
    ({"NumericEquals": 1}, True),
    ({"NumericEquals": 0}, False),
    ({"NumericLessThan": 5}, "1"),
    ({"BooleanEquals": True}, 1),
    ({"BooleanEquals": False}, []),
    ({"TimestampEquals": "2012-10-09T19:00:55Z"}, "2012-10-09T19:00:55"),
    ({"TimestampEquals": "2012-10-09T19:00:55Z"}, "2012-10-09 19:00:55Z"),
    ({"TimestampEquals": "2012-10-09T19:00:55Z"}, 1349809255),
])
def test_a_value_of_the_wrong_type_never_matches(rule: dict[str, Any], value: Any) -> None:
    assert _matches({"Variable": "$.v", **rule}, {"v": value}) is False


def test_string_order_is_by_utf16_code_units_as_in_java() -> None:
    # U+FF61 sorts after U+1F600 by code point but before it by UTF-16 code unit (0xD83D).
    assert _matches({"Variable": "$.v", "StringLessThan": "\U0001F600"}, {"v": "\uff61"}) is False
    assert _matches({"Variable": "$.v", "StringGreaterThan": "\U0001F600"}, {"v": "\uff61"}) is True


@pytest.mark.parametrize(("operator", "value", "other", "expected"), [
    ("StringEqualsPath", "x", "x", True),
    ("StringLessThanPath", "a", "b", True),
    ("NumericEqualsPath", 3, 3.0, True),
    ("NumericGreaterThanPath", 3, "2", False),
    ("BooleanEqualsPath", True, True, True),
    ("BooleanEqualsPath", True, "true", False),
    ("TimestampLessThanPath", "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", True),
    ("TimestampEqualsPath", "2020-01-01T00:00:00Z", "not a time", False),
])
def test_path_variants_compare_with_the_value_at_another_path(operator: str, value: Any, other: Any,
                                                               expected: bool) -> None:
    assert _matches({"Variable": "$.v", operator: "$.other"}, {"v": value, "other": other}) is expected


def test_paths_may_name_variables_and_the_context_object() -> None:
    assert _matches({"Variable": "$guess", "StringEqualsPath": "$answer"}, {}, {"guess": "a", "answer": "a"})
    assert _matches({"Variable": "$$.Execution.Id", "StringEquals": "arn:exec"}, {})
    assert _matches({"Variable": "$", "NumericEquals": 7}, 7)


# --- StringMatches ------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("foo*.log", "foo23.log", True),
    ("*.log", "zebra.log", True),
    ("foo*.*", "foobar.zebra", True),
    ("foo*.log", "foo23.txt", False),
    ("*", "", True),
    ("a*b*c", "a--b--c", True),
    ("a*b*c", "a--c--b", False),
    ("log\\*", "log*", True),
    ("log\\*", "logs", False),
    ("back\\\\slash", "back\\slash", True),
    ("a.c", "abc", False),
    ("line*end", "line\nend", True),
])
def test_string_matches_treats_only_star_as_a_wildcard(pattern: str, value: str, expected: bool) -> None:
    assert _matches({"Variable": "$.v", "StringMatches": pattern}, {"v": value}) is expected


# --- type tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("operator", "value", "is_it"), [
    ("IsNull", None, True), ("IsNull", "", False),
    ("IsBoolean", False, True), ("IsBoolean", 0, False),
    ("IsNumeric", 1.5, True), ("IsNumeric", True, False), ("IsNumeric", "1", False),
    ("IsString", "", True), ("IsString", None, False),
    ("IsTimestamp", "2016-03-14T01:59:00Z", True), ("IsTimestamp", "2016-03-14T01:59:00.5-07:00", True),
    ("IsTimestamp", "2016-03-14", False), ("IsTimestamp", "2016-03-14 01:59:00Z", False), ("IsTimestamp", 5, False),
])
def test_type_tests_match_in_their_true_and_false_forms(operator: str, value: Any, is_it: bool) -> None:
    assert _matches({"Variable": "$.v", operator: True}, {"v": value}) is is_it
    assert _matches({"Variable": "$.v", operator: False}, {"v": value}) is not is_it


def test_is_present_tells_whether_the_path_exists() -> None:
    assert _matches({"Variable": "$.v", "IsPresent": True}, {"v": None}) is True
    assert _matches({"Variable": "$.v", "IsPresent": True}, {}) is False
    assert _matches({"Variable": "$.v", "IsPresent": False}, {}) is True
    assert _matches({"Variable": "$missing", "IsPresent": False}, {}) is True


# --- missing paths ------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    {"NumericEquals": 1}, {"IsNull": True}, {"IsString": False}, {"StringMatches": "*"},
])
def test_a_missing_variable_is_a_runtime_error_for_every_operator_but_is_present(rule: dict[str, Any]) -> None:
    with pytest.raises(EvaluationError) as raised:
        _matches({"Variable": "$.nope", **rule}, {"v": 1})
    assert raised.value.error == errors.RUNTIME
    assert raised.value.cause == (
        "Invalid path '$.nope': The choice state's condition path references an invalid value."
    )


def test_a_missing_comparison_path_is_a_runtime_error_naming_that_path() -> None:
    with pytest.raises(EvaluationError) as raised:
        _matches({"Variable": "$.v", "NumericEqualsPath": "$.other"}, {"v": 1})
    assert raised.value.error == errors.RUNTIME
    assert raised.value.cause is not None and raised.value.cause.startswith("Invalid path '$.other'")


# --- And / Or / Not -------------------------------------------------------------------------------

def test_and_or_not_nest_and_evaluate_lazily() -> None:
    in_twenties = {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 20},
                           {"Variable": "$.n", "NumericLessThan": 30}]}
    assert _matches(in_twenties, {"n": 25}) is True
    assert _matches(in_twenties, {"n": 30}) is False
    assert _matches({"Not": in_twenties}, {"n": 30}) is True
    either = {"Or": [{"Variable": "$.s", "StringEquals": "a"}, {"Not": {"Variable": "$.s", "StringEquals": "b"}}]}
    assert _matches(either, {"s": "c"}) is True
    assert _matches(either, {"s": "b"}) is False
    # The guard stops evaluation before the missing path could raise.
    guarded = {"And": [{"Variable": "$.x", "IsPresent": True}, {"Variable": "$.x", "NumericEquals": 1}]}
    assert _matches(guarded, {}) is False
    assert _matches({"Or": [{"Variable": "$.y", "IsNull": True}, {"Variable": "$.x", "IsNull": True}]},
                    {"y": None}) is True


def test_the_first_matching_rule_is_chosen_and_none_when_nothing_matches() -> None:
    state = {"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericLessThan": 10, "Next": "Small"},
        {"Variable": "$.n", "NumericLessThan": 100, "Next": "Medium"},
        {"Variable": "$.n", "NumericLessThan": 1000, "Next": "Large"},
    ]}
    chosen = choice.select_rule(state, _env({"n": 50}), jsonata=False)
    assert chosen is not None and chosen["Next"] == "Medium"
    assert choice.select_rule(state, _env({"n": 5000}), jsonata=False) is None


# --- JSONata conditions ---------------------------------------------------------------------------

def test_jsonata_conditions_pick_the_first_true_rule() -> None:
    state = {"Type": "Choice", "QueryLanguage": "JSONata", "Choices": [
        {"Condition": "{% $not($states.input.type = 'Private') %}", "Next": "Public"},
        {"Condition": "{% $states.input.value >= 20 and $states.input.value < 30 %}", "Next": "InTwenties"},
    ]}
    chosen = choice.select_rule(state, _env({"type": "Private", "value": 25}), jsonata=True)
    assert chosen is not None and chosen["Next"] == "InTwenties"
    chosen = choice.select_rule(state, _env({"type": "Public", "value": 25}), jsonata=True)
    assert chosen is not None and chosen["Next"] == "Public"
    assert choice.select_rule(state, _env({"type": "Private", "value": 5}), jsonata=True) is None


def test_jsonata_conditions_see_variables() -> None:
    state = {"Type": "Choice", "Choices": [{"Condition": "{% $limit > 3 %}", "Next": "A"}]}
    assert choice.select_rule(state, _env({}, {"limit": 4}), jsonata=True) is not None
    assert choice.select_rule(state, _env({}, {"limit": 3}), jsonata=True) is None


def test_a_constant_jsonata_condition_needs_no_evaluation() -> None:
    state = {"Type": "Choice", "Choices": [{"Condition": False, "Next": "A"}, {"Condition": True, "Next": "B"}]}
    chosen = choice.select_rule(state, _env({}), jsonata=True)
    assert chosen is not None and chosen["Next"] == "B"


def test_a_jsonata_condition_that_is_not_boolean_is_a_query_evaluation_error() -> None:
    state = {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.name %}", "Next": "A"}]}
    with pytest.raises(EvaluationError) as raised:
        choice.select_rule(state, _env({"name": "x"}), jsonata=True)
    assert raised.value.error == errors.QUERY_EVALUATION_ERROR
    assert raised.value.cause == (
        "The JSONata expression '$states.input.name' specified for the field 'Condition' returned an unexpected "
        "result type. Expected 'boolean', but was 'string' for value: \"x\""
    )


# --- timestamps ---------------------------------------------------------------------------------

def test_timestamps_keep_nanoseconds_and_apply_offsets() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.000000001Z") == Timestamp(1_000_000_001)
    assert parse_timestamp("1970-01-01T01:00:00+01:00") == Timestamp(0)
    assert parse_timestamp("1969-12-31T19:00:00-05:00") == Timestamp(0)
    stamp = parse_timestamp("2016-03-14T01:59:00.750Z")
    assert stamp is not None and stamp.whole_epoch_seconds == 1457920740
    assert stamp.epoch_seconds == pytest.approx(1457920740.75)


def test_timestamps_are_read_like_javas_iso_offset_date_time() -> None:
    assert parse_timestamp("2016-03-14t01:59:00z") == parse_timestamp("2016-03-14T01:59:00Z")
    assert parse_timestamp("2016-03-14T01:59Z") == parse_timestamp("2016-03-14T01:59:00Z")
    assert parse_timestamp("2016-03-14T01:59:00+01:00:30") == parse_timestamp("2016-03-14T00:58:30Z")
    assert parse_timestamp("2016-03-05T21:29:29.243167252Z") is not None  # AWS's recording: nanoseconds wait


@pytest.mark.parametrize("text", [
    "2016-03-14T01:59:00", "2016-03-14 01:59:00Z", "2016-03-14", "2016-02-30T00:00:00Z", "2016-13-05T21:29:29Z",
    "2016-03-14T24:00:00Z", "2016-12-05T25:29:29Z", "2016-03-14T01:59:00+0100", "2016-03-14T01:59:00.Z",
    " 2016-03-14T01:59:00Z", "2016-03-14T01:59:00+19:00", "2016-03-14T01:59:00.1234567891Z", "05-12-2016T21:29:29Z",
    "2016-03-14T01:59:60Z", "2016-03-14T01:59:00+01",
])
def test_strings_outside_the_iso_offset_date_time_format_are_not_timestamps(text: str) -> None:
    assert parse_timestamp(text) is None


# --- AWS's recorded decisions -------------------------------------------------------------------

def _choice_cases() -> list[dict[str, Any]]:
    # Collected at import: without the file there are no cases (and test_conformance fails under CI).
    cases = load_cases() if CASES_PATH.exists() else []
    return [case for case in cases if case["area"] == "choice_operators"]


def _expected_branch(case: dict[str, Any]) -> str:
    """These machines are Choice → Pass states whose Result names the state; the output says which
    state ran."""
    states = case["definition"]["States"]
    for name, state in states.items():
        if state["Type"] == "Pass" and state.get("Result") == case["expect"]["output"]:
            return name
    raise AssertionError(f"no Pass state produces the output of {case['id']}")


@pytest.mark.parametrize("case", _choice_cases(), ids=lambda case: case["id"].split("::")[-1])
def test_the_choice_decision_matches_what_aws_recorded(case: dict[str, Any]) -> None:
    definition = case["definition"]
    state = definition["States"][definition["StartAt"]]
    assert state["Type"] == "Choice"
    rule = choice.select_rule(state, _env(case["input"]), jsonata=False)
    taken = rule["Next"] if rule is not None else state.get("Default")
    assert taken == _expected_branch(case)
