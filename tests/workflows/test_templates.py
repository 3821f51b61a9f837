"""JSONPath-mode input/output processing and Assign, with AWS's recorded error details."""

from __future__ import annotations

import pytest

from workflows.errors import RESULT_PATH_MATCH_FAILURE, RUNTIME, EvaluationError, StatesError
from workflows.language import templates
from workflows.language.env import Env

INPUT = {"int-literal": 0}
ENV = Env(input=INPUT, context={"Execution": {"Input": INPUT}}, variables={"x": {"y": 1}})


def _cause_of(call: object) -> tuple[str, str | None]:
    assert callable(call)
    with pytest.raises(EvaluationError) as caught:
        call()
    return caught.value.error, caught.value.cause


def test_a_missing_parameters_path_quotes_the_field_and_the_compact_input() -> None:
    assert _cause_of(lambda: templates.payload({"value.$": "$.no_such_jsonpath"}, ENV, "Parameters")) == (
        RUNTIME,
        "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input "
        "'{\"int-literal\":0}'",
    )


def test_a_missing_context_path_is_reported_like_an_input_path() -> None:
    error, cause = _cause_of(lambda: templates.payload({"value.$": "$$.Execution.Input.no_such_jsonpath"}, ENV, "Parameters"))
    assert error == RUNTIME
    assert cause is not None
    assert cause.startswith("The JSONPath '$$.Execution.Input.no_such_jsonpath' specified for the field 'value.$' "
                            "could not be found in the input '")


def test_input_path_and_output_path_misses_use_jayways_message() -> None:
    assert _cause_of(lambda: templates.input_path("$.NoSuchInputPath", ENV)) == (
        RUNTIME, "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']")
    assert _cause_of(lambda: templates.output_path("$.NoSuchOutputPath", {"a": 1}, ENV)) == (
        RUNTIME, "Invalid path '$.NoSuchOutputPath' : No results for path: $['NoSuchOutputPath']")


def test_error_path_miss_names_the_field() -> None:
    env = Env(input={"Error": "error-value"}, context={})
    assert _cause_of(lambda: templates.path_field("$.ErrorX", env, "ErrorPath")) == (
        RUNTIME,
        "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input "
        "'{\"Error\":\"error-value\"}'",
    )


def test_path_fields_accept_intrinsics_and_variables() -> None:
    env = Env(input={"c": "boom"}, context={}, variables={"wait": 3})
    assert templates.path_field("States.Format('cause: {}', $.c)", env, "CausePath") == "cause: boom"
    assert templates.path_field("$wait", env, "SecondsPath") == 3


def test_null_input_and_output_paths_give_an_empty_object() -> None:
    assert templates.input_path(None, ENV) == {}
    assert templates.output_path(None, {"a": 1}, ENV) == {}
    assert templates.input_path("$", ENV) == INPUT


def test_payload_evaluates_dollar_keys_recursively_and_keeps_constants() -> None:
    template = {"a.$": "$.int-literal", "nested": [{"v.$": "$x.y"}, "$.not_evaluated"], "c": "$$", "u.$": "States.Array(1)"}
    assert templates.payload(template, ENV, "Parameters") == {
        "a": 0, "nested": [{"v": 1}, "$.not_evaluated"], "c": "$$", "u": [1]}


def test_result_path_places_the_result_creating_objects_on_the_way() -> None:
    state_input = {"keep": 1, "a": {"other": 2}}
    assert templates.result_path("$.a.b.c", state_input, "r") == {"keep": 1, "a": {"other": 2, "b": {"c": "r"}}}
    assert state_input == {"keep": 1, "a": {"other": 2}}  # the input itself is not changed
    assert templates.result_path("$", state_input, "r") == "r"
    assert templates.result_path(None, state_input, "r") == state_input
    assert templates.result_path("$.list[1]", {"list": [0, 0]}, "r") == {"list": [0, "r"]}


def test_result_path_into_a_non_object_is_a_match_failure() -> None:
    with pytest.raises(StatesError) as caught:
        templates.result_path("$.a.b", {"a": "text"}, "r")
    assert caught.value.error == RESULT_PATH_MATCH_FAILURE
    with pytest.raises(StatesError):
        templates.result_path("$.a", "plain string input", "r")


def test_assign_evaluates_only_dollar_keys_and_reads_variables_from_before() -> None:
    env = Env(input={"answer": 42}, context={"Execution": {"Id": "arn:e"}}, variables={"count": 1})
    assigned = templates.assign({
        "count.$": "States.MathAdd($count, 1)",
        "previous.$": "$count",
        "theAnswer.$": "$.answer",
        "literal": "$.no.such.path",
        "contextLiteral": "$$.Execution.Id",
        "intrinsicLiteral": "States.Format('{}', $count)",
        "nested": {"id.$": "$$.Execution.Id", "list": [None, 0.1, "$x"]},
    }, env)
    assert assigned == {
        "count": 2,
        "previous": 1,
        "theAnswer": 42,
        "literal": "$.no.such.path",
        "contextLiteral": "$$.Execution.Id",
        "intrinsicLiteral": "States.Format('{}', $count)",
        "nested": {"id": "arn:e", "list": [None, 0.1, "$x"]},
    }
