"""The durable engine over SQLite and PostgreSQL: executions run, persist, resume and are shared."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from tests.workflows import engine_support
from tests.workflows.engine_support import Harness, finished, machine
from workflows.clock import ManualClock
from workflows.engine import tables
from workflows.errors import WorkflowApiError

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:"

CHAIN = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Parameters": {"value.$": "$.n"}, "Next": "Double"},
        "Double": {"Type": "Task", "Resource": FUNCTION + "double", "ResultPath": "$.doubled", "Next": "Done"},
        "Done": {"Type": "Pass", "OutputPath": "$.doubled", "End": True},
    },
}

WAIT_AN_HOUR = {
    "StartAt": "Sleep",
    "States": {
        "Sleep": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "woke", "End": True},
    },
}


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    engine_support.CALLS.clear()
    engine_support.FAILURES_LEFT.clear()
    built = Harness(database_url)
    yield built
    await built.close()


@pytest.fixture
async def manual(database_url: str) -> AsyncIterator[tuple[Harness, ManualClock]]:
    engine_support.CALLS.clear()
    clock = ManualClock()
    built = Harness(database_url, clock)
    yield built, clock
    await built.close()


async def events_of(engine: Any, arn: str) -> list[Any]:
    return await engine.store.history(arn, False, None, 1000)


async def test_a_task_chain_runs_to_completion_and_its_history_is_kept(harness: Harness) -> None:
    engine = await harness.engine()
    chain = await machine(engine, "chain", CHAIN)
    started = await engine.start_execution(chain, "one", json.dumps({"n": 21}))
    done = await finished(engine, started.arn)
    assert done.status == "SUCCEEDED"
    assert json.loads(done.output) == {"value": 42}
    history = await events_of(engine, started.arn)
    assert [e.id for e in history] == list(range(1, len(history) + 1))
    types = [e.type for e in history]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "TaskStateEntered" in types and "LambdaFunctionSucceeded" in types
    assert all(e.previous_id < e.id for e in history)


async def test_starting_the_same_name_while_it_runs_returns_the_same_execution(manual: tuple[Harness, ManualClock]) -> None:
    harness, _clock = manual
    engine = await harness.engine()
    waiting = await machine(engine, "waiting", WAIT_AN_HOUR)
    first = await engine.start_execution(waiting, "same", '{"a": 1}')
    again = await engine.start_execution(waiting, "same", '{"a":1}')
    assert again.arn == first.arn and again.started == first.started
    with pytest.raises(WorkflowApiError) as refused:
        await engine.start_execution(waiting, "same", '{"a": 2}')
    assert refused.value.code == "ExecutionAlreadyExists"


async def test_a_wait_survives_a_restart_and_wakes_on_time(manual: tuple[Harness, ManualClock]) -> None:
    harness, clock = manual
    first = await harness.engine("one")
    waiting = await machine(first, "waiting", WAIT_AN_HOUR)
    started = await first.start_execution(waiting, "sleeper", "{}")
    await asyncio.sleep(0.1)
    await first.close()  # the instance stops; its executions stay RUNNING in the store
    assert (await first.store.get_execution(started.arn)).status == "RUNNING"

    second = await harness.engine("two")
    await asyncio.sleep(0.1)
    assert started.arn in second.runs
    clock.advance(3599)
    await asyncio.sleep(0.1)
    assert (await second.store.get_execution(started.arn)).status == "RUNNING"
    clock.advance(2)
    done = await finished(second, started.arn)
    assert json.loads(done.output) == "woke"
    types = [e.type for e in await events_of(second, started.arn)]
    assert types.count("WaitStateEntered") == 1 and types.count("ExecutionStarted") == 1


async def test_an_execution_of_a_crashed_instance_is_taken_over_when_its_lease_lapses(harness: Harness) -> None:
    crashed = await harness.engine("crashed")
    chain = await machine(crashed, "slow", {
        "StartAt": "Slow", "States": {
            "Slow": {"Type": "Task", "Resource": FUNCTION + "slow", "Parameters": {"seconds": 0.3}, "Next": "Double"},
            "Double": {"Type": "Task", "Resource": FUNCTION + "double", "Parameters": {"value": 4}, "End": True}}})
    started = await crashed.start_execution(chain, "orphan", "{}")
    await asyncio.sleep(0.05)
    # Simulate kill -9: the runs vanish without releasing anything.
    assert crashed._maintenance is not None
    crashed._maintenance.cancel()
    for job in list(crashed._jobs.values()):
        job.cancel()
    await asyncio.sleep(0.05)

    survivor = await harness.engine("survivor")
    await asyncio.sleep(0.2)
    assert started.arn not in survivor.runs  # the lease still holds
    await crashed.store.db.write(lambda conn: conn.execute(
        update(tables.executions).where(tables.executions.c.arn == started.arn).values(lease_until=0.0)))
    done = await finished(survivor, started.arn)
    assert done.status == "SUCCEEDED" and json.loads(done.output) == {"value": 8}


async def test_a_callback_token_answered_on_another_instance_resumes_the_execution(harness: Harness) -> None:
    runner = await harness.engine("runner")
    other = await harness.engine("other")
    callback = await machine(runner, "callback", {
        "StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": "double", "Payload": {"value": 1, "token.$": "$$.Task.Token"}},
                    "End": True}}})
    started = await runner.start_execution(callback, "cb", "{}")
    token = None
    for _ in range(100):
        calls = [c for c in engine_support.CALLS if c["fn"] == "double"]
        if calls:
            token = calls[0]["event"]["token"]
            break
        await asyncio.sleep(0.02)
    assert token
    await other.complete_token(token, {"output": {"approved": True}})
    done = await finished(runner, started.arn)
    assert json.loads(done.output) == {"approved": True}
    with pytest.raises(WorkflowApiError) as late:
        await other.complete_token(token, {"output": {}})
    assert late.value.code in ("TaskDoesNotExist", "TaskTimedOut")


async def test_an_activity_task_goes_to_exactly_one_worker(harness: Harness) -> None:
    from workflows.engine.records import Activity

    engine = await harness.engine()
    activity = await engine.store.create_activity(Activity(engine.arn("activity", "pick"), "pick", 0.0))
    flow = await machine(engine, "picking", {
        "StartAt": "Pick", "States": {"Pick": {"Type": "Task", "Resource": activity.arn, "End": True}}})
    started = await engine.start_execution(flow, "p1", '{"sku": "A-1"}')
    polls = await asyncio.gather(*(engine.get_activity_task(activity.arn, f"worker-{i}", 1.0) for i in range(3)))
    handed = [task for task in polls if task is not None]
    assert len(handed) == 1
    assert json.loads(handed[0].input or "null") == {"sku": "A-1"}
    await engine.complete_token(handed[0].token, {"output": {"picked": True}})
    done = await finished(engine, started.arn)
    assert json.loads(done.output) == {"picked": True}


async def test_a_task_without_heartbeats_times_out(manual: tuple[Harness, ManualClock]) -> None:
    from workflows.engine.records import Activity

    harness, clock = manual
    engine = await harness.engine()
    activity = await engine.store.create_activity(Activity(engine.arn("activity", "hb"), "hb", 0.0))
    flow = await machine(engine, "heartbeat", {
        "StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": activity.arn, "HeartbeatSeconds": 10, "TimeoutSeconds": 100,
                     "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Late"}], "End": True},
            "Late": {"Type": "Pass", "End": True}}})
    started = await engine.start_execution(flow, "hb1", "{}")
    task = await engine.get_activity_task(activity.arn, "w", 1.0)
    assert task is not None
    clock.advance(6)
    await engine.heartbeat(task.token)
    clock.advance(6)  # 12 s after the start, 6 s after the heartbeat: still alive
    await asyncio.sleep(0.1)
    assert (await engine.store.get_execution(started.arn)).status == "RUNNING"
    clock.advance(5)
    done = await finished(engine, started.arn)
    assert done.status == "SUCCEEDED"
    assert json.loads(done.output)["Error"] == "States.HeartbeatTimeout"


async def test_stopping_an_execution_aborts_it_with_the_given_error(manual: tuple[Harness, ManualClock]) -> None:
    harness, _clock = manual
    engine = await harness.engine()
    waiting = await machine(engine, "waiting", WAIT_AN_HOUR)
    started = await engine.start_execution(waiting, "stopme", "{}")
    await asyncio.sleep(0.05)
    await engine.stop_execution(started.arn, "Cancelled", "by a test")
    done = await finished(engine, started.arn)
    assert (done.status, done.error, done.cause) == ("ABORTED", "Cancelled", "by a test")
    assert (await events_of(engine, started.arn))[-1].type == "ExecutionAborted"


async def test_a_nested_sync_execution_hands_its_output_to_the_parent(harness: Harness) -> None:
    engine = await harness.engine()
    child = await machine(engine, "child", {"StartAt": "C", "States": {
        "C": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"}, "End": True}}})
    parent = await machine(engine, "parent", {"StartAt": "Run", "States": {
        "Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child.arn, "Input": {"n.$": "$.n"}},
                "OutputPath": "$.Output", "End": True}}})
    started = await engine.start_execution(parent, "nest", '{"n": 5}')
    done = await finished(engine, started.arn)
    assert done.status == "SUCCEEDED", done.cause
    assert json.loads(done.output) == {"twice": 10}


async def test_a_retried_task_runs_again_after_its_backoff(harness: Harness) -> None:
    engine = await harness.engine()
    flow = await machine(engine, "retry", {"StartAt": "Flaky", "States": {
        "Flaky": {"Type": "Task", "Resource": FUNCTION + "flaky", "Parameters": {"key": "r1", "failures": 2},
                  "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1.0,
                             "MaxAttempts": 3, "MaxDelaySeconds": 1}],
                  "End": True}}})
    # A real clock here: 2 retries x 1 s.
    started = await engine.start_execution(flow, "r", "{}")
    done = await finished(engine, started.arn, within=15)
    assert done.status == "SUCCEEDED", done.cause
    assert len([c for c in engine_support.CALLS if c["fn"] == "flaky"]) == 3


async def test_a_distributed_map_runs_each_iteration_as_a_child_execution(harness: Harness) -> None:
    from sqlalchemy import select

    engine = await harness.engine()
    flow = await machine(engine, "distributed", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 2,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Double", "States": {
                              "Double": {"Type": "Task", "Resource": FUNCTION + "double",
                                         "Parameters": {"value.$": "$"}, "OutputPath": "$.value", "End": True}}},
        "End": True}}})
    started = await engine.start_execution(flow, "d1", "[1, 2, 3]")
    done = await finished(engine, started.arn)
    assert done.status == "SUCCEEDED", done.cause
    assert json.loads(done.output) == [2, 4, 6]
    types = [e.type for e in await events_of(engine, started.arn)]
    assert "MapRunStarted" in types and "MapRunSucceeded" in types and "MapIterationStarted" not in types

    children = await engine.store.db.read(lambda conn: conn.execute(
        select(tables.executions.c.arn, tables.executions.c.status)
        .where(tables.executions.c.state_machine_arn == engine.arn("stateMachine", "distributed/Each"))).all())
    assert len(children) == 3 and {status for _, status in children} == {"SUCCEEDED"}
    child_history = [e.type for e in await events_of(engine, children[0][0])]
    assert child_history[0] == "ExecutionStarted" and child_history[-1] == "ExecutionSucceeded"


async def test_a_failed_child_execution_fails_the_distributed_map(harness: Harness) -> None:
    engine = await harness.engine()
    flow = await machine(engine, "distributed-fail", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Check", "States": {
                              "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2,
                                                                      "Next": "Bad"}], "Default": "Good"},
                              "Bad": {"Type": "Fail", "Error": "BadItem", "Cause": "two"},
                              "Good": {"Type": "Succeed"}}},
        "End": True}}})
    started = await engine.start_execution(flow, "d2", "[1, 2, 3]")
    done = await finished(engine, started.arn)
    assert (done.status, done.error, done.cause) == ("FAILED", "BadItem", "two")


async def test_a_task_token_cannot_be_derived_from_the_execution_it_belongs_to(tmp_path: Any) -> None:
    """The same definition, execution name and state in two deployments get different tokens: a token
    is the capability to answer its task, so nothing public may determine it."""
    tokens = []
    for deployment in ("one", "two"):
        engine_support.CALLS.clear()
        harness = Harness(f"sqlite:///{tmp_path / deployment}.db")
        try:
            engine = await harness.engine()
            callback = await machine(engine, "callback", {"StartAt": "Ask", "States": {"Ask": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "double", "Payload": {"value": 1, "token.$": "$$.Task.Token"}},
                "End": True}}})
            await engine.start_execution(callback, "same-name", "{}")
            for _ in range(200):
                if engine_support.CALLS:
                    break
                await asyncio.sleep(0.01)
            tokens.append(engine_support.CALLS[0]["event"]["token"])
        finally:
            await harness.close()
    assert tokens[0] != tokens[1]
    assert all(len(token) >= 64 for token in tokens)
