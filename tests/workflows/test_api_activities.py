"""Activities through botocore: the activity API, and a worker written the way AWS's docs write one
(a GetActivityTask loop answering with SendTaskSuccess/Failure/Heartbeat) serving running executions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.workflows.api_support import (
    ACCOUNT,
    DATABASES,
    REGION,
    Served,
    create_machine,
    database_for,
    error_code,
    served_workflows,
    wait_until_done,
)


@pytest.fixture(scope="module", params=DATABASES)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"sfn-activities-{request.param}")
    with served_workflows(folder, database_for(request.param, folder), activity_poll_seconds=0.3) as app:
        yield app


@pytest.fixture
def sfn(served: Served) -> Any:
    return served.client()


def _machine(activity_arn: str) -> dict[str, Any]:
    return {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity_arn,
                                                   "HeartbeatSeconds": 600, "TimeoutSeconds": 900, "End": True}}}


def test_activities_are_created_idempotently_described_listed_and_deleted(sfn: Any) -> None:
    created = sfn.create_activity(name="packing")
    assert created["activityArn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:activity:packing"
    assert sfn.create_activity(name="packing")["activityArn"] == created["activityArn"]
    described = sfn.describe_activity(activityArn=created["activityArn"])
    assert (described["name"], described["creationDate"]) == ("packing", created["creationDate"])
    for index in range(3):
        sfn.create_activity(name=f"listed-{index}")
    first = sfn.list_activities(maxResults=2)
    rest = sfn.list_activities(maxResults=1000, nextToken=first["nextToken"])
    names = [a["name"] for a in first["activities"] + rest["activities"]]
    assert {"packing", "listed-0", "listed-1", "listed-2"} <= set(names) and len(names) == len(set(names))

    sfn.delete_activity(activityArn=created["activityArn"])
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        sfn.describe_activity(activityArn=created["activityArn"])
    assert error_code(gone.value) == "ActivityDoesNotExist"
    assert gone.value.response["Error"]["Message"] == f"Activity Does Not Exist: '{created['activityArn']}'"


@pytest.mark.parametrize("bad", ["activity name", "activity{name", "activity*name", "activity$name"])
def test_an_activity_name_with_forbidden_characters_is_invalid(sfn: Any, bad: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.create_activity(name=bad)
    assert error_code(refused.value) == "InvalidName"
    assert refused.value.response["Error"]["Message"] == f"Invalid Name: '{bad}'"


def test_polling_an_activity_without_tasks_answers_with_no_task(sfn: Any) -> None:
    arn = sfn.create_activity(name="idle")["activityArn"]
    answer = sfn.get_activity_task(activityArn=arn, workerName="idle-worker")
    assert "taskToken" not in answer and "input" not in answer


def test_polling_an_unknown_activity_is_refused(sfn: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.get_activity_task(activityArn=f"arn:aws:states:{REGION}:{ACCOUNT}:activity:never-made")
    assert error_code(refused.value) == "ActivityDoesNotExist"


def _worker(sfn: Any, activity_arn: str, expected: int, handled: list[dict[str, Any]]) -> None:
    """An activity worker: poll, heartbeat, then succeed — or fail when the input asks for it."""
    while len(handled) < expected:
        task = sfn.get_activity_task(activityArn=activity_arn, workerName="test-worker")
        if "taskToken" not in task:
            continue
        work = json.loads(task["input"])
        handled.append(work)
        sfn.send_task_heartbeat(taskToken=task["taskToken"])
        if work.get("fail"):
            sfn.send_task_failure(taskToken=task["taskToken"], error="Packing.Failed", cause=f"box {work['box']}")
        else:
            sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"packed": work["box"]}))


def test_a_botocore_activity_worker_processes_the_tasks_of_running_executions(
        served: Served, sfn: Any, request: pytest.FixtureRequest) -> None:
    activity = sfn.create_activity(name="boxing")["activityArn"]
    machine = create_machine(sfn, "boxing-machine", _machine(activity))
    inputs = [{"box": 1}, {"box": 2, "fail": True}, {"box": 3}]
    executions = [sfn.start_execution(stateMachineArn=machine, input=json.dumps(i))["executionArn"] for i in inputs]
    handled: list[dict[str, Any]] = []
    worker = threading.Thread(target=_worker, args=(served.client(), activity, len(inputs), handled), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert sorted(work["box"] for work in handled) == [1, 2, 3]  # each task handed to the worker once

    outcomes = [wait_until_done(sfn, arn) for arn in executions]
    assert [o["status"] for o in outcomes] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert json.loads(outcomes[0]["output"]) == {"packed": 1}
    assert (outcomes[1]["error"], outcomes[1]["cause"]) == ("Packing.Failed", "box 2")
    types = [e["type"] for e in sfn.get_execution_history(executionArn=executions[0])["events"]]
    assert types[:5] == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                         "ActivitySucceeded"]


def test_task_answers_are_checked(served: Served, sfn: Any) -> None:
    activity = sfn.create_activity(name="checked")["activityArn"]
    machine = create_machine(sfn, "checked-machine", _machine(activity))
    execution = sfn.start_execution(stateMachineArn=machine, input='{"box": 9}')["executionArn"]
    task: dict[str, Any] = {}
    for _ in range(20):  # each poll waits at most 0.3 s here
        task = sfn.get_activity_task(activityArn=activity)
        if "taskToken" in task:
            break
    assert json.loads(task["input"]) == {"box": 9}
    with pytest.raises(botocore.exceptions.ClientError) as not_json:
        sfn.send_task_success(taskToken=task["taskToken"], output="{not json")
    assert error_code(not_json.value) == "InvalidOutput"
    with pytest.raises(botocore.exceptions.ClientError) as unknown:
        sfn.send_task_success(taskToken="no-such-token", output="{}")
    assert error_code(unknown.value) == "TaskDoesNotExist"
    sfn.send_task_success(taskToken=task["taskToken"], output='{"ok": true}')
    assert wait_until_done(sfn, execution)["status"] == "SUCCEEDED"
    with pytest.raises(botocore.exceptions.ClientError) as again:
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert error_code(again.value) in ("TaskDoesNotExist", "TaskTimedOut")
    with pytest.raises(botocore.exceptions.ClientError) as late_beat:
        sfn.send_task_heartbeat(taskToken=task["taskToken"])
    assert error_code(late_beat.value) in ("TaskDoesNotExist", "TaskTimedOut")
