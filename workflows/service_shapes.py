"""The store's records in the Step Functions API's response shapes.

Timestamps stay epoch seconds (floats): the JSON protocol sends them as numbers, which is what
botocore parses into datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflows.engine.records import JSON, Activity, Execution, HistoryEvent, StateMachine

# Options of a state machine kept in its ``options`` column, with AWS's defaults.
DEFAULT_LOGGING: dict[str, JSON] = {"level": "OFF", "includeExecutionData": False}
DEFAULT_TRACING: dict[str, JSON] = {"enabled": False}
_ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")


def state_machine_list_item(machine: StateMachine) -> dict[str, JSON]:
    return {"stateMachineArn": machine.arn, "name": machine.name, "type": machine.type,
            "creationDate": machine.created}


def describe_state_machine(machine: StateMachine) -> dict[str, JSON]:
    described: dict[str, JSON] = {
        "stateMachineArn": machine.arn, "name": machine.name, "status": machine.status,
        "definition": machine.definition, "roleArn": machine.role_arn, "type": machine.type,
        "creationDate": machine.created,
        "loggingConfiguration": machine.options.get("loggingConfiguration", DEFAULT_LOGGING),
        "tracingConfiguration": machine.options.get("tracingConfiguration", DEFAULT_TRACING),
        "revisionId": machine.revision_id,
    }
    if machine.description:
        described["description"] = machine.description
    return described


def describe_state_machine_for_execution(execution: Execution, machine: StateMachine | None) -> dict[str, JSON]:
    """The definition the execution runs (updates after its start do not move it)."""
    options: Mapping[str, JSON] = machine.options if machine is not None else {}
    return {
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.state_machine_arn.rsplit(":", 1)[1],
        "definition": execution.definition, "roleArn": execution.role_arn,
        "updateDate": machine.updated if machine is not None else execution.started,
        "loggingConfiguration": options.get("loggingConfiguration", DEFAULT_LOGGING),
        "tracingConfiguration": options.get("tracingConfiguration", DEFAULT_TRACING),
    }


def execution_list_item(execution: Execution) -> dict[str, JSON]:
    item: dict[str, JSON] = {"executionArn": execution.arn, "stateMachineArn": execution.state_machine_arn,
                             "name": execution.name, "status": execution.status, "startDate": execution.started,
                             "redriveCount": execution.redrive_count}
    if execution.stopped is not None and execution.status in _ENDED:
        item["stopDate"] = execution.stopped
    return item


def describe_execution(execution: Execution) -> dict[str, JSON]:
    described = execution_list_item(execution)
    described["input"] = execution.input
    described["inputDetails"] = {"included": True}
    if execution.status == "SUCCEEDED" and execution.output is not None:
        described["output"] = execution.output
        described["outputDetails"] = {"included": True}
    if execution.error is not None:
        described["error"] = execution.error
    if execution.cause is not None:
        described["cause"] = execution.cause
    if execution.status in _REDRIVABLE:
        described["redriveStatus"] = "REDRIVABLE"
    else:
        described["redriveStatus"] = "NOT_REDRIVABLE"
        described["redriveStatusReason"] = f"Execution is {execution.status} and cannot be redriven"
    return described


def history_event(event: HistoryEvent, include_data: bool) -> dict[str, JSON]:
    """One ``HistoryEvent``; without execution data its inputs and outputs are left out, as
    GetExecutionHistory's ``includeExecutionData: false`` asks."""
    shaped = event.to_api()
    if include_data:
        return shaped
    return {key: _without_data(value) if key.endswith("EventDetails") else value for key, value in shaped.items()}


def _without_data(details: JSON) -> JSON:
    if not isinstance(details, Mapping):
        return details
    return {key: value for key, value in details.items()
            if key not in ("input", "output", "inputDetails", "outputDetails")}


def describe_activity(activity: Activity) -> dict[str, JSON]:
    return {"activityArn": activity.arn, "name": activity.name, "creationDate": activity.created}


def sync_execution(execution: Execution) -> dict[str, JSON]:
    """StartSyncExecution's answer."""
    answer: dict[str, JSON] = {
        "executionArn": execution.arn, "stateMachineArn": execution.state_machine_arn, "name": execution.name,
        "startDate": execution.started, "stopDate": execution.stopped or execution.started,
        "status": execution.status, "input": execution.input, "inputDetails": {"included": True},
        "billingDetails": {"billedMemoryUsedInMB": 64,
                           "billedDurationInMilliseconds": _billed_ms(execution)},
    }
    if execution.status == "SUCCEEDED":
        answer["output"] = execution.output
        answer["outputDetails"] = {"included": True}
    if execution.error is not None:
        answer["error"] = execution.error
    if execution.cause is not None:
        answer["cause"] = execution.cause
    return answer


def _billed_ms(execution: Execution) -> int:
    # AWS bills Express executions in 100 ms increments.
    elapsed_ms = max(0.0, ((execution.stopped or execution.started) - execution.started) * 1000)
    return int(-(-elapsed_ms // 100) * 100) or 100


def tags_of(machine: StateMachine) -> list[dict[str, str]]:
    tags = machine.options.get("tags", {})
    return [{"key": key, "value": value} for key, value in dict(tags).items()] if isinstance(tags, Mapping) else []
