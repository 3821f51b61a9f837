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
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from workflows.engine import tables as t
from workflows.engine.engine import WorkflowEngine
from workflows.engine.records import JSON, Execution, dumps
from workflows.errors import WorkflowApiError
from workflows.language.outcomes import Cursor

REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")
TOP_THREAD = "0"


@dataclass(frozen=True)
class RestartPoint:
    state: str
    input: JSON
    variables: dict[str, JSON]


def restart_point(definition: Mapping[str, JSON], events: Sequence[Any], execution_input: JSON) -> RestartPoint:
    """The top-level state to run again, its input (the last one entered, else ``StartAt`` with the
    execution input) and the variables top-level states had assigned before it."""
    top_states = definition.get("States")
    names = set(top_states) if isinstance(top_states, Mapping) else set()
    point = RestartPoint(str(definition.get("StartAt")), execution_input, {})
    variables: dict[str, JSON] = {}
    for row in events:
        details = json.loads(row.details) if row.details else {}
        if not isinstance(details, Mapping):
            continue
        entered = details.get("stateEnteredEventDetails")
        if isinstance(entered, Mapping) and entered.get("name") in names and row.type.endswith("StateEntered"):
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

    def work(conn: Connection) -> bool:
        row = conn.execute(select(t.executions).where(t.executions.c.arn == execution.arn)).first()
        if row is None or row.status not in REDRIVABLE:
            return False  # redriven (or gone) meanwhile
        events = conn.execute(select(t.events).where(t.events.c.execution_arn == execution.arn)
                              .order_by(t.events.c.id)).all()
        point = restart_point(definition, events, json.loads(row.input))
        last_id = events[-1].id if events else 0
        redriven_id = last_id + 1
        redrive_count = row.redrive_count + 1
        cursor = Cursor(scope=(), state=point.state, input=point.input, variables=(point.variables,),
                        previous_event_id=redriven_id)
        conn.execute(update(t.executions).where(t.executions.c.arn == execution.arn).values(
            status="RUNNING", output=None, error=None, cause=None, stopped=None, stop_requested=None,
            redrive_count=redrive_count, next_event_id=redriven_id + 1, deadline=deadline, owner=None,
            lease_until=0.0))
        conn.execute(delete(t.threads).where(t.threads.c.execution_arn == execution.arn))
        conn.execute(insert(t.threads).values(
            execution_arn=execution.arn, thread_id=TOP_THREAD, parent_id=None, status="READY",
            cursor=dumps(cursor.to_json()), effect=None, wake_at=None, outcome=None))
        conn.execute(insert(t.events).values(
            execution_arn=execution.arn, id=redriven_id, previous_id=last_id, type="ExecutionRedriven",
            timestamp=now, details=dumps({"executionRedrivenEventDetails": {"redriveCount": redrive_count}})))
        return True

    if not await engine.store.db.write(work):
        raise WorkflowApiError("ExecutionNotRedrivable", "Execution cannot be redriven")
    return now
