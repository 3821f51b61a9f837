"""The ``$$`` context object (``$states.context`` in JSONata) as AWS shows it."""

from __future__ import annotations

from workflows.clock import iso8601
from workflows.language.env import JSON
from workflows.language.outcomes import ExecutionInfo

# State types whose ``$$.State`` carries ``RetryCount`` (the ones that can have a Retry field).
_RETRYING_TYPES = frozenset({"Task", "Parallel", "Map"})


def context_object(execution: ExecutionInfo, state_name: str, state_type: str, entered_time: float,
                   retry_count: int = 0, task_token: str | None = None,
                   map_item: tuple[int, JSON] | None = None) -> dict[str, JSON]:
    state: dict[str, JSON] = {"EnteredTime": iso8601(entered_time), "Name": state_name}
    if state_type in _RETRYING_TYPES:
        state["RetryCount"] = retry_count
    context: dict[str, JSON] = {
        "Execution": {
            "Id": execution.execution_arn,
            "Input": execution.input,
            "Name": execution.name,
            "RoleArn": execution.role_arn,
            "StartTime": iso8601(execution.start_time),
            "RedriveCount": execution.redrive_count,
        },
        "State": state,
        "StateMachine": {"Id": execution.state_machine_arn, "Name": execution.state_machine_name},
    }
    if task_token is not None:
        context["Task"] = {"Token": task_token}
    if map_item is not None:
        context["Map"] = {"Item": {"Index": map_item[0], "Value": map_item[1]}}
    return context
