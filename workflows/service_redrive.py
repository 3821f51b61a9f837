"""RedriveExecution: a FAILED, TIMED_OUT or ABORTED Standard execution resumes from the state that failed.

Trellis redrives at the top level: the last top-level state the execution entered runs again with
the input it had then and the variables top-level states had assigned (from their history events);
a Parallel or Map that failed runs again as a whole, not only its failed branches or iterations. In one
transaction the execution goes back to RUNNING with ``redriveCount`` + 1, an ``ExecutionRedriven``
event and a fresh top-level thread, its lease free; the engine's maintenance loop (on this or any
instance) claims and runs it, exactly as it resumes an orphaned execution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workflows.engine.engine import WorkflowEngine
from workflows.engine.records import JSON, Execution, HistoryEvent
from workflows.errors import WorkflowApiError
from workflows.language.outcomes import Cursor

REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class RestartPoint:
    state: str
    input: JSON
    variables: dict[str, JSON]


def restart_point(definition: Mapping[str, JSON], events: Sequence[HistoryEvent],
                  execution_input: JSON) -> RestartPoint:
    """The top-level state to run again, its input (the last one entered, else ``StartAt`` with the
    execution input) and the variables top-level states had assigned before it."""
    top_states = definition.get("States")
    names = set(top_states) if isinstance(top_states, Mapping) else set()
    point = RestartPoint(str(definition.get("StartAt")), execution_input, {})
    variables: dict[str, JSON] = {}
    for event in events:
        details = event.details or {}
        entered = details.get("stateEnteredEventDetails")
        if isinstance(entered, Mapping) and entered.get("name") in names and event.type.endswith("StateEntered"):
            text = entered.get("input")
            point = RestartPoint(str(entered["name"]), json.loads(text) if isinstance(text, str) else execution_input,
                                 dict(variables))
        exited = details.get("stateExitedEventDetails")
        if isinstance(exited, Mapping) and exited.get("name") in names:
            assigned = exited.get("assignedVariables")
            if isinstance(assigned, Mapping):
                variables.update({key: json.loads(value) for key, value in assigned.items()})
    return point


async def redrive_execution(engine: WorkflowEngine, execution: Execution) -> float:
    if execution.status not in REDRIVABLE:
        raise WorkflowApiError("ExecutionNotRedrivable",
                               f"Execution is {execution.status} and cannot be redriven")
    definition = json.loads(execution.definition)
    now = engine.clock.now()
    timeout = definition.get("TimeoutSeconds")
    deadline = now + timeout if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 0 else None

    def restart(current: Execution, history: list[HistoryEvent]) -> JSON:
        point = restart_point(definition, history, json.loads(current.input))
        return Cursor(scope=(), state=point.state, input=point.input, variables=(point.variables,)).to_json()

    if await engine.store.redrive(execution.arn, REDRIVABLE, now, deadline, restart) is None:
        raise WorkflowApiError("ExecutionNotRedrivable", "Execution cannot be redriven")
    return now
