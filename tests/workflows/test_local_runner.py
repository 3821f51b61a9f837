"""``LocalRunner``: one execution in memory — history shape, task invocation, execution time
limits, child threads and the ManualClock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from workflows import errors
from workflows.clock import ManualClock
from workflows.engine.local import LocalRunner
from workflows.errors import StatesError
from workflows.language.interpreter import ExecutionInfo, Invoke

START = 1_700_000_000.0
TASK = "arn:aws:states:::lambda:invoke"


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def types(history: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in history]


async def test_history_events_have_ids_previous_ids_timestamps_and_aws_details() -> None:
    clock = ManualClock(START)
    definition = machine(W={"Type": "Wait", "Seconds": 2, "Next": "P"}, P={"Type": "Pass", "End": True})
    result = await LocalRunner(definition, clock=clock).run({"a": 1}, name="exec-1", state_machine_name="sm")
    history = result.history
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))
    assert [event["previousEventId"] for event in history] == list(range(0, len(history)))
    assert [event["timestamp"] - START for event in history] == [0, 0, 2, 2, 2, 2]
    assert history[0]["executionStartedEventDetails"]["input"] == '{"a":1}'
    assert history[1]["stateEnteredEventDetails"] == {"name": "W", "input": '{"a":1}',
                                                      "inputDetails": {"truncated": False}}
    assert history[-1]["executionSucceededEventDetails"]["output"] == '{"a":1}'
    json.dumps(history)  # the API serves it as is


async def test_the_task_runner_gets_the_invoke_and_the_execution() -> None:
    seen: list[tuple[Invoke, ExecutionInfo]] = []

    async def tasks(invoke: Invoke, execution: ExecutionInfo) -> Any:
        seen.append((invoke, execution))
        return {"echo": invoke.payload}

    definition = machine(T={"Type": "Task", "Resource": TASK, "Parameters": {"name.$": "$$.Execution.Name"},
                            "End": True})
    result = await LocalRunner(definition, clock=ManualClock(START), invoke=tasks).run({}, name="exec-7")
    invoke, execution = seen[0]
    assert (invoke.resource, invoke.payload) == (TASK, {"name": "exec-7"})
    assert execution.execution_arn.endswith(":execution:local-state-machine:exec-7")
    assert result.output == {"echo": {"name": "exec-7"}}


async def test_a_task_runner_bug_fails_the_task_not_the_runner() -> None:
    async def broken(invoke: Invoke, execution: ExecutionInfo) -> Any:
        raise KeyError("oops")

    result = await LocalRunner(machine(T={"Type": "Task", "Resource": TASK, "End": True}),
                               clock=ManualClock(START), invoke=broken).run({})
    assert (result.status, result.error) == ("FAILED", errors.TASK_FAILED)


async def test_without_a_task_runner_a_task_fails() -> None:
    result = await LocalRunner(machine(T={"Type": "Task", "Resource": TASK, "End": True}),
                               clock=ManualClock(START)).run({})
    assert (result.status, result.error) == ("FAILED", errors.TASK_FAILED)


async def test_an_execution_past_its_timeout_seconds_times_out() -> None:
    definition = {"TimeoutSeconds": 30, **machine(W={"Type": "Wait", "Seconds": 60, "End": True})}
    result = await LocalRunner(definition, clock=ManualClock(START)).run({})
    assert (result.status, result.error) == ("TIMED_OUT", errors.TIMEOUT)
    assert types(result.history)[-1] == "ExecutionTimedOut"
    assert result.history[-1]["timestamp"] == START + 30


async def test_an_execution_within_its_timeout_succeeds() -> None:
    definition = {"TimeoutSeconds": 30, **machine(W={"Type": "Wait", "Seconds": 10, "End": True})}
    result = await LocalRunner(definition, clock=ManualClock(START)).run({"x": 1})
    assert (result.status, result.output) == ("SUCCEEDED", {"x": 1})


async def test_without_auto_advance_time_moves_only_when_the_test_says_so() -> None:
    clock = ManualClock(START)
    definition = machine(W={"Type": "Wait", "Seconds": 10, "End": True})
    running = asyncio.ensure_future(LocalRunner(definition, clock=clock, auto_advance=False).run({}))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not running.done()
    clock.advance(10)
    result = await running
    assert result.status == "SUCCEEDED"


async def test_unlimited_map_iterations_interleave_and_failure_aborts_the_rest() -> None:
    processor = machine(C={"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Slow"}],
                           "Default": "Bad"},
                        Slow={"Type": "Wait", "Seconds": 100, "End": True},
                        Bad={"Type": "Fail", "Error": "ItemFailed"})
    definition = machine(M={"Type": "Map", "ItemProcessor": processor, "End": True})
    result = await LocalRunner(definition, clock=ManualClock(START)).run([0, 1])
    assert (result.status, result.error) == ("FAILED", "ItemFailed")
    assert "MapIterationAborted" in types(result.history)
    aborted = next(event for event in result.history if event["type"] == "MapIterationAborted")
    assert aborted["mapIterationAbortedEventDetails"] == {"name": "M", "index": 0}
    assert result.history[-1]["timestamp"] == START


async def test_parallel_branches_take_turns() -> None:
    branch = machine(A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "End": True})
    definition = machine(P={"Type": "Parallel", "Branches": [branch, branch], "End": True})
    result = await LocalRunner(definition, clock=ManualClock(START)).run({})
    names = [event["stateEnteredEventDetails"]["name"] for event in result.history
             if event["type"] == "PassStateEntered"]
    assert names == ["A", "A", "B", "B"]


async def test_task_failures_carry_the_runners_error_and_cause() -> None:
    async def failing(invoke: Invoke, execution: ExecutionInfo) -> Any:
        raise StatesError("Lambda.ServiceException", "unavailable")

    result = await LocalRunner(machine(T={"Type": "Task", "Resource": TASK, "End": True}),
                               clock=ManualClock(START), invoke=failing).run({})
    assert (result.error, result.cause) == ("Lambda.ServiceException", "unavailable")
    failed = next(event for event in result.history if event["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"]["error"] == "Lambda.ServiceException"
    assert result.history[-1]["executionFailedEventDetails"] == {"error": "Lambda.ServiceException",
                                                                 "cause": "unavailable"}


async def test_stopping_a_running_execution_aborts_it_with_the_given_error() -> None:
    clock = ManualClock(START)
    runner = LocalRunner(machine(W={"Type": "Wait", "Seconds": 60, "End": True}), clock=clock, auto_advance=False)
    running = asyncio.ensure_future(runner.run({}))
    for _ in range(5):
        await asyncio.sleep(0)
    runner.stop("Cancelled", "by the operator")
    result = await running
    assert (result.status, result.error, result.cause) == ("ABORTED", "Cancelled", "by the operator")
    assert result.history[-1]["type"] == "ExecutionAborted"
    assert result.history[-1]["executionAbortedEventDetails"] == {"error": "Cancelled", "cause": "by the operator"}
