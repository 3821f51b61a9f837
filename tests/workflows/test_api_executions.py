"""The Step Functions API for executions (Standard and Express), history, TestState and redrive,
through botocore's real ``stepfunctions`` client against a served Trellis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.workflows import api_support
from tests.workflows.api_support import (
    DATABASES,
    PASS_MACHINE,
    Served,
    create_machine,
    database_for,
    error_code,
    served_workflows,
    wait_until_done,
)
from tests.workflows.conformance import compare, recorded_cases

DOUBLE = {"StartAt": "Double", "States": {
    "Double": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
               "Parameters": {"FunctionName": "double", "Payload.$": "$"},
               "ResultSelector": {"n.$": "$.Payload.doubled"}, "End": True}}}
WAITS = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
FAILS = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Custom.Boom", "Cause": "it broke"}}}


@pytest.fixture(scope="module", params=DATABASES)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"sfn-exec-{request.param}")
    with served_workflows(folder, database_for(request.param, folder)) as app:
        yield app


@pytest.fixture
def sfn(served: Served) -> Any:
    return served.client()


def _name(request: pytest.FixtureRequest) -> str:
    return request.node.name[:60].replace("[", "-").replace("]", "")


def test_an_execution_runs_a_task_and_is_described_with_its_output(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), DOUBLE)
    started = sfn.start_execution(stateMachineArn=arn, name="first", input='{"n": 21}')
    assert started["executionArn"].endswith(f":execution:{_name(request)}:first")
    described = wait_until_done(sfn, started["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 42}
    assert json.loads(described["input"]) == {"n": 21}
    assert described["startDate"] == started["startDate"] and described["stopDate"] >= described["startDate"]
    assert described["redriveStatus"] == "NOT_REDRIVABLE"


def test_a_failed_execution_reports_its_error_and_cause(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), FAILS)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    described = wait_until_done(sfn, execution)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Custom.Boom", "it broke")
    assert "output" not in described and described["redriveStatus"] == "REDRIVABLE"


def test_starting_an_execution_with_the_same_name_is_idempotent_only_while_it_runs_with_the_same_input(
        sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), WAITS)
    first = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a":1}')
    assert again["executionArn"] == first["executionArn"] and again["startDate"] == first["startDate"]
    with pytest.raises(botocore.exceptions.ClientError) as other_input:
        sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 2}')
    assert error_code(other_input.value) == "ExecutionAlreadyExists"
    assert other_input.value.response["Error"]["Message"] == f"Execution Already Exists: '{first['executionArn']}'"

    stopped = sfn.stop_execution(executionArn=first["executionArn"], error="Operator.Stop", cause="enough")
    described = sfn.describe_execution(executionArn=first["executionArn"])
    assert (described["status"], described["error"], described["cause"]) == ("ABORTED", "Operator.Stop", "enough")
    assert stopped["stopDate"] >= first["startDate"]
    with pytest.raises(botocore.exceptions.ClientError) as ended:
        sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 1}')
    assert error_code(ended.value) == "ExecutionAlreadyExists"


def test_input_that_is_not_json_is_refused_with_aws_message(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request))
    with pytest.raises(botocore.exceptions.ClientError) as token:
        sfn.start_execution(stateMachineArn=arn, input="not json")
    assert error_code(token.value) == "InvalidExecutionInput"
    assert token.value.response["Error"]["Message"] == (
        "Invalid State Machine Execution Input: 'Unrecognized token 'not': was expecting (JSON String, Number, "
        "Array, Object or token 'null', 'true' or 'false')'")
    with pytest.raises(botocore.exceptions.ClientError) as quote:
        sfn.start_execution(stateMachineArn=arn, input="{'a': 1}")
    assert quote.value.response["Error"]["Message"] == (
        "Invalid State Machine Execution Input: 'Unexpected character (''' (code 39)): was expecting double-quote "
        "to start field name'")


def test_starting_or_describing_what_does_not_exist_names_it(sfn: Any, served: Served) -> None:
    engine = served.runtime.workflows
    missing_machine = engine.arn("stateMachine", "nobody")
    with pytest.raises(botocore.exceptions.ClientError) as no_machine:
        sfn.start_execution(stateMachineArn=missing_machine)
    assert no_machine.value.response["Error"]["Message"] == f"State Machine Does Not Exist: '{missing_machine}'"
    missing_execution = engine.arn("execution", "nobody", "nothing")
    with pytest.raises(botocore.exceptions.ClientError) as no_execution:
        sfn.describe_execution(executionArn=missing_execution)
    assert error_code(no_execution.value) == "ExecutionDoesNotExist"
    assert no_execution.value.response["Error"]["Message"] == f"Execution Does Not Exist: '{missing_execution}'"


def test_history_pages_forwards_and_backwards(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), DOUBLE)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"n": 2}')["executionArn"]
    wait_until_done(sfn, execution)
    everything = sfn.get_execution_history(executionArn=execution)["events"]
    types = [event["type"] for event in everything]
    assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded",
                     "TaskStateExited", "ExecutionSucceeded"]
    assert [event["id"] for event in everything] == list(range(1, 8))

    def pages(**options: Any) -> list[list[int]]:
        found: list[list[int]] = []
        token = None
        while True:
            page = sfn.get_execution_history(executionArn=execution, maxResults=3,
                                             **options, **({"nextToken": token} if token else {}))
            found.append([event["id"] for event in page["events"]])
            token = page.get("nextToken")
            if token is None:
                return found

    assert pages() == [[1, 2, 3], [4, 5, 6], [7]]
    assert pages(reverseOrder=True) == [[7, 6, 5], [4, 3, 2], [1]]
    without_data = sfn.get_execution_history(executionArn=execution, includeExecutionData=False)["events"]
    assert "input" not in without_data[0]["executionStartedEventDetails"]
    assert json.loads(everything[0]["executionStartedEventDetails"]["input"]) == {"n": 2}


def test_executions_are_listed_newest_first_by_status_and_in_pages(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), FAILS)
    arns = []
    for index in range(3):
        arns.append(sfn.start_execution(stateMachineArn=arn, name=f"run-{index}")["executionArn"])
        wait_until_done(sfn, arns[-1])
    waiting = create_machine(sfn, _name(request)[:50] + "-waits", WAITS)
    running = sfn.start_execution(stateMachineArn=waiting)["executionArn"]
    first = sfn.list_executions(stateMachineArn=arn, maxResults=2)
    second = sfn.list_executions(stateMachineArn=arn, maxResults=2, nextToken=first["nextToken"])
    assert [e["executionArn"] for e in first["executions"] + second["executions"]] == arns[::-1]
    assert "nextToken" not in second
    assert {e["status"] for e in sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]} == \
        {"FAILED"}
    assert sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"] == []
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=waiting,
                                                           statusFilter="RUNNING")["executions"]] == [running]
    with pytest.raises(botocore.exceptions.ClientError) as bad_filter:
        sfn.list_executions(stateMachineArn=arn, statusFilter="succeeded")
    assert bad_filter.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'succeeded' at 'statusFilter' failed to satisfy constraint: Member must "
        "satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, RUNNING]")
    sfn.stop_execution(executionArn=running)


def test_an_execution_keeps_the_definition_it_started_with(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), WAITS)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=PASS_MACHINE)
    described = sfn.describe_state_machine_for_execution(executionArn=execution)
    assert json.loads(described["definition"]) == WAITS
    assert described["stateMachineArn"] == arn and described["name"] == _name(request)
    sfn.stop_execution(executionArn=execution)


def test_start_sync_execution_runs_an_express_machine_to_its_end(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), DOUBLE, "EXPRESS")
    answer = sfn.start_sync_execution(stateMachineArn=arn, name="sync-run", input='{"n": 5}')
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"n": 10}
    assert answer["executionArn"].startswith(arn.replace(":stateMachine:", ":express:") + ":sync-run:")
    assert answer["billingDetails"]["billedDurationInMilliseconds"] >= 100
    failing = sfn.start_sync_execution(stateMachineArn=arn, input='{"n": 1, "fail": true}')
    assert failing["status"] == "FAILED" and failing["error"] == "ValueError"
    assert json.loads(failing["cause"])["errorMessage"] == "asked to fail"


def test_start_sync_execution_is_refused_for_a_standard_machine(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.start_sync_execution(stateMachineArn=arn)
    assert error_code(refused.value) == "StateMachineTypeNotSupported"
    assert refused.value.response["Error"]["Message"] == \
        "This operation is not supported by this type of state machine"


def test_an_asynchronous_express_execution_cannot_be_described(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), PASS_MACHINE, "EXPRESS")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert ":express:" in execution
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.describe_execution(executionArn=execution)
    assert refused.value.response["Error"]["Message"] == \
        "Invalid Arn: 'Resource type not valid in this context: express'"
    with pytest.raises(botocore.exceptions.ClientError) as not_listed:
        sfn.list_executions(stateMachineArn=arn)
    assert error_code(not_listed.value) == "StateMachineTypeNotSupported"


# -- TestState ---------------------------------------------------------------------------------------------


def test_test_state_runs_one_pass_state_and_shows_each_stage_at_debug(sfn: Any) -> None:
    state = {"Type": "Pass", "InputPath": "$.initialData",
             "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"},
             "ResultPath": "$.modifiedData", "Next": "After"}
    given = {"initialData": {"fieldFromInput": "value from input", "otherField": "other"}}
    answer = sfn.test_state(definition=json.dumps(state), input=json.dumps(given), inspectionLevel="DEBUG")
    assert answer["status"] == "SUCCEEDED" and answer["nextState"] == "After"
    expected_output = {**given, "modifiedData": {"staticValue": "some value", "inputValue": "value from input"}}
    assert json.loads(answer["output"]) == expected_output
    data = {key: json.loads(value) for key, value in answer["inspectionData"].items()}
    assert data["afterInputPath"] == given["initialData"]
    assert data["afterParameters"] == expected_output["modifiedData"]
    assert data["afterResultPath"] == expected_output
    info = sfn.test_state(definition=json.dumps(state), input=json.dumps(given))
    assert "inspectionData" not in info


def test_test_state_picks_a_state_of_a_whole_machine_and_calls_its_task(sfn: Any) -> None:
    answer = sfn.test_state(definition=json.dumps(DOUBLE), stateName="Double", input='{"n": 4}')
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"n": 8}
    failed = sfn.test_state(definition=json.dumps(FAILS), stateName="Boom")
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Custom.Boom", "it broke")


def test_test_state_says_whether_a_task_error_would_be_retried_or_caught(sfn: Any) -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "double", "Payload": {"n": 1, "fail": True}}, "End": True}
    retried = sfn.test_state(definition=json.dumps({**task, "Retry": [{"ErrorEquals": ["States.ALL"]}]}))
    assert (retried["status"], retried["error"]) == ("RETRIABLE", "ValueError")
    caught = sfn.test_state(definition=json.dumps({**task, "Catch": [{"ErrorEquals": ["States.ALL"],
                                                                      "Next": "Recover"}]}))
    assert (caught["status"], caught["nextState"], caught["error"]) == ("CAUGHT_ERROR", "Recover", "ValueError")
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        sfn.test_state(definition=json.dumps(DOUBLE), stateName="Nope")
    assert error_code(missing.value) == "ValidationException"


# -- RedriveExecution --------------------------------------------------------------------------------------


def test_a_failed_execution_is_redriven_from_the_state_that_failed(sfn: Any, request: pytest.FixtureRequest) -> None:
    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": {"step": 1}, "ResultPath": "$.prepared", "Assign": {"who": "prep"},
                    "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "flaky", "Payload": {"input.$": "$", "who.$": "$who"}},
                  "OutputPath": "$.Payload", "End": True}}}
    arn = create_machine(sfn, _name(request), definition)
    api_support.FLAKY["failing"] = True
    execution = sfn.start_execution(stateMachineArn=arn, input='{"order": 7}')["executionArn"]
    assert wait_until_done(sfn, execution)["status"] == "FAILED"
    with pytest.raises(botocore.exceptions.ClientError) as not_yet:
        sfn.redrive_execution(executionArn=arn.replace(":stateMachine:", ":execution:") + ":missing")
    assert error_code(not_yet.value) == "ExecutionDoesNotExist"

    api_support.FLAKY["failing"] = False
    sfn.redrive_execution(executionArn=execution)
    described = wait_until_done(sfn, execution)
    assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1
    # Flaky ran again with the input it had and the variable Prepare had assigned.
    assert json.loads(described["output"]) == {"fixed": {"input": {"order": 7, "prepared": {"step": 1}},
                                                          "who": "prep"}}
    types = [event["type"] for event in sfn.get_execution_history(executionArn=execution)["events"]]
    assert types.count("PassStateEntered") == 1  # Prepare did not run again
    assert types[types.index("ExecutionFailed") + 1] == "ExecutionRedriven"
    with pytest.raises(botocore.exceptions.ClientError) as succeeded:
        sfn.redrive_execution(executionArn=execution)
    assert error_code(succeeded.value) == "ExecutionNotRedrivable"


# -- AWS's recordings through the API -----------------------------------------------------------------------


def test_the_recorded_api_and_base_cases_run_through_the_api_as_on_aws(served: Served) -> None:
    cases = [case for case in recorded_cases() if case["area"] in ("api", "base") and not case.get("has_wait")]
    sfn = served.client()
    problems: dict[str, list[str]] = {}
    for index, case in enumerate(cases):
        arn = create_machine(sfn, f"conformance-{index}", case["definition_json"])
        execution = sfn.start_execution(stateMachineArn=arn, input=case["input_json"])["executionArn"]
        described = wait_until_done(sfn, execution)
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        output = json.loads(described["output"]) if "output" in described else None
        found = compare(case, described["status"], output, described.get("error"), described.get("cause"),
                        [event["type"] for event in events])
        if found:
            problems[case["id"]] = found
    assert problems == {}


DISTRIBUTED = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "MaxConcurrency": 2,
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "Double", "States": {"Double": {
                          "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                          "Parameters": {"FunctionName": "double", "Payload": {"n.$": "$"}},
                          "OutputPath": "$.Payload.doubled", "End": True}}},
    "End": True}}}


def test_a_distributed_map_run_is_described_listed_and_its_child_executions_listed(
        sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request), DISTRIBUTED)
    started = sfn.start_execution(stateMachineArn=arn, name="fan-out", input="[1, 2, 3]")
    described = wait_until_done(sfn, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"]) == [2, 4, 6]

    runs = sfn.list_map_runs(executionArn=started["executionArn"])["mapRuns"]
    assert len(runs) == 1 and runs[0]["executionArn"] == started["executionArn"]
    map_run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    assert map_run["status"] == "SUCCEEDED" and map_run["maxConcurrency"] == 2
    assert map_run["executionCounts"]["succeeded"] == 3 and map_run["executionCounts"]["total"] == 3

    children = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"])["executions"]
    assert len(children) == 3 and {child["status"] for child in children} == {"SUCCEEDED"}
    child = sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert json.loads(child["output"]) in (2, 4, 6)
    assert sfn.get_execution_history(executionArn=children[0]["executionArn"])["events"][0]["type"] == \
        "ExecutionStarted"
    with pytest.raises(botocore.exceptions.ClientError) as both:
        sfn.list_executions(mapRunArn=runs[0]["mapRunArn"], stateMachineArn=arn)
    assert error_code(both.value) == "ValidationException"
