"""JSONata mode (workflows.language.jsonata_eval): expressions, AWS's functions and AWS's error texts.

Expected values and texts come from executions recorded against AWS Step Functions
(/work/shared/asl-conformance/cases.jsonl); the sweep at the end replays every recorded one-state
JSONata Pass whose Output is evaluated by this module alone.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.workflows.conformance import CASES_PATH, load_cases
from workflows import errors
from workflows.errors import EvaluationError
from workflows.language import jsonata_eval
from workflows.language.env import Env
from workflows.language.jsonata_eval import assign, evaluate, evaluate_expecting, is_expression

CONTEXT = {
    "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:sm:run", "Name": "run"},
    "State": {"EnteredTime": "2024-05-01T12:00:00.000Z", "Name": "State0"},
}


def env_with(input_: Any = None, variables: dict[str, Any] | None = None, **extra: Any) -> Env:
    env = Env(input={} if input_ is None else input_, context=CONTEXT, variables=variables or {})
    if "result" in extra:
        env = env.with_result(extra["result"])
    if "error_output" in extra:
        env = env.with_error_output(extra["error_output"])
    return env


def failure(value: Any, env: Env, field: str, expected: str | None = None) -> EvaluationError:
    def run() -> Any:
        if expected is None:
            return evaluate(value, env, field)
        return evaluate_expecting(value, env, field, expected)

    with pytest.raises(EvaluationError) as caught:
        run()
    assert caught.value.error == errors.QUERY_EVALUATION_ERROR
    return caught.value


# --- what counts as an expression --------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{% $states.input %}", True),
        ("{%1%}", True),
        (" {% 1 %}", False),
        ("{% 1 %} ", False),
        ("{%}", False),
        ("Hello {% 1 %} world", False),
        ("$.no.such.path", False),
        (1, False),
        (None, False),
    ],
)
def test_only_strings_wrapped_in_percent_braces_are_expressions(value: Any, expected: bool) -> None:
    assert is_expression(value) is expected


# --- recorded successes ------------------------------------------------------------------------

def test_constants_in_an_output_array_are_kept_and_expressions_inside_it_evaluated() -> None:
    output = [None, 0, 0.1, True, "string", [], "$nosuchvar", "$.no.such.path", "{% $states.input %}",
              {"key": "{% true %}"}]
    result = evaluate(output, env_with({"input_value": "stringliteral"}), "Output")
    assert result == [None, 0, 0.1, True, "string", [], "$nosuchvar", "$.no.such.path",
                      {"input_value": "stringliteral"}, {"key": True}]


def test_output_expressions_see_input_context_and_variables_and_sum_to_an_integer() -> None:
    env = env_with({"input_value": "string literal", "input_values": [1, 2, 3]},
                   {"var_constant_1": 1, "var_input_value": "string literal"})
    output = {
        "ja_expr": "{% $sum($states.input.input_values) + $var_constant_1 %}",
        "ja_states_context": "{% $states.context %}",
        "ja_states_input": "{% $states.input %}",
        "ja_var_access": "{% $var_input_value %}",
    }
    result = evaluate(output, env, "Output")
    assert result == {
        "ja_expr": 7,
        "ja_states_context": CONTEXT,
        "ja_states_input": {"input_value": "string literal", "input_values": [1, 2, 3]},
        "ja_var_access": "string literal",
    }
    assert type(result["ja_expr"]) is int


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('{% $contains("hello$world", /^hello\\$/) %}', True),
        ("{% $contains('hello$world', /^hello\\$/) %}", True),
        ("{% $contains('hello$world', /^hello\\ /) %}", False),
    ],
)
def test_regular_expressions_match_as_recorded(expression: str, expected: bool) -> None:
    assert evaluate(expression, env_with(), "Output") is expected


def test_map_items_literal_array_evaluates_its_expression_elements() -> None:
    items = [1, "{% $number('2') %}", 3]
    assert evaluate_expecting(items, env_with(), "Items", "array") == [1, 2, 3]


def test_a_binding_expression_returns_the_bound_value_for_an_integer_field() -> None:
    assert evaluate_expecting("{% $variable := 1 %}", env_with(), "ToleratedFailureCount", "integer") == 1


def test_an_integral_float_is_accepted_as_an_integer_and_returned_as_int() -> None:
    result = evaluate_expecting("{% $states.input.s %}", env_with({"s": 2.0}), "Seconds", "integer")
    assert result == 2
    assert type(result) is int


def test_an_integer_field_given_a_string_expected_a_number() -> None:
    error = failure("{% $states.input.s %}", env_with({"s": "10"}), "Seconds", "integer")
    assert error.cause == (
        "The JSONata expression '$states.input.s' specified for the field 'Seconds' returned an unexpected result "
        "type. Expected 'number', but was 'string' for value: \"10\""
    )


def test_an_integer_field_given_a_fraction_cannot_parse_it() -> None:
    error = failure("{% 1.5 %}", env_with(), "TimeoutSeconds", "integer")
    assert error.cause == "The TimeoutSeconds field cannot be parsed as an integer: 1.5"


def test_a_number_field_accepts_fractions_and_constants_are_not_checked() -> None:
    assert evaluate_expecting("{% 12.5 %}", env_with(), "ToleratedFailurePercentage", "number") == 12.5
    assert evaluate_expecting(5, env_with(), "Seconds", "integer") == 5


def test_an_unknown_expected_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown expected type"):
        evaluate_expecting("{% 1 %}", env_with(), "Seconds", "int")


@pytest.mark.parametrize(
    ("condition", "input_", "expected"),
    [
        ("{% $not($states.input.type = 'Private') %}", {"type": "Private", "value": 22}, False),
        ("{% $states.input.value = 0 %}", {"type": "Private", "value": 22}, False),
        ("{% $states.input.value >= 20 and $states.input.value < 30 %}", {"type": "Private", "value": 22}, True),
        ("{% $states.input.type = 'Public' %}", {"type": "Public", "value": 22}, True),
    ],
)
def test_choice_conditions_from_the_aws_docs_scenario(condition: str, input_: Any, expected: bool) -> None:
    assert evaluate_expecting(condition, env_with(input_), "Condition", "boolean") is expected


def test_fail_cause_and_wait_seconds_expressions_read_the_input() -> None:
    env = env_with({"cause": "This failed to due an Exception.", "waitSeconds": 0})
    assert evaluate_expecting("{% $states.input.cause %}", env, "Cause", "string") == "This failed to due an Exception."
    assert evaluate_expecting("{% $states.input.waitSeconds %}", env, "Seconds", "integer") == 0


def test_assign_reads_variables_from_before_the_assignment() -> None:
    assignments = {"oldAnswer": "{% $theAnswer %}", "theAnswer": 18}
    assert assign(assignments, env_with(variables={"theAnswer": 42})) == {"oldAnswer": 42, "theAnswer": 18}


def test_result_and_error_output_are_bound_only_when_the_state_has_them() -> None:
    env = env_with({"a": 1}, result={"r": 2}, error_output={"Error": "E"})
    assert evaluate("{% [$states.result.r, $states.errorOutput.Error] %}", env, "Output") == [2, "E"]
    assert evaluate("{% $keys($states) %}", env_with(), "Output") == ["input", "context"]


# --- recorded failures -------------------------------------------------------------------------

def test_an_undefined_assign_value_fails_naming_the_assign_field() -> None:
    error = failure({"result": "{% $doesNotExist %}"}, env_with(), "Assign")
    assert error.cause == (
        "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' returned nothing (undefined)."
    )
    error = failure("{% $doesNotExist %}", env_with(), "Output/result")
    assert error.cause == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
    )


def test_assign_names_the_variable_in_the_field_path() -> None:
    with pytest.raises(EvaluationError) as caught:
        assign({"result": "{% $doesNotExist %}"}, env_with())
    assert "for the field 'Assign/result' returned nothing" in str(caught.value.cause)


@pytest.mark.parametrize(
    ("items", "variables", "detail"),
    [
        ("{% true %}", {}, "The JSONata expression 'true' specified for the field 'Items' returned an unexpected "
                           "result type. Expected 'array', but was 'boolean' for value: true"),
        ("{% 1 %}", {}, "The JSONata expression '1' specified for the field 'Items' returned an unexpected "
                        "result type. Expected 'array', but was 'number' for value: 1"),
        ("{% {'foo': 'bar'} %}", {}, "The JSONata expression '{'foo': 'bar'}' specified for the field 'Items' "
                                     "returned an unexpected result type. Expected 'array', but was 'object' for "
                                     'value: {"foo":"bar"}'),
        ("{% 'string' %}", {}, "The JSONata expression ''string'' specified for the field 'Items' returned an "
                               "unexpected result type. Expected 'array', but was 'string' for value: \"string\""),
        ("{% $ItemsVar %}", {"ItemsVar": None}, "The JSONata expression '$ItemsVar' specified for the field 'Items' "
                                                "returned an unexpected result type. Expected 'array', but was "
                                                "'null' for value: null"),
        ("{% $ItemsVar %}", {"ItemsVar": {"foo": "bar"}}, "The JSONata expression '$ItemsVar' specified for the field "
                                                          "'Items' returned an unexpected result type. Expected "
                                                          "'array', but was 'object' for value: {\"foo\":\"bar\"}"),
    ],
)
def test_items_of_the_wrong_type_fail_with_aws_text(items: str, variables: dict[str, Any], detail: str) -> None:
    assert failure(items, env_with(variables=variables), "Items", "array").cause == detail


def test_a_function_result_is_an_unsupported_result_type() -> None:
    error = failure("{% $fn := function($x){$x} %}", env_with(), "Items", "array")
    assert error.cause == (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an unsupported "
        "result type."
    )


# --- values, undefined and null ----------------------------------------------------------------

def test_a_variable_holding_null_is_null_not_undefined() -> None:
    env = env_with({"a": None}, {"nothing": None})
    assert evaluate("{% [$exists($nothing), $type($states.input.a)] %}", env, "Output") == [True, "null"]
    assert evaluate("{% $nothing %}", env, "Output") is None


def test_undefined_inside_an_object_drops_the_key_and_inside_an_array_the_element() -> None:
    env = env_with()
    assert evaluate('{% {"k": $missing, "j": 1} %}', env, "Output") == {"j": 1}
    assert evaluate("{% [1, $missing, 2] %}", env, "Output") == [1, 2]


def test_nested_field_paths_use_slashes_for_keys_and_brackets_for_indexes() -> None:
    error = failure({"list": [1, {"deep": "{% $missing %}"}]}, env_with(), "Arguments")
    assert "for the field 'Arguments/list[1]/deep' returned nothing" in str(error.cause)


def test_arithmetic_with_integral_results_gives_ints_and_fractions_stay_floats() -> None:
    assert evaluate("{% [1.5 + 1.5, 10 / 4, $sum([0.1, 0.2]) > 0.3] %}", env_with(), "Output") == [3, 2.5, True]


def test_evaluation_does_not_change_the_callers_input() -> None:
    data = {"list": [3, 1, 2], "nested": {"x": None}}
    evaluate("{% $sort($states.input.list) %}", env_with(data), "Output")
    assert data == {"list": [3, 1, 2], "nested": {"x": None}}


def test_constant_containers_are_returned_as_copies() -> None:
    template = {"a": [1, 2]}
    result = evaluate(template, env_with(), "Output")
    assert result == template
    assert result is not template
    assert result["a"] is not template["a"]


def test_each_expression_text_is_compiled_once() -> None:
    jsonata_eval._compile_for_thread.cache_clear()
    for _ in range(3):
        evaluate("{% 40 + 2 %}", env_with(), "Output")
    info = jsonata_eval._compile_for_thread.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# --- runtime errors ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("expression", "tail"),
    [
        ('$abs("a")', 'T0410: Argument 1 of function "abs" does not match function signature'),
        ('$sum(["a"])', 'T0412: Argument 1 of function "sum" must be an array of "numbers"'),
        ('1 + "a"', 'T2002: The right side of the "+" operator must evaluate to a number'),
        ('$error("boom")', "D3137: boom"),
        ('$eval("1+1")', "T1006: Attempted to invoke a non-function"),
    ],
)
def test_runtime_errors_name_the_expression_field_and_jsonata_code(expression: str, tail: str) -> None:
    error = failure("{% " + expression + " %}", env_with(), "Output")
    assert error.cause == (
        f"The JSONata expression '{expression}' specified for the field 'Output' threw an error during "
        f"evaluation. {tail}"
    )


def test_a_runaway_recursion_fails_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonata_eval, "MAX_EVALUATION_STEPS", 5_000)
    error = failure("{% ($f := function(){$f()}; $f()) %}", env_with(), "Output")
    assert "threw an error during evaluation" in str(error.cause)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a[1,2)", 'Expected "]", got ","'),
        ('"unterminated', "String literal must be terminated by a matching quote"),
        ("$x :=", "Unexpected end of expression"),
        ('$match("a", /abc', "No terminating / in regular expression"),
        ("$states.input.a[0]", None),
    ],
)
def test_syntax_errors_are_reported_without_their_code_for_definition_checks(text: str, problem: str | None) -> None:
    assert jsonata_eval.syntax_error(text) == problem


def test_a_syntax_error_is_a_query_evaluation_error() -> None:
    error = failure("{% 1 + %}", env_with(), "Output")
    assert error.cause == (
        "The JSONata expression '1 +' specified for the field 'Output' threw an error during evaluation. "
        "S0207: Unexpected end of expression"
    )


# --- AWS's functions ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$partition([0, 1, 2, 3], 3)", [[0, 1, 2], [3]]),
        ("$partition([0], 5)", [[0]]),
        ("$partition([1, 2, 3, 4, 5], 2.9)", [[1, 2], [3, 4], [5]]),
        ("$partition([1, 2, 3])", [[1, 2, 3]]),
        ("$range(0, 9, 3)", [0, 3, 6, 9]),
        ("$range(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("$range(10, 0, -5)", [10, 5, 0]),
        ("$range(3, 3, 1)", 3),
        ("$parse('true')", True),
        ("$parse('\"HelloWorld\"')", "HelloWorld"),
        ("$parse('{\"a\": [1, null]}').a", [1, None]),
        ("$exists($parse('null'))", True),
        ("$hash('Hello', 'MD5')", "8b1a9953c4611296a827abf8c47804d7"),
        ("$hash('Hello', 'SHA-256')", "185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969"),
        ("$random(42)", 0.7275636800328681),
        ("$random(42) = $random(42)", True),
        ("$map(['[1]', '[2]'], $parse)", [[1], [2]]),
    ],
)
def test_aws_functions_compute_what_aws_does(expression: str, expected: Any) -> None:
    assert evaluate("{% " + expression + " %}", env_with(), "Output") == expected


@pytest.mark.parametrize(
    "expression", ["$partition([], 2)", "$partition([1], 0)", "$range(1, 5, 0)", "$range(5, 1, 1)", "$range(1, 5)",
                   "$hash('x')", "$parse()"],
)
def test_aws_functions_return_undefined_where_aws_does(expression: str) -> None:
    assert "returned nothing (undefined)" in str(failure("{% " + expression + " %}", env_with(), "Output").cause)


@pytest.mark.parametrize(
    ("expression", "tail"),
    [
        ("$partition([1], -1)", "D3137: Second argument must be zero or greater"),
        ("$hash('a', 'md5')", "D3137: Hash algorithm 'md5' must be one of SHA-1, SHA-384, SHA-256, SHA-512, MD5"),
        ("$parse('{\"a\":1,\"a\":2}')", "D3137: Invalid JSON"),
        ("$parse(1)", 'T0410: Argument 1 of function "parse" does not match function signature'),
        ("$uuid(1)", 'T0410: Argument 1 of function "uuid" does not match function signature'),
    ],
)
def test_aws_functions_fail_with_aws_codes(expression: str, tail: str) -> None:
    cause = str(failure("{% " + expression + " %}", env_with(), "Output").cause)
    assert cause.endswith("threw an error during evaluation. " + tail)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$string(1e20)", "100000000000000000000"),
        ("$string(1e21)", "1e+21"),
        ("$string(123456789012345678)", "123456789012346000"),
        ("$string(0.1 + 0.2)", "0.3"),
        ("$string(1.5e-7)", "1.5e-7"),
        ("$string(0.000001)", "0.000001"),
        ("$string($states.input)", '{"a":[1,2.5,null],"b":"x"}'),
        ("$string({'a': [1], 'c': {}}, true)", '{\n  "a": [\n    1\n  ],\n  "c": {}\n}'),
        ("$string({'f': $sum})", '{"f":""}'),
        ("$string('text')", "text"),
    ],
)
def test_string_writes_numbers_and_structures_as_jsonata_js_does(expression: str, expected: str) -> None:
    env = env_with({"a": [1.0, 2.5, None], "b": "x"})
    assert evaluate("{% " + expression + " %}", env, "Output") == expected


def test_number_of_a_non_numeric_string_is_jsonata_js_d3030() -> None:
    cause = str(failure("{% $number('x') %}", env_with(), "Output").cause)
    assert cause.endswith('threw an error during evaluation. D3030: Unable to cast value to a number: "x"')


def test_a_non_finite_number_is_out_of_range() -> None:
    cause = str(failure("{% 1e308 * 10 %}", env_with(), "Output").cause)
    assert cause.endswith("threw an error during evaluation. D1001: Number out of range: null")


def test_uuid_is_a_version_4_uuid_and_differs_each_call() -> None:
    first, second = evaluate(["{% $uuid() %}", "{% $uuid() %}"], env_with(), "Output")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first)
    assert first != second


def test_unseeded_random_is_in_the_unit_interval() -> None:
    value = evaluate("{% $random() %}", env_with(), "Output")
    assert isinstance(value, float)
    assert 0 <= value < 1


def test_now_is_the_given_instant_or_else_the_states_entered_time() -> None:
    assert evaluate("{% $now() %}", env_with(), "Output") == "2024-05-01T12:00:00.000Z"
    assert evaluate("{% $millis() %}", env_with(), "Output", now=1.5) == 1500


# --- replaying the recorded cases --------------------------------------------------------------



def _one_state_jsonata_outputs() -> list[Any]:
    # Collected at import: without the file there are none (and test_conformance fails under CI).
    picked = []
    for case in load_cases() if CASES_PATH.exists() else []:
        states = case["definition"]["States"]
        if len(states) != 1 or case["expect"]["status"] != "SUCCEEDED":
            continue
        (state,) = states.values()
        language = state.get("QueryLanguage", case["definition"].get("QueryLanguage"))
        if state["Type"] == "Pass" and language == "JSONata" and "Output" in state and "Assign" not in state:
            picked.append(pytest.param(state["Output"], case["input"], case["expect"]["output"], id=case["id"]))
    return picked


@pytest.mark.parametrize(("output", "input_", "expected"), _one_state_jsonata_outputs())
def test_recorded_one_state_outputs_are_reproduced(output: Any, input_: Any, expected: Any) -> None:
    assert evaluate(output, env_with(input_), "Output") == expected
