"""Intrinsic functions: the argument checks and renderings AWS's recorded cases (run whole by
``test_conformance``) do not cover."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.errors import INTRINSIC_FAILURE, RUNTIME, EvaluationError
from workflows.language.env import Env
from workflows.language.intrinsics import evaluate, format_value, is_intrinsic
from workflows.language.java_random import JavaRandom


def test_math_add_rounds_each_argument_half_up_like_java() -> None:
    env = Env(input={}, context={})
    assert evaluate("States.MathAdd(1.5, 1.51)", env) == 4
    assert evaluate("States.MathAdd(-2.5, 0)", env) == -2
    assert evaluate("States.MathAdd(-0.5, 0)", env) == 0


def test_format_prints_objects_and_arrays_as_java_maps_and_lists() -> None:
    assert format_value({"Arg1": 1, "Arg2": [], "s": "x"}) == "{Arg1=1, Arg2=[], s=x}"
    assert format_value([1, "a", None, True, 1.5]) == "[1, a, null, true, 1.5]"


def test_format_keeps_escaped_braces_and_quotes_literal() -> None:
    env = Env(input={"n": "Ann"}, context={})
    assert evaluate(r"States.Format('\{{}\} it\'s {}', $.n, 2)", env) == "{Ann} it's 2"


def test_format_with_a_placeholder_count_mismatch_is_an_intrinsic_failure() -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate("States.Format('{} and {}', 1)", Env(input={}, context={}))
    assert caught.value.error == INTRINSIC_FAILURE


def test_nested_calls_and_variables_evaluate_inside_out() -> None:
    env = Env(input={}, context={"StateMachine": {"Name": "orders-prod-eu"}}, variables={"sep": "-"})
    expression = ("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, $sep), "
                  "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, $sep)), -1))")
    assert evaluate(expression, env) == "eu"


def test_string_split_treats_each_delimiter_character_as_a_separator_and_drops_empties() -> None:
    env = Env(input={}, context={})
    assert evaluate("States.StringSplit('a,b;;c', ',;')", env) == ["a", "b", "c"]


@pytest.mark.parametrize(("expression", "expected"), [
    ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
    ("States.ArrayRange(9, 1, -4)", [9, 5, 1]),
    ("States.ArrayPartition(States.Array(1, 2, 3), 2)", [[1, 2], [3]]),
    ("States.ArrayUnique(States.Array(1, 1.0, true, 1))", [1, True]),
    ("States.ArrayContains(States.Array(1, true), 1)", True),
    ("States.ArrayContains(States.Array(true), 1)", False),
    ("States.JsonMerge(States.StringToJson('{\"a\": {\"x\": 1}, \"b\": 2}'), "
     "States.StringToJson('{\"a\": {\"y\": 2}}'), false)", {"a": {"y": 2}, "b": 2}),
    ("States.JsonToString(States.StringToJson('{\"a\": [1.0, null]}'))", '{"a":[1.0,null]}'),
    ("States.Base64Decode(States.Base64Encode('héllo'))", "héllo"),
    ("States.Hash('input data', 'MD5')", "812f45842bc6d66ee14572ce20db8e86"),
])
def test_functions_compute_what_aws_documents(expression: str, expected: Any) -> None:
    assert evaluate(expression, Env(input={}, context={})) == expected


@pytest.mark.parametrize("expression", [
    "States.ArrayGetItem(States.Array(1, 2), 2)",
    "States.ArrayRange(1, 3000, 1)",
    "States.ArrayRange(1, 3, 0)",
    "States.ArrayPartition(States.Array(1), 0)",
    "States.Hash('x', 'SHA-999')",
    "States.JsonMerge(States.StringToJson('{}'), States.StringToJson('{}'), true)",
    "States.MathAdd('1', 2)",
    "States.ArrayLength(1)",
    "States.StringToJson('{not json')",
    "States.UUID(1)",
    "States.NoSuchFunction(1)",
])
def test_bad_arguments_are_intrinsic_failures(expression: str) -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate(expression, Env(input={}, context={}))
    assert caught.value.error == INTRINSIC_FAILURE


def test_a_missing_path_argument_is_a_runtime_error_naming_the_field() -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate("States.Array($.nope)", Env(input={"a": 1}, context={}), "x.$")
    assert caught.value.error == RUNTIME
    assert caught.value.cause == "The JSONPath '$.nope' specified for the field 'x.$' could not be found in the input '{\"a\":1}'"


def test_seeded_math_random_is_repeatable_and_in_range() -> None:
    env = Env(input={}, context={})
    first = evaluate("States.MathRandom(10, 20, 7)", env)
    assert first == evaluate("States.MathRandom(10, 20, 7)", env)
    assert 10 <= first < 20
    assert JavaRandom(42).next_int(10) == 0  # java.util.Random(42).nextInt(10)


def test_is_intrinsic_recognises_calls_only() -> None:
    assert is_intrinsic("States.UUID()")
    assert not is_intrinsic("$.States")
    assert not is_intrinsic("States.")
