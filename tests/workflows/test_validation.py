"""Definition validation: AWS's diagnostic codes, messages and locations, and that every definition
AWS ran in the conformance recordings validates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.workflows.conformance import recorded_cases
from workflows.errors import DefinitionError
from workflows.language.validation import Diagnostic, invalid_definition_message, load, validate


def _machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def _findings(definition: Any, **options: Any) -> list[tuple[str, str, str]]:
    return [(d.code, d.message, d.location) for d in validate(definition, **options)]


def _single(definition: Any, **options: Any) -> tuple[str, str, str]:
    findings = _findings(definition, **options)
    assert len(findings) == 1, findings
    return findings[0]


PASS_END = {"Type": "Pass", "End": True}


# --- the document -------------------------------------------------------------------------------

def test_a_valid_machine_has_no_findings() -> None:
    assert validate(_machine({"A": {"Type": "Pass", "Next": "B"}, "B": PASS_END})) == []


def test_text_that_is_not_json_is_an_invalid_json_description() -> None:
    with pytest.raises(DefinitionError) as raised:
        load("not a definition")
    (problem,) = raised.value.problems
    assert problem.startswith("INVALID_JSON_DESCRIPTION: ")
    assert "line: 1, column: 1]" in problem


@pytest.mark.parametrize("text", ["", "   ", "[]", '"text"', "42"])
def test_a_definition_must_be_a_json_object(text: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        load(text)
    assert raised.value.problems == ["SCHEMA_VALIDATION_FAILED: Definition must be a valid JSON object"]


def test_missing_start_at_and_states_are_reported_at_the_root() -> None:
    assert _single({}) == ("SCHEMA_VALIDATION_FAILED", "These fields are required: [States, StartAt]", "/")
    assert _single({"States": {"A": PASS_END}}) == (
        "SCHEMA_VALIDATION_FAILED", "These fields are required: [StartAt]", "/")


def test_load_returns_the_definition_and_the_message_reads_like_create_state_machine() -> None:
    definition = _machine({"A": PASS_END})
    assert load(json.dumps(definition)) == definition
    with pytest.raises(DefinitionError) as raised:
        load(json.dumps(_machine({"A": {"Type": "Pass", "Next": 3}, "B": PASS_END})))
    assert invalid_definition_message(raised.value.problems) == (
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The value for the field 'Next' must be a "
        "STRING at /States/A/Next, MISSING_TRANSITION_TARGET: State \"B\" is not reachable. at /States/B'"
    )


def test_unknown_top_level_fields_and_query_languages_are_refused() -> None:
    assert _single(_machine({"A": PASS_END}, Extra=1)) == ("SCHEMA_VALIDATION_FAILED", "Field 'Extra' is not supported",
                                                           "/")
    code, _, location = _single(_machine({"A": PASS_END}, QueryLanguage="SQL"))
    assert (code, location) == ("SCHEMA_VALIDATION_FAILED", "/QueryLanguage")


# --- states -----------------------------------------------------------------------------------------

def test_an_unknown_state_type_is_refused_at_its_type() -> None:
    code, message, location = _single(_machine({"A": {"Type": "Loop", "End": True}}))
    assert (code, location) == ("SCHEMA_VALIDATION_FAILED", "/States/A/Type")
    assert "allowed values" in message


def test_a_field_the_state_type_does_not_have_is_not_supported() -> None:
    assert _single(_machine({"A": {"Type": "Succeed", "Next": "A"}})) == (
        "SCHEMA_VALIDATION_FAILED", "Field 'Next' is not supported", "/States/A")
    assert _single(_machine({"A": {**PASS_END, "Message.$": "$.x"}})) == (
        "SCHEMA_VALIDATION_FAILED", "Field 'Message.$' is not supported", "/States/A")


def test_next_and_end_are_required_exactly_once() -> None:
    assert _findings(_machine({"A": {"Type": "Pass"}, "B": PASS_END})) [0][:2] == (
        "SCHEMA_VALIDATION_FAILED", "These fields are required: [Next or End]")
    code, _, location = _findings(_machine({"A": {"Type": "Pass", "Next": "B", "End": True}, "B": PASS_END}))[0]
    assert (code, location) == ("SCHEMA_VALIDATION_FAILED", "/States/A")


def test_a_task_needs_a_resource_the_engine_supports() -> None:
    assert _single(_machine({"T": {"Type": "Task", "End": True}})) == (
        "SCHEMA_VALIDATION_FAILED", "These fields are required: [Resource]", "/States/T")
    task = _machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::nothing", "End": True}})
    assert validate(task) == []
    code, message, location = _single(task, supported_resource=lambda resource: resource.startswith("arn:aws:lambda"))
    assert (code, location) == ("SCHEMA_VALIDATION_FAILED", "/States/T/Resource")
    assert message.startswith("The resource provided arn:aws:states:::nothing is not recognized.")


def test_express_machines_refuse_callback_integrations() -> None:
    task = _machine({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                           "End": True}})
    assert validate(task) == []
    assert _single(task, machine_type="EXPRESS") == (
        "SCHEMA_VALIDATION_FAILED", "Express state machine does not support '.waitForTaskToken' service integration ",
        "/States/T/Resource")


def test_task_timeouts_must_be_positive_and_the_heartbeat_shorter() -> None:
    task = {"Type": "Task", "Resource": "arn:r", "End": True}
    assert _single(_machine({"T": {**task, "TimeoutSeconds": 0}}))[2] == "/States/T/TimeoutSeconds"
    assert _single(_machine({"T": {**task, "TimeoutSeconds": 5, "HeartbeatSeconds": 5}}))[2] == (
        "/States/T/HeartbeatSeconds")
    assert _single(_machine({"T": {**task, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}}))[0] == (
        "SCHEMA_VALIDATION_FAILED")


@pytest.mark.parametrize("fields", [{}, {"Seconds": 1, "SecondsPath": "$.s"}, {"Timestamp": "x", "Seconds": 2}])
def test_a_wait_state_needs_exactly_one_duration(fields: dict[str, Any]) -> None:
    findings = _findings(_machine({"W": {"Type": "Wait", "End": True, **fields}}))
    assert ("SCHEMA_VALIDATION_FAILED",
            "A Wait state must have exactly one of: [Seconds, Timestamp, SecondsPath, TimestampPath]",
            "/States/W") in findings


def test_a_wait_timestamp_must_be_an_asl_timestamp() -> None:
    assert validate(_machine({"W": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "End": True}})) == []
    assert _single(_machine({"W": {"Type": "Wait", "Timestamp": "2016-03-14", "End": True}}))[2] == (
        "/States/W/Timestamp")
    assert _single(_machine({"W": {"Type": "Wait", "Seconds": -1, "End": True}}))[2] == "/States/W/Seconds"


def test_fail_error_and_error_path_exclude_each_other() -> None:
    assert validate(_machine({"F": {"Type": "Fail", "Error": "E", "CausePath": "$.c"}})) == []
    assert _single(_machine({"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}})) == (
        "SCHEMA_VALIDATION_FAILED", "These fields cannot be used together: [Error, ErrorPath]", "/States/F")


def test_paths_must_be_reference_paths_and_template_values_paths_or_intrinsics() -> None:
    assert _single(_machine({"A": {**PASS_END, "InputPath": "a.b"}})) == (
        "SCHEMA_VALIDATION_FAILED", "Value is not a Reference Path: Reference path didn't start with '$'",
        "/States/A/InputPath")
    assert validate(_machine({"A": {**PASS_END, "OutputPath": None, "ResultPath": "$var.x"}})) == []
    assert _single(_machine({"A": {**PASS_END, "Parameters": {"x": {"y.$": "oops"}, "z.$": "States.Format('')"}}})) == (
        "SCHEMA_VALIDATION_FAILED",
        "The value for the field 'y.$' must be a valid JSONPath or a valid intrinsic function call",
        "/States/A/Parameters/x/y.$")


def test_state_names_are_at_most_80_characters() -> None:
    name = "N" * 81
    code, _, location = _single(_machine({name: PASS_END}))
    assert (code, location) == ("INVALID_STATE_NAME", f"/States/{name}")
    assert validate(_machine({"N" * 80: PASS_END})) == []


# --- query languages ----------------------------------------------------------------------------------

def test_a_jsonpath_state_in_a_jsonata_machine_is_refused_but_not_the_reverse() -> None:
    assert _single(_machine({"A": {**PASS_END, "QueryLanguage": "JSONPath"}}, QueryLanguage="JSONata")) == (
        "SCHEMA_VALIDATION_FAILED", "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
        "/States/A")
    assert validate(_machine({"A": {**PASS_END, "QueryLanguage": "JSONata", "Output": "{% 1 %}"}})) == []


@pytest.mark.parametrize("field", ["Parameters", "ResultPath", "InputPath", "Result"])
def test_jsonpath_fields_are_not_supported_in_jsonata_states(field: str) -> None:
    state = {**PASS_END, "QueryLanguage": "JSONata", field: "$"}
    assert _single(_machine({"A": state})) == ("SCHEMA_VALIDATION_FAILED", f"Field '{field}' is not supported",
                                                "/States/A")


@pytest.mark.parametrize("field", ["Arguments", "Output"])
def test_jsonata_fields_are_not_supported_in_jsonpath_states(field: str) -> None:
    state = {"Type": "Task", "Resource": "arn:r", "End": True, field: {}}
    assert _single(_machine({"A": state})) == ("SCHEMA_VALIDATION_FAILED", f"Field '{field}' is not supported",
                                                "/States/A")


# --- choice rules ------------------------------------------------------------------------------------

def _choice(*rules: dict[str, Any], **state: Any) -> dict[str, Any]:
    return _machine({"C": {"Type": "Choice", "Choices": list(rules), "Default": "D", **state}, "D": PASS_END})


def test_choice_rules_are_checked_operator_by_operator() -> None:
    assert validate(_choice({"Variable": "$.a", "NumericEquals": 1, "Next": "D"},
                            {"Not": {"Variable": "$.b", "IsNull": False}, "Next": "D"},
                            {"Or": [{"Variable": "$$.Execution.Id", "StringMatches": "a*"},
                                    {"Variable": "$x", "TimestampLessThanPath": "$.t"}], "Next": "D"})) == []
    assert _single(_choice({"Variable": "$.a", "NumericEquals": "1", "Next": "D"})) == (
        "SCHEMA_VALIDATION_FAILED", "The value for the field 'NumericEquals' must be a NUMBER",
        "/States/C/Choices[0]/NumericEquals")
    assert _single(_choice({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "D"}))[2] == (
        "/States/C/Choices[0]/TimestampEquals")
    assert _single(_choice({"Variable": "a", "IsNull": True, "Next": "D"}))[2] == "/States/C/Choices[0]/Variable"


def test_a_choice_rule_needs_one_operator_and_only_top_level_rules_have_next() -> None:
    assert _single(_choice({"Variable": "$.a", "Next": "D"}))[2] == "/States/C/Choices[0]"
    assert _single(_choice({"Variable": "$.a", "IsNull": True, "IsString": True, "Next": "D"}))[2] == (
        "/States/C/Choices[0]")
    assert _single(_choice({"And": [{"Variable": "$.a", "IsNull": True, "Next": "D"}], "Next": "D"})) == (
        "SCHEMA_VALIDATION_FAILED", "Field 'Next' is not supported", "/States/C/Choices[0]/And[0]")
    assert _single(_choice({"Variable": "$.a", "IsNull": True})) == (
        "SCHEMA_VALIDATION_FAILED", "These fields are required: [Next]", "/States/C/Choices[0]")


def test_choices_must_be_a_non_empty_array() -> None:
    assert _single(_choice()) == ("SCHEMA_VALIDATION_FAILED", "The field 'Choices' should be non-empty",
                                  "/States/C/Choices")


def test_jsonata_choice_rules_use_condition_only() -> None:
    assert validate(_choice({"Condition": "{% true %}", "Next": "D"}, {"Condition": False, "Next": "D"},
                            QueryLanguage="JSONata")) == []
    findings = _findings(_choice({"Variable": "$.a", "IsNull": True, "Next": "D"}, QueryLanguage="JSONata"))
    assert ("SCHEMA_VALIDATION_FAILED", "Field 'Variable' is not supported", "/States/C/Choices[0]") in findings
    assert ("SCHEMA_VALIDATION_FAILED", "These fields are required: [Condition]", "/States/C/Choices[0]") in findings


# --- Retry / Catch ----------------------------------------------------------------------------------

def _task(**fields: Any) -> dict[str, Any]:
    handler = {"H": PASS_END} if "Catch" in fields else {}  # a catcher's target, reachable through it
    return _machine({"T": {"Type": "Task", "Resource": "arn:r", "End": True, **fields}, **handler})


def test_states_all_must_be_alone_and_last() -> None:
    assert validate(_task(Catch=[{"ErrorEquals": ["E"], "Next": "H"}, {"ErrorEquals": ["States.ALL"], "Next": "H"}])) == []
    assert ("SCHEMA_VALIDATION_FAILED", "'States.ALL' must appear alone in 'ErrorEquals'", "/States/T/Retry[0]/ErrorEquals"
            ) in _findings(_task(Retry=[{"ErrorEquals": ["States.ALL", "E"]}]))
    assert ("SCHEMA_VALIDATION_FAILED", "'States.ALL' must appear in the last Retry entry", "/States/T/Retry[0]"
            ) in _findings(_task(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]))


def test_retriers_and_catchers_have_their_own_fields() -> None:
    assert ("SCHEMA_VALIDATION_FAILED", "These fields are required: [ErrorEquals]", "/States/T/Retry[0]"
            ) in _findings(_task(Retry=[{"MaxAttempts": 2}]))
    assert _single(_task(Retry=[{"ErrorEquals": ["E"], "BackoffRate": 0.5}]))[2] == "/States/T/Retry[0]/BackoffRate"
    assert _single(_task(Retry=[{"ErrorEquals": ["E"], "JitterStrategy": "SOME"}]))[2] == (
        "/States/T/Retry[0]/JitterStrategy")
    assert ("SCHEMA_VALIDATION_FAILED", "These fields are required: [Next]", "/States/T/Catch[0]"
            ) in _findings(_task(Catch=[{"ErrorEquals": ["E"]}]))
    assert ("SCHEMA_VALIDATION_FAILED", "Field '_comment' is not supported", "/States/T/Catch[0]"
            ) in _findings(_task(Catch=[{"ErrorEquals": ["E"], "Next": "H", "_comment": "x"}]))


# --- transitions ---------------------------------------------------------------------------------

def test_every_transition_must_name_a_state() -> None:
    findings = _findings(_machine({
        "A": {"Type": "Task", "Resource": "arn:r", "Next": "Nope1", "Catch": [{"ErrorEquals": ["E"], "Next": "Nope2"}]},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": True, "Next": "Nope3"}], "Default": "Nope4"},
        "Z": {"Type": "Succeed"},
    }, start="Nope0"))
    missing = [(message, location) for code, message, location in findings if code == "MISSING_TRANSITION_TARGET"]
    assert ("Missing 'Next' target: Nope0", "/StartAt") in missing
    assert ("Missing 'Next' target: Nope1", "/States/A/Next") in missing
    assert ("Missing 'Next' target: Nope2", "/States/A/Catch[0]/Next") in missing
    assert ("Missing 'Next' target: Nope3", "/States/C/Choices[0]/Next") in missing
    assert ("Missing 'Next' target: Nope4", "/States/C/Default") in missing


def test_unreachable_states_are_reported_and_a_loop_without_end_is_a_missing_end_state() -> None:
    assert _single(_machine({"A": PASS_END, "B": PASS_END})) == (
        "MISSING_TRANSITION_TARGET", 'State "B" is not reachable.', "/States/B")
    loop = {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}
    assert _single(_machine(loop)) == ("MISSING_END_STATE", "Workflow has no terminal state", "")
    assert _single(_machine({**loop, "C": PASS_END})) == (
        "MISSING_TRANSITION_TARGET", 'State "C" is not reachable.', "/States/C")


def test_repeated_and_nested_duplicate_state_names_are_reported() -> None:
    with pytest.raises(DefinitionError) as raised:
        load('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}')
    assert raised.value.problems == ["DUPLICATE_STATE_NAME: Duplicate State name: A at /States/A"]
    branch = {"StartAt": "A", "States": {"A": PASS_END}}
    assert _single(_machine({"A": {"Type": "Parallel", "Branches": [branch], "End": True}})) == (
        "DUPLICATE_STATE_NAME", "Duplicate State name: A", "/States/A/Branches[0]/States/A")


# --- Parallel and Map -----------------------------------------------------------------------------

def test_branches_are_validated_with_their_own_paths() -> None:
    bad_branch = {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}, "Y": {"Type": "Wait", "End": True}}}
    findings = _findings(_machine({"P": {"Type": "Parallel", "Branches": [{"StartAt": "W", "States": {"W": PASS_END}},
                                                                          bad_branch], "End": True}}))
    assert [location for _, _, location in findings] == ["/States/P/Branches[1]/States/Y"]
    assert _single(_machine({"P": {"Type": "Parallel", "Branches": [], "End": True}}))[2] == "/States/P/Branches"


def test_a_branch_cannot_jump_to_a_state_outside_it() -> None:
    branch = {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "After"}}}
    machine = _machine({"P": {"Type": "Parallel", "Branches": [branch], "Next": "After"}, "After": PASS_END})
    assert ("MISSING_TRANSITION_TARGET", "Missing 'Next' target: After", "/States/P/Branches[0]/States/X/Next"
            ) in _findings(machine)


def test_a_map_needs_one_item_processor_and_a_valid_processor_config() -> None:
    processor = {"StartAt": "X", "States": {"X": PASS_END}}
    assert validate(_machine({"M": {"Type": "Map", "ItemProcessor": processor, "End": True}})) == []
    assert validate(_machine({"M": {"Type": "Map", "Iterator": processor, "End": True}})) == []
    assert _single(_machine({"M": {"Type": "Map", "End": True}})) == (
        "SCHEMA_VALIDATION_FAILED", "These fields are required: [ItemProcessor]", "/States/M")
    distributed = {**processor, "ProcessorConfig": {"Mode": "DISTRIBUTED"}}
    assert _single(_machine({"M": {"Type": "Map", "ItemProcessor": distributed, "End": True}})) == (
        "SCHEMA_VALIDATION_FAILED", "These fields are required: [ExecutionType]", "/States/M/ItemProcessor/ProcessorConfig")
    inline = {**processor, "ProcessorConfig": {"Mode": "INLINE", "ExecutionType": "STANDARD"}}
    assert _single(_machine({"M": {"Type": "Map", "ItemProcessor": inline, "End": True}}))[1] == (
        "Field 'ExecutionType' is not supported")
    odd = {**processor, "ProcessorConfig": {"Mode": "SIDEWAYS"}}
    assert _single(_machine({"M": {"Type": "Map", "ItemProcessor": odd, "End": True}}))[2] == (
        "/States/M/ItemProcessor/ProcessorConfig/Mode")


def test_diagnostics_render_as_create_state_machine_quotes_them() -> None:
    assert str(Diagnostic("ERROR", "MISSING_END_STATE", "Workflow has no terminal state", "")) == (
        "MISSING_END_STATE: Workflow has no terminal state")
    assert str(Diagnostic("ERROR", "SCHEMA_VALIDATION_FAILED", "m", "/States/A")) == (
        "SCHEMA_VALIDATION_FAILED: m at /States/A")


# --- AWS's recorded definitions -------------------------------------------------------------------

def test_every_definition_aws_ran_validates_without_errors() -> None:
    cases = recorded_cases()
    assert len(cases) == 452
    refused = {}
    for case in cases:
        errors = [str(d) for d in validate(json.loads(case["definition_json"])) if d.severity == "ERROR"]
        if errors:
            refused[case["id"]] = errors
    assert refused == {}


# --- warnings --------------------------------------------------------------------------------------

def test_warnings_point_at_paths_that_will_not_be_evaluated_without_failing_validation() -> None:
    machine = _machine({"A": {**PASS_END, "Result": {"x.$": "$.a", "y": "$.b"}, "Parameters": {"p": "$.input"}}})
    warnings = [(d.code, d.location) for d in validate(machine) if d.severity == "WARNING"]
    assert warnings == [("NO_DOLLAR", "/States/A/Parameters/p"), ("PASS_RESULT_IS_STATIC", "/States/A/Result/x.$")]
    assert [d for d in validate(machine) if d.severity == "ERROR"] == []
    assert load(json.dumps(machine)) == machine
