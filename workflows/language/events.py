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


class TaskEvents:
    """The events of one Task invocation. AWS records a Lambda function ARN as ``LambdaFunction*``
    events, an activity ARN as ``Activity*`` events and every other resource (service
    integrations) as ``Task*`` events, each family with its own detail fields."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        parts = resource.split(":")
        if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
            self.family = "LambdaFunction"
        elif len(parts) >= 7 and parts[2] == "states" and parts[5] == "activity":
            self.family = "Activity"
        else:
            self.family = "Task"

    def _key(self, kind: str) -> str:
        family = self.family[0].lower() + self.family[1:]
        return f"{family}{kind}EventDetails"

    def scheduled(self, payload: JSON, region: str, timeout: float | None,
                  heartbeat: float | None) -> tuple[str, dict[str, Any]]:
        if self.family == "Task":
            resource_type, resource_name = split_resource(self.resource)
            details: dict[str, Any] = {"resourceType": resource_type, "resource": resource_name, "region": region,
                                       "parameters": to_json_text(payload)}
        else:
            details = {"resource": self.resource, "input": to_json_text(payload),
                       "inputDetails": dict(_NOT_TRUNCATED)}
        if timeout is not None:
            details["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None and self.family != "LambdaFunction":
            details["heartbeatInSeconds"] = int(heartbeat)
        return f"{self.family}Scheduled", {self._key("Scheduled"): details}

    def started(self) -> tuple[str, dict[str, Any] | None]:
        if self.family == "Task":
            return "TaskStarted", {"taskStartedEventDetails": self._task_fields()}
        return f"{self.family}Started", None

    def succeeded(self, output: JSON) -> tuple[str, dict[str, Any]]:
        details = {**self._task_fields(), "output": to_json_text(output), "outputDetails": dict(_NOT_TRUNCATED)}
        return f"{self.family}Succeeded", {self._key("Succeeded"): details}

    def failed(self, timed_out: bool, error: str | None, cause: str | None) -> tuple[str, dict[str, Any]]:
        kind = "TimedOut" if timed_out else "Failed"
        details = self._task_fields()
        if error is not None:
            details["error"] = error
        if cause is not None:
            details["cause"] = cause
        return f"{self.family}{kind}", {self._key(kind): details}

    def _task_fields(self) -> dict[str, Any]:
        if self.family != "Task":
            return {}
        resource_type, resource_name = split_resource(self.resource)
        return {"resourceType": resource_type, "resource": resource_name}


def split_resource(resource: str) -> tuple[str, str]:
    """``arn:aws:states:::lambda:invoke.waitForTaskToken`` → ("lambda", "invoke.waitForTaskToken");
    ``arn:aws:states:::aws-sdk:s3:listBuckets`` → ("aws-sdk:s3", "listBuckets"); other ARNs →
    (their service, the ARN)."""
    parts = resource.split(":", 6)
    if len(parts) >= 7 and parts[2] == "states" and parts[3] == "" and parts[4] == "":
        if parts[5] == "aws-sdk" and ":" in parts[6]:
            service, action = parts[6].split(":", 1)
            return f"aws-sdk:{service}", action
        return parts[5], parts[6]
    if len(parts) >= 3:
        return parts[2], resource
    return "unknown", resource
