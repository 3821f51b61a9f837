"""History event details as the Step Functions API names them (HistoryEvent's ``...EventDetails``).

Inputs and outputs are JSON *text* in AWS's history (compact, no spaces), each with a
``...Details: {"truncated": false}`` companion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from workflows.language.env import JSON

_NOT_TRUNCATED = {"truncated": False}


def to_json_text(value: JSON) -> str:
    """AWS's compact serialisation (also used in error causes that quote a value)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def state_entered(name: str, state_input: JSON) -> dict[str, Any]:
    return {"stateEnteredEventDetails": {"name": name, "input": to_json_text(state_input),
                                         "inputDetails": dict(_NOT_TRUNCATED)}}


def state_exited(name: str, output: JSON, assigned: Mapping[str, JSON] | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "output": to_json_text(output), "outputDetails": dict(_NOT_TRUNCATED)}
    if assigned:
        details["assignedVariables"] = {key: to_json_text(value) for key, value in assigned.items()}
        details["assignedVariablesDetails"] = dict(_NOT_TRUNCATED)
    return {"stateExitedEventDetails": details}


def error_details(key: str, error: str | None, cause: str | None, **more: Any) -> dict[str, Any]:
    """``{key: {"error", "cause", ...}}`` leaving out what is None (AWS omits absent fields)."""
    body: dict[str, Any] = {name: value for name, value in more.items() if value is not None}
    if error is not None:
        body["error"] = error
    if cause is not None:
        body["cause"] = cause
    return {key: body}


def evaluation_failed(state: str, error: str, cause: str | None) -> dict[str, Any]:
    return error_details("evaluationFailedEventDetails", error, cause, state=state)


def map_iteration(kind: str, map_name: str, index: int) -> dict[str, Any]:
    """``kind`` is Started, Succeeded, Failed or Aborted."""
    return {f"mapIteration{kind}EventDetails": {"name": map_name, "index": index}}


def map_state_started(length: int) -> dict[str, Any]:
    return {"mapStateStartedEventDetails": {"length": length}}


def map_run_started(map_run_arn: str) -> dict[str, Any]:
    return {"mapRunStartedEventDetails": {"mapRunArn": map_run_arn}}


def task_scheduled(resource: str, payload: JSON, region: str, timeout: float | None,
                   heartbeat: float | None) -> dict[str, Any]:
    resource_type, resource_name = split_resource(resource)
    details: dict[str, Any] = {"resourceType": resource_type, "resource": resource_name, "region": region,
                               "parameters": to_json_text(payload)}
    if timeout is not None:
        details["timeoutInSeconds"] = int(timeout)
    if heartbeat is not None:
        details["heartbeatInSeconds"] = int(heartbeat)
    return {"taskScheduledEventDetails": details}


def task_event(kind: str, resource: str, **more: Any) -> dict[str, Any]:
    """``task<kind>EventDetails`` (Started, Succeeded, Failed, TimedOut) with resourceType/resource."""
    resource_type, resource_name = split_resource(resource)
    body: dict[str, Any] = {"resourceType": resource_type, "resource": resource_name}
    body.update({name: value for name, value in more.items() if value is not None})
    return {f"task{kind}EventDetails": body}


def task_output(output: JSON) -> dict[str, Any]:
    return {"output": to_json_text(output), "outputDetails": dict(_NOT_TRUNCATED)}


def split_resource(resource: str) -> tuple[str, str]:
    """``arn:aws:states:::lambda:invoke.waitForTaskToken`` → ("lambda", "invoke.waitForTaskToken");
    other ARNs (a Lambda function, an activity) → (service, the ARN)."""
    parts = resource.split(":", 6)
    if len(parts) >= 7 and parts[2] == "states" and parts[3] == "" and parts[4] == "":
        return parts[5], parts[6]
    if len(parts) >= 3:
        return parts[2], resource
    return "unknown", resource
