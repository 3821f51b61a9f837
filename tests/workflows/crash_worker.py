"""A Trellis workflow instance for the crash test: starts the test's executions (idempotently, by
name) and runs until every one has ended. The test kills it with SIGKILL and starts it again.

    python -m tests.workflows.crash_worker <database url> <count>

Every Task call appends a line to the ledger file ``$TRELLIS_LEDGER``: its key and this process's
generation (``$TRELLIS_GENERATION``), so the test can tell which process ran which task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any

from datasources.function import FunctionDataSource
from datasources.sql import open_database
from workflows.engine.engine import EngineOptions, WorkflowEngine
from workflows.engine.records import StateMachine
from workflows.engine.runners import register_engine_runners
from workflows.engine.store import SqlExecutionStore
from workflows.engine.tasks import TaskRegistry
from workflows.errors import WorkflowApiError

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:record"


def _task(key_expr: str, fail_first: bool = False) -> dict[str, Any]:
    # The key names one attempt of one task: execution, state, Map index and retry count.
    parameters: dict[str, Any] = {"key.$": key_expr, "fail_first": fail_first, "value.$": "$"}
    return {"Type": "Task", "Resource": FUNCTION, "Parameters": parameters,
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}]}


DEFINITION = {
    "StartAt": "Begin",
    "States": {
        "Begin": {**_task("States.Format('{}/Begin/{}', $$.Execution.Name, $$.State.RetryCount)", True),
                  "ResultSelector": {"items.$": "$.value.items"}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "EachItem"},
        "EachItem": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
            "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
            "ItemProcessor": {"StartAt": "Work", "States": {
                "Work": {**_task("States.Format('{}/Work/{}/{}', $$.Execution.Name, $.index, $$.State.RetryCount)",
                                 True),
                         "ResultSelector": {"done.$": "$.value.item"}, "End": True}}},
            "Next": "Both"},
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {
                    **_task("States.Format('{}/Left/{}', $$.Execution.Name, $$.State.RetryCount)"),
                    "ResultSelector": {"n.$": "States.ArrayLength($.value)"}, "End": True}}},
                {"StartAt": "Nap", "States": {
                    "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Right"},
                    "Right": {**_task("States.Format('{}/Right/{}', $$.Execution.Name, $$.State.RetryCount)"),
                              "ResultSelector": {"first.$": "$.value[0]"}, "End": True}}},
            ],
            "End": True},
    },
}


def record(event: Any) -> Any:
    generation = os.environ.get("TRELLIS_GENERATION", "0")
    with open(os.environ["TRELLIS_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(json.dumps({"key": event["key"], "generation": generation}) + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())
    if event.get("fail_first") and event["key"].endswith("/0"):
        raise RuntimeError(f"first attempt of {event['key']} fails on purpose")
    return {"key": event["key"], "value": event["value"]}


def execution_input(index: int) -> dict[str, Any]:
    return {"items": [f"item-{index}-{i}" for i in range(3)]}


async def main(url: str, count: int) -> None:
    database = open_database(url)
    store = SqlExecutionStore(database)
    registry = TaskRegistry()
    source = FunctionDataSource("record", handler="tests.workflows.crash_worker:record", timeout_seconds=30)
    await source.start()
    engine = WorkflowEngine(store, registry, options=EngineOptions(instance_id="crash-test", lease_seconds=30,
                                                                   poll_seconds=0.05))
    register_engine_runners(registry, engine, {"record": source}.get)
    await engine.start()
    now = engine.clock.now()
    machine = await store.create_state_machine(StateMachine(
        arn=engine.arn("stateMachine", "crash"), name="crash", type="STANDARD", definition=json.dumps(DEFINITION),
        role_arn="arn:aws:iam::123456789012:role/test", status="ACTIVE", created=now, updated=now, revision_id="1"))
    for index in range(count):
        # ExecutionAlreadyExists: it already ran to its end before an earlier kill.
        with contextlib.suppress(WorkflowApiError):
            await engine.start_execution(machine, f"run-{index}", json.dumps(execution_input(index)))
    while await store.count_running():  # noqa: ASYNC110 - other instances' work shows only in the store
        await asyncio.sleep(0.05)
    await engine.close()
    await database.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
