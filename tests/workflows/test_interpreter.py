"""The interpreter on AWS documentation examples (input/output processing, Retry/Catch, Map,
Parallel, variables), plus retry backoff timing, task time limits, Fork progress and Cursor JSON
round trips. Executions run through ``LocalRunner`` with a ``ManualClock``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from workflows import errors
from workflows.clock import ManualClock
from workflows.engine.local import LocalRunner, RecordedHistory, RunResult, execution_info
from workflows.errors import StatesError
from workflows.language.interpreter import (
    Cursor,
    Ended,
    Failed,
    Fork,
    Invoke,
    Moved,
    Resumed,
    Sleep,
    Suspended,
    advance,
    fork_progress,
)

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction"
START = 1_700_000_000.0


class FakeTasks:
    """A task runner that answers from a script: per call, a value or a StatesError to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[float, Invoke]] = []
        self.clock: ManualClock | None = None

    async def __call__(self, invoke: Invoke, execution: Any) -> Any:
        assert self.clock is not None
        self.calls.append((self.clock.now() - START, invoke))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, StatesError):
            raise answer
        if answer == "hang":
            await asyncio.Event().wait()
        return answer


async def run(definition: dict[str, Any], execution_input: Any = None, tasks: FakeTasks | None = None,
              random_value: float = 0.5) -> RunResult:
    clock = ManualClock(START)
    if tasks is not None:
        tasks.clock = clock
    runner = LocalRunner(definition, clock=clock, invoke=tasks, random=lambda: random_value)
    return await runner.run({} if execution_input is None else execution_input)


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": LAMBDA, **fields}


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def event_types(result: RunResult) -> list[str]:
    return [event["type"] for event in result.history]


# --- input and output processing (AWS: "Example: Manipulating state data with paths") ----------

DOCS_INPUT = {"comment": "This is a test of the input and output of a Task state.",
              "details": "Default example", "who": "AWS Step Functions"}

PROCESSING_EXAMPLES = [
    pytest.param({"ResultPath": "$.taskresult"}, DOCS_INPUT, "Hello, AWS Step Functions!",
                 {**DOCS_INPUT, "taskresult": "Hello, AWS Step Functions!"}, id="ResultPath adds the result"),
    pytest.param({}, DOCS_INPUT, "Hello, AWS Step Functions!", "Hello, AWS Step Functions!",
                 id="the default ResultPath replaces the input"),
    pytest.param({"ResultPath": None}, DOCS_INPUT, "ignored", DOCS_INPUT, id="ResultPath null keeps the input"),
    pytest.param({"ResultPath": "$.who"}, DOCS_INPUT, "Hello!", {**DOCS_INPUT, "who": "Hello!"},
                 id="ResultPath replaces an existing field"),
    pytest.param({"InputPath": "$.dataset2", "Parameters": {"v.$": "$.val1"}},
                 {"comment": "Example for InputPath.", "dataset1": {"val1": 1}, "dataset2": {"val1": "a"}},
                 "ok", "ok", id="InputPath selects before Parameters"),
    pytest.param({"ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"},
                  "ResultPath": "$.EMROutput"},
                 {"in": 1}, {"resourceType": "elasticmapreduce", "output": {"SdkHttpMetadata": {}, "ClusterId": "AKIAI"}},
                 {"in": 1, "EMROutput": {"ClusterId": "AKIAI", "ResourceType": "elasticmapreduce"}},
                 id="ResultSelector shapes the result before ResultPath"),
    pytest.param({"ResultPath": "$.result", "OutputPath": "$.result"}, {"x": 1}, {"y": 2}, {"y": 2},
                 id="OutputPath filters after ResultPath"),
]


@pytest.mark.parametrize(("fields", "execution_input", "task_result", "expected"), PROCESSING_EXAMPLES)
async def test_task_input_and_output_are_processed_in_aws_order(fields: dict[str, Any], execution_input: Any,
                                                                task_result: Any, expected: Any) -> None:
    result = await run(machine(Hello=task(End=True, **fields)), execution_input, FakeTasks(task_result))
    assert (result.status, result.output) == ("SUCCEEDED", expected)


async def test_the_task_receives_the_effective_parameters_with_context_values() -> None:
    tasks = FakeTasks({})
    await run(machine(T=task(Parameters={"name.$": "$.who", "state.$": "$$.State.Name", "fixed": 1}, End=True)),
              DOCS_INPUT, tasks)
    assert tasks.calls[0][1].payload == {"name": "AWS Step Functions", "state": "T", "fixed": 1}


async def test_jsonata_task_takes_arguments_and_shapes_output_from_states_result() -> None:
    tasks = FakeTasks({"Payload": {"total": 5}})
    definition = {"QueryLanguage": "JSONata", **machine(T=task(
        Arguments={"n": "{% $states.input.n * 2 %}"},
        Output={"total": "{% $states.result.Payload.total %}", "was": "{% $states.input.n %}"}, End=True))}
    result = await run(definition, {"n": 3}, tasks)
    assert tasks.calls[0][1].payload == {"n": 6}
    assert result.output == {"total": 5, "was": 3}


# --- Retry (AWS: "Handling errors in Step Functions workflows") ---------------------------------

async def test_retry_backs_off_by_interval_times_backoff_rate() -> None:
    retrier = {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5}
    tasks = FakeTasks(StatesError(errors.TIMEOUT, "slow"))
    result = await run(machine(T=task(Retry=[retrier], End=True)), {}, tasks)
    assert [moment for moment, _ in tasks.calls] == [0.0, 3.0, 7.5]
    assert (result.status, result.error, result.cause) == ("FAILED", errors.TIMEOUT, "slow")


async def test_retry_delay_is_capped_by_max_delay_seconds() -> None:
    retrier = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 10,
               "MaxDelaySeconds": 30}
    tasks = FakeTasks(StatesError("Boom", None))
    await run(machine(T=task(Retry=[retrier], End=True)), {}, tasks)
    assert [moment for moment, _ in tasks.calls] == [0.0, 2.0, 22.0, 52.0, 82.0]


async def test_full_jitter_scales_the_delay_by_the_injected_random_value() -> None:
    retrier = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 4, "MaxAttempts": 2, "JitterStrategy": "FULL"}
    tasks = FakeTasks(StatesError("Boom", None))
    await run(machine(T=task(Retry=[retrier], End=True)), {}, tasks, random_value=0.25)
    assert [moment for moment, _ in tasks.calls] == [0.0, 1.0, 3.0]


async def test_max_attempts_zero_never_retries_and_stops_the_retrier_search() -> None:
    retriers = [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]
    tasks = FakeTasks(StatesError("Boom", "x"))
    result = await run(machine(T=task(Retry=retriers, End=True)), {}, tasks)
    assert len(tasks.calls) == 1
    assert result.error == "Boom"


async def test_retry_count_is_visible_in_the_context_object() -> None:
    tasks = FakeTasks(StatesError("Boom", None), StatesError("Boom", None), "done")
    definition = machine(T=task(Parameters={"try.$": "$$.State.RetryCount"},
                                Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 1}], End=True))
    result = await run(definition, {}, tasks)
    assert [call.payload for _, call in tasks.calls] == [{"try": 0}, {"try": 1}, {"try": 2}]
    assert result.output == "done"


async def test_task_failed_matches_any_error_but_a_timeout() -> None:
    catch = [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]
    definition = machine(T=task(Catch=catch, End=True), Caught={"Type": "Pass", "End": True})
    caught = await run(definition, {}, FakeTasks(StatesError("Lambda.Unknown", "x")))
    missed = await run(definition, {}, FakeTasks(StatesError(errors.TIMEOUT, "x")))
    assert caught.status == "SUCCEEDED"
    assert (missed.status, missed.error) == ("FAILED", errors.TIMEOUT)


# --- Catch ---------------------------------------------------------------------------------------

async def test_catch_puts_the_error_output_at_its_result_path() -> None:
    definition = machine(
        T=task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Fallback", "ResultPath": "$.error-info"}], End=True),
        Fallback={"Type": "Pass", "End": True})
    result = await run(definition, {"foo": "bar"}, FakeTasks(StatesError("CustomError", "This is a custom error!")))
    assert result.output == {"foo": "bar", "error-info": {"Error": "CustomError", "Cause": "This is a custom error!"}}
    assert event_types(result) == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                                   "LambdaFunctionStarted", "LambdaFunctionFailed", "TaskStateExited",
                                   "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


async def test_retriers_are_exhausted_before_a_catcher_takes_over() -> None:
    definition = machine(
        T=task(Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 1}],
               Catch=[{"ErrorEquals": ["Boom"], "Next": "Caught"}], End=True),
        Caught={"Type": "Pass", "End": True})
    tasks = FakeTasks(StatesError("Boom", "why"))
    result = await run(definition, {}, tasks)
    assert len(tasks.calls) == 2
    assert result.output == {"Error": "Boom", "Cause": "why"}


async def test_states_all_does_not_catch_a_runtime_error() -> None:
    definition = machine(
        P={"Type": "Parallel", "Branches": [machine(B={"Type": "Pass", "InputPath": "$.missing", "End": True})],
           "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        Caught={"Type": "Pass", "End": True})
    result = await run(definition, {})
    assert (result.status, result.error) == ("FAILED", errors.RUNTIME)


async def test_jsonata_catch_output_and_assign_see_the_error_output() -> None:
    definition = {"QueryLanguage": "JSONata", **machine(
        T=task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "After",
                       "Assign": {"lastError": "{% $states.errorOutput.Error %}"},
                       "Output": {"msg": "{% $states.errorOutput.Cause %}"}}], End=True),
        After={"Type": "Pass", "Output": {"msg": "{% $states.input.msg %}", "error": "{% $lastError %}"},
               "End": True})}
    result = await run(definition, {}, FakeTasks(StatesError("Oops", "it broke")))
    assert result.output == {"msg": "it broke", "error": "Oops"}


# --- Task events ---------------------------------------------------------------------------------

async def test_service_integrations_record_task_events_with_resource_type_and_parameters() -> None:
    definition = machine(T={"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
                            "Parameters": {"a": 1}, "End": True})
    result = await run(definition, {}, FakeTasks({"Buckets": []}))
    assert event_types(result)[2:5] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]
    scheduled = result.history[2]["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"], scheduled["parameters"]) == \
        ("aws-sdk:s3", "listBuckets", '{"a":1}')
    assert result.history[4]["taskSucceededEventDetails"]["output"] == '{"Buckets":[]}'


async def test_a_lambda_function_arn_records_lambda_function_events() -> None:
    result = await run(machine(T=task(End=True)), {"x": 1}, FakeTasks("hi"))
    assert event_types(result)[2:5] == ["LambdaFunctionScheduled", "LambdaFunctionStarted",
                                        "LambdaFunctionSucceeded"]
    assert result.history[2]["lambdaFunctionScheduledEventDetails"]["input"] == '{"x":1}'


async def test_states_timeout_in_error_equals_also_matches_a_missed_heartbeat() -> None:
    definition = machine(T=task(HeartbeatSeconds=5, Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "C"}],
                                End=True), C={"Type": "Pass", "End": True})
    result = await run(definition, {}, FakeTasks("hang"))
    assert result.output == {"Error": errors.HEARTBEAT_TIMEOUT}


# --- Task time limits ----------------------------------------------------------------------------

async def test_a_task_past_its_timeout_fails_with_states_timeout() -> None:
    tasks = FakeTasks("hang")
    result = await run(machine(T=task(TimeoutSeconds=5, End=True)), {}, tasks)
    assert (result.status, result.error) == ("FAILED", errors.TIMEOUT)
    assert "LambdaFunctionTimedOut" in event_types(result)
    assert result.history[-1]["timestamp"] == START + 5


async def test_a_task_without_heartbeats_fails_with_heartbeat_timeout() -> None:
    result = await run(machine(T=task(TimeoutSeconds=60, HeartbeatSeconds=10, End=True)), {}, FakeTasks("hang"))
    assert (result.status, result.error) == ("FAILED", errors.HEARTBEAT_TIMEOUT)
    assert result.history[-1]["timestamp"] == START + 10


async def test_timeout_seconds_path_reads_the_limit_from_the_input() -> None:
    tasks = FakeTasks("hang")
    result = await run(machine(T=task(TimeoutSecondsPath="$.limit", End=True)), {"limit": 7}, tasks)
    assert result.error == errors.TIMEOUT
    assert tasks.calls[0][1].timeout_seconds == 7


async def test_wait_for_task_token_gives_the_token_to_parameters_and_the_invoke() -> None:
    tasks = FakeTasks("resumed")
    definition = machine(T={"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                            "Parameters": {"MessageBody": {"token.$": "$$.Task.Token"}}, "End": True})
    result = await run(definition, {}, tasks)
    invoke = tasks.calls[0][1]
    assert invoke.task_token
    assert invoke.payload == {"MessageBody": {"token": invoke.task_token}}
    assert result.output == "resumed"


# --- Map (AWS: "Map state" examples) -------------------------------------------------------------

SHIPPING = {"ship-date": "2016-03-14T01:59:00Z",
            "detail": {"delivery-partner": "UQS",
                       "shipped": [{"prod": "R31", "dest-code": 9511, "quantity": 1344},
                                   {"prod": "S39", "dest-code": 9511, "quantity": 40}]}}


async def test_map_item_selector_combines_each_item_with_the_input() -> None:
    definition = machine(Validate={
        "Type": "Map", "InputPath": "$.detail", "ItemsPath": "$.shipped", "MaxConcurrency": 0,
        "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner",
                         "index.$": "$$.Map.Item.Index"},
        "ItemProcessor": machine(Check={"Type": "Pass", "End": True}),
        "ResultPath": "$.detail.shipped", "End": True})
    result = await run(definition, SHIPPING)
    assert result.output["detail"]["shipped"] == [
        {"parcel": SHIPPING["detail"]["shipped"][0], "courier": "UQS", "index": 0},  # type: ignore[index]
        {"parcel": SHIPPING["detail"]["shipped"][1], "courier": "UQS", "index": 1},  # type: ignore[index]
    ]


async def test_map_iterations_with_max_concurrency_one_run_one_after_another() -> None:
    definition = machine(M={"Type": "Map", "MaxConcurrency": 1, "End": True,
                            "ItemProcessor": machine(P={"Type": "Pass", "End": True})})
    result = await run(definition, [1, 2])
    assert event_types(result) == [
        "ExecutionStarted", "MapStateEntered", "MapStateStarted",
        "MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded",
        "MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded",
        "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert result.history[3]["mapIterationStartedEventDetails"] == {"name": "M", "index": 0}


async def test_item_batcher_groups_items_with_the_batch_input() -> None:
    definition = machine(M={"Type": "Map", "End": True,
                            "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"factor.$": "$.factor"}},
                            "ItemsPath": "$.items",
                            "ItemProcessor": machine(P={"Type": "Pass", "End": True})})
    result = await run(definition, {"items": [1, 2, 3], "factor": 10})
    assert result.output == [{"Items": [1, 2], "BatchInput": {"factor": 10}},
                             {"Items": [3], "BatchInput": {"factor": 10}}]


async def test_item_batcher_respects_max_input_bytes_per_batch() -> None:
    definition = machine(M={"Type": "Map", "End": True, "ItemBatcher": {"MaxInputBytesPerBatch": 20},
                            "ItemProcessor": machine(P={"Type": "Pass", "End": True})})
    result = await run(definition, ["aaaa", "bbbb", "cccc"])
    # {"Items":["aaaa"]} is 17 bytes; a second item would make 24.
    assert result.output == [{"Items": ["aaaa"]}, {"Items": ["bbbb"]}, {"Items": ["cccc"]}]


async def test_map_fails_once_more_items_fail_than_tolerated() -> None:
    processor = machine(C={"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 1, "Next": "Bad"}],
                           "Default": "Good"},
                        Bad={"Type": "Fail", "Error": "TooBig"}, Good={"Type": "Pass", "End": True})
    tolerant = machine(M={"Type": "Map", "ToleratedFailureCount": 1, "ItemProcessor": processor, "End": True})
    one_bad = await run(tolerant, [1, 2])
    two_bad = await run(tolerant, [1, 2, 3])
    assert one_bad.output == [1, {"Error": "TooBig"}]
    assert (two_bad.status, two_bad.error) == ("FAILED", errors.EXCEED_TOLERATED_FAILURE_THRESHOLD)


async def test_a_failed_iteration_fails_the_map_with_its_error() -> None:
    definition = machine(M={"Type": "Map", "MaxConcurrency": 1, "End": True,
                            "ItemProcessor": machine(F={"Type": "Fail", "Error": "ItemError", "Cause": "bad item"})})
    result = await run(definition, [1, 2])
    assert (result.error, result.cause) == ("ItemError", "bad item")
    assert event_types(result)[-3:] == ["MapIterationFailed", "MapStateFailed", "ExecutionFailed"]


async def test_distributed_map_records_a_map_run_instead_of_iterations() -> None:
    definition = machine(M={"Type": "Map", "End": True, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **machine(P={"Type": "Pass",
                                                                                           "End": True})}})
    result = await run(definition, [1, 2])
    assert result.output == [1, 2]
    assert event_types(result) == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted",
                                   "MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert ":mapRun:" in result.history[3]["mapRunStartedEventDetails"]["mapRunArn"]


# --- Parallel ------------------------------------------------------------------------------------

async def test_parallel_outputs_are_in_branch_order() -> None:
    definition = machine(P={"Type": "Parallel", "End": True, "Branches": [
        machine(A={"Type": "Wait", "Seconds": 5, "Next": "A2"}, A2={"Type": "Pass", "Result": "a", "End": True}),
        machine(B={"Type": "Pass", "Result": "b", "End": True})]})
    result = await run(definition, {})
    assert result.output == ["a", "b"]
    assert "ParallelStateSucceeded" in event_types(result)


async def test_a_failed_branch_fails_the_parallel_state_and_can_be_caught() -> None:
    definition = machine(
        P={"Type": "Parallel", "Next": "Done", "Catch": [{"ErrorEquals": ["BranchError"], "Next": "Caught"}],
           "Branches": [machine(A={"Type": "Wait", "Seconds": 100, "End": True}),
                        machine(B={"Type": "Fail", "Error": "BranchError", "Cause": "b failed"})]},
        Done={"Type": "Pass", "End": True}, Caught={"Type": "Pass", "End": True})
    result = await run(definition, {})
    assert result.output == {"Error": "BranchError", "Cause": "b failed"}
    assert "ParallelStateFailed" in event_types(result)
    assert result.history[-1]["timestamp"] == START  # the waiting branch was stopped, not waited for


# --- variables (AWS: "Passing data between states with variables") ------------------------------

async def test_assign_makes_variables_visible_to_later_states() -> None:
    definition = machine(
        Init={"Type": "Pass", "Assign": {"productName": "product1", "count.$": "$.count"}, "Next": "Use"},
        Use={"Type": "Pass", "Parameters": {"name.$": "$productName", "count.$": "$count"}, "End": True})
    result = await run(definition, {"count": 42})
    assert result.output == {"name": "product1", "count": 42}


async def test_assign_reads_the_variables_from_before_the_state() -> None:
    definition = machine(
        A={"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
        B={"Type": "Pass", "Assign": {"x": 2, "old.$": "$x"}, "Next": "C"},
        C={"Type": "Pass", "Parameters": {"x.$": "$x", "old.$": "$old"}, "End": True})
    result = await run(definition, {})
    assert result.output == {"x": 2, "old": 1}


async def test_a_map_iteration_sees_outer_variables_but_its_own_assignments_stay_inside() -> None:
    definition = machine(
        Init={"Type": "Pass", "Assign": {"factor": 10, "inner": "outer"}, "Next": "M"},
        M={"Type": "Map", "Next": "After", "ItemProcessor": machine(
            I={"Type": "Pass", "Assign": {"seen": "x"}, "Parameters": {"v.$": "$", "f.$": "$factor"}, "End": True})},
        After={"Type": "Pass", "Parameters": {"r.$": "$", "inner.$": "$inner"}, "End": True})
    result = await run(definition, [1, 2])
    assert result.output == {"r": [{"v": 1, "f": 10}, {"v": 2, "f": 10}], "inner": "outer"}


async def test_assigned_variables_are_recorded_in_the_exit_event() -> None:
    result = await run(machine(A={"Type": "Pass", "Assign": {"x": {"a": 1}}, "End": True}), {})
    exited = result.history[2]["stateExitedEventDetails"]
    assert exited["assignedVariables"] == {"x": '{"a":1}'}


async def test_jsonata_output_reads_states_input_and_context() -> None:
    definition = {"QueryLanguage": "JSONata", **machine(S={"Type": "Pass", "Output": {
        "sum": "{% $sum($states.input.values) %}", "state": "{% $states.context.State.Name %}"}, "End": True})}
    result = await run(definition, {"values": [1, 2, 3]})
    assert result.output == {"sum": 6, "state": "S"}


# --- Wait, Choice, Fail --------------------------------------------------------------------------

async def test_wait_seconds_path_sleeps_that_long_on_the_clock() -> None:
    definition = machine(W={"Type": "Wait", "SecondsPath": "$.s", "Next": "P"}, P={"Type": "Pass", "End": True})
    result = await run(definition, {"s": 30})
    assert result.history[-1]["timestamp"] == START + 30


async def test_a_choice_without_match_or_default_fails_with_no_choice_matched() -> None:
    definition = machine(C={"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "P"}]},
                         P={"Type": "Pass", "End": True})
    result = await run(definition, {"x": 2})
    assert result.error == errors.NO_CHOICE_MATCHED


async def test_fail_error_path_and_cause_path_read_the_input() -> None:
    definition = machine(F={"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"})
    result = await run(definition, {"e": "MyError", "c": "because"})
    assert (result.error, result.cause) == ("MyError", "because")


# --- the interpreter alone -----------------------------------------------------------------------

EXECUTION = execution_info("machine", "run-1", {"in": 1}, START)


def test_advance_returns_failed_for_a_state_that_does_not_exist() -> None:
    outcome = advance(machine(A={"Type": "Pass", "Next": "Nowhere"}), Cursor((), "Nowhere", {}), EXECUTION,
                      RecordedHistory(ManualClock()), START)
    assert isinstance(outcome, Failed)
    assert outcome.error == errors.RUNTIME


def test_advance_never_raises_for_a_malformed_state() -> None:
    outcome = advance(machine(A={"Type": "Map", "End": True}), Cursor((), "A", [1]), EXECUTION,
                      RecordedHistory(ManualClock()), START)
    assert isinstance(outcome, Failed)


def test_a_suspended_cursor_survives_a_json_round_trip_and_resumes() -> None:
    definition = machine(W={"Type": "Wait", "Seconds": 10, "Next": "P"}, P={"Type": "Pass", "End": True})
    history = RecordedHistory(ManualClock())
    suspended = advance(definition, Cursor((), "W", {"a": [1]}, variables=({"v": 1},)), EXECUTION, history, START)
    assert isinstance(suspended, Suspended)
    assert suspended.effect == Sleep(START + 10)
    restored = Cursor.from_json(json.loads(json.dumps(suspended.cursor.to_json())))
    assert restored == suspended.cursor
    moved = advance(definition, restored, EXECUTION, history, START + 10, Resumed())
    assert isinstance(moved, Moved)
    assert (moved.cursor.state, moved.cursor.input, moved.cursor.variables) == ("P", {"a": [1]}, ({"v": 1},))


def test_a_cursor_with_a_parallel_scope_and_map_item_round_trips() -> None:
    cursor = Cursor(scope=("P", 1, "M"), state="S", input=[1], attempts=(2, 0), entered_event_id=7,
                    entered_time=START + 1.5, previous_event_id=9, map_item=(3, {"k": "v"}), extra={"phase": "x"})
    assert Cursor.from_json(json.loads(json.dumps(cursor.to_json()))) == cursor


def test_fork_progress_waits_fails_or_finishes() -> None:
    fork = Fork(kind="Parallel", children=())
    assert fork_progress(fork, [Ended(1), None]).action == "continue"
    failed = fork_progress(fork, [None, Failed("E", "c")])
    assert (failed.action, failed.error, failed.cause) == ("fail", "E", "c")
    finished = fork_progress(fork, [Ended(1), Ended(2)])
    assert (finished.action, finished.outputs) == ("finish", [1, 2])


def test_fork_progress_tolerates_failures_by_percentage() -> None:
    fork = Fork(kind="Map", children=(), tolerated_failure_percentage=50)
    assert fork_progress(fork, [Failed("E", None), Ended(1)]).action == "finish"
    assert fork_progress(fork, [Failed("E", None), Failed("E", None), Ended(1)]).error == \
        errors.EXCEED_TOLERATED_FAILURE_THRESHOLD


def test_fork_progress_never_tolerates_a_runtime_error() -> None:
    fork = Fork(kind="Map", children=(), tolerated_failure_count=10)
    assert fork_progress(fork, [Failed(errors.RUNTIME, "x"), None]).error == errors.RUNTIME


async def test_a_distributed_map_iteration_does_not_see_outer_variables() -> None:
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                 **machine(I={"Type": "Pass", "Parameters": {"f.$": "$factor"}, "End": True})}
    definition = machine(Init={"Type": "Pass", "Assign": {"factor": 10}, "Next": "M"},
                         M={"Type": "Map", "ItemProcessor": processor, "End": True})
    result = await run(definition, [1])
    assert (result.status, result.error) == ("FAILED", errors.RUNTIME)


async def test_a_matched_jsonata_choice_rule_uses_its_own_output_and_assign_not_the_states() -> None:
    definition = {"QueryLanguage": "JSONata", **machine(
        C={"Type": "Choice", "Assign": {"path": "default"}, "Output": {"from": "default"}, "Default": "End",
           "Choices": [{"Condition": "{% $states.input.n > 1 %}", "Next": "End",
                        "Assign": {"path": "rule"}, "Output": {"from": "rule"}}]},
        End={"Type": "Pass", "Output": {"got": "{% $states.input.from %}", "path": "{% $path %}"}, "End": True})}
    matched = await run(definition, {"n": 2})
    defaulted = await run(definition, {"n": 0})
    assert matched.output == {"got": "rule", "path": "rule"}
    assert defaulted.output == {"got": "default", "path": "default"}


async def test_parallel_result_selector_and_result_path_shape_the_branch_outputs() -> None:
    definition = machine(P={"Type": "Parallel", "End": True, "ResultPath": "$.results",
                            "ResultSelector": {"first.$": "$[0].v", "second.$": "$[1].v"},
                            "Branches": [machine(A={"Type": "Pass", "Parameters": {"v.$": "$.a"}, "End": True}),
                                         machine(B={"Type": "Pass", "Parameters": {"v.$": "$.b"}, "End": True})]})
    result = await run(definition, {"a": 1, "b": 2})
    assert result.output == {"a": 1, "b": 2, "results": {"first": 1, "second": 2}}


async def test_jsonata_map_item_selector_reads_the_item_from_the_context() -> None:
    definition = {"QueryLanguage": "JSONata", **machine(M={
        "Type": "Map", "Items": "{% $states.input.list %}", "End": True,
        "ItemSelector": {"value": "{% $states.context.Map.Item.Value %}",
                         "index": "{% $states.context.Map.Item.Index %}"},
        "ItemProcessor": machine(P={"Type": "Pass", "End": True})})}
    result = await run(definition, {"list": ["a", "b"]})
    assert result.output == [{"value": "a", "index": 0}, {"value": "b", "index": 1}]


WAIT_FAILURES = [
    pytest.param({"SecondsPath": "$.s"}, {"s": 1.5},
                 "The SecondsPath parameter cannot be parsed as a long value: $.s == 1.5", id="fractional seconds"),
    pytest.param({"SecondsPath": "$.s"}, {"s": -1},
                 "The SecondsPath parameter references a negative value: $.s == -1", id="negative seconds"),
    pytest.param({"TimestampPath": "$.t"}, {"t": "2016-03-14 01:59:00Z"},
                 "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format "
                 "string: $.t == 2016-03-14 01:59:00Z", id="timestamp without T"),
]


@pytest.mark.parametrize(("fields", "execution_input", "detail"), WAIT_FAILURES)
async def test_a_wait_state_rejects_values_it_cannot_wait_for_with_aws_texts(fields: dict[str, Any],
                                                                           execution_input: Any, detail: str) -> None:
    result = await run(machine(W={"Type": "Wait", "End": True, **fields}), execution_input)
    assert (result.error, result.cause) == (
        errors.RUNTIME, f"An error occurred while executing the state 'W' (entered at the event id #2). {detail}")


async def test_a_map_retry_starts_the_iterations_again() -> None:
    definition = machine(M={"Type": "Map", "End": True, "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1}],
                            "ItemProcessor": machine(F={"Type": "Fail", "Error": "E"})})
    result = await run(definition, [1])
    assert event_types(result).count("MapStateStarted") == 2
    assert event_types(result)[-2:] == ["MapStateFailed", "ExecutionFailed"]
