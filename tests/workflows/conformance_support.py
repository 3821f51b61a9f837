"""Reading AWS's recorded cases and comparing with their placeholders (see the README next to
``cases.jsonl``): ``<...>`` tokens and ``date`` match any string, ``111111111111`` any account id,
plus each case's ``extra_placeholders``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).resolve().parents[3] / "shared" / "asl-conformance" / "cases.jsonl"


def recorded_cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CASES} is missing")
        pytest.skip(f"{CASES} is not present")
    with CASES.open() as lines:
        return [json.loads(line) for line in lines]


def matches(expected: Any, actual: Any, placeholders: list[str]) -> bool:
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return expected in placeholders and actual is not None
        if expected in placeholders or expected == "date":
            return True
        pattern = re.sub(r"<[^<>]*>", "\0", expected)
        pattern = re.escape(pattern).replace("\0", ".*").replace("111111111111", r"\d{12}")
        return re.fullmatch(pattern, actual, re.DOTALL) is not None
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            matches(expected[key], actual[key], placeholders) for key in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            matches(e, a, placeholders) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers):
        return expected == actual
    return type(expected) is type(actual) and bool(expected == actual)


def context_object(execution_input: Any, state_name: str) -> dict[str, Any]:
    """A context object whose volatile values are the recordings' own placeholders."""
    return {
        "Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:machine:run",
                      "Input": execution_input, "Name": "run", "RedriveCount": 0,
                      "RoleArn": "snf_role_arn", "StartTime": "start-time"},
        "State": {"EnteredTime": "entered-time", "Name": state_name},
        "StateMachine": {"Id": "arn:aws:states:us-east-1:123456789012:stateMachine:machine-name",
                         "Name": "machine-name"},
    }


def run_pass_machine(definition: dict[str, Any], execution_input: Any) -> dict[str, Any]:
    """A stand-in interpreter for definitions made only of Pass, Succeed and Fail states, enough to
    replay AWS's recordings through ``templates`` alone. Returns ``{"status", "output"}`` or
    ``{"status", "error", "cause"}`` like ``expect`` in the cases."""
    from workflows.errors import EvaluationError, StatesError
    from workflows.language import templates
    from workflows.language.env import Env

    variables: dict[str, Any] = {}
    name = definition["StartAt"]
    state_input = execution_input
    for transition in range(100):
        state = definition["States"][name]
        entered_event_id = 2 + 2 * transition
        env = Env(input=state_input, context=context_object(execution_input, name), variables=variables)
        try:
            if state["Type"] == "Fail":
                error = state.get("Error") or (templates.path_field(state["ErrorPath"], env, "ErrorPath")
                                               if "ErrorPath" in state else None)
                cause = state.get("Cause") or (templates.path_field(state["CausePath"], env, "CausePath")
                                               if "CausePath" in state else None)
                return {"status": "FAILED", "error": error, "cause": cause}
            effective = templates.input_path(state.get("InputPath", "$"), env)
            if state["Type"] == "Succeed":
                return {"status": "SUCCEEDED", "output": templates.output_path(state.get("OutputPath", "$"), effective, env)}
            if "Parameters" in state:
                result = templates.payload(state["Parameters"], env.with_input(effective), "Parameters")
            else:
                result = state.get("Result", effective)
            assigned = templates.assign(state.get("Assign", {}), env.with_input(result))
            output = templates.result_path(state.get("ResultPath", "$"), state_input, result)
            output = templates.output_path(state.get("OutputPath", "$"), output, env)
        except EvaluationError as failure:
            prefix = f"An error occurred while executing the state '{name}' (entered at the event id #{entered_event_id}). "
            return {"status": "FAILED", "error": failure.error, "cause": prefix + (failure.cause or "")}
        except StatesError as failure:
            return {"status": "FAILED", "error": failure.error, "cause": failure.cause}
        variables = {**variables, **assigned}
        if state.get("End"):
            return {"status": "SUCCEEDED", "output": output}
        name, state_input = state["Next"], output
    raise AssertionError("the definition did not end")


def is_pass_only_jsonpath(case: dict[str, Any]) -> bool:
    definition = case["definition"]
    if definition.get("QueryLanguage") == "JSONata":
        return False
    states = definition["States"].values()
    return all(s["Type"] in ("Pass", "Succeed", "Fail") and s.get("QueryLanguage") != "JSONata" for s in states)


def outcome_matches(case: dict[str, Any], outcome: dict[str, Any]) -> bool:
    expect = case["expect"]
    placeholders = case.get("extra_placeholders") or []
    if outcome["status"] != expect["status"]:
        return False
    if expect["status"] == "SUCCEEDED":
        return matches(expect["output"], outcome["output"], placeholders)
    return outcome["error"] == expect.get("error") and matches(expect.get("cause"), outcome["cause"], placeholders)
