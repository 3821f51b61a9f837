"""``trellis workflows``, run as the real command: ``run`` locally in memory, and ``list``,
``machines``, ``describe`` and ``history`` over the executions a server recorded in its database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datasources.sql import open_database
from tests.conftest import REPO
from tests.workflows.engine_support import finished
from workflows.engine.engine import WorkflowEngine
from workflows.engine.records import StateMachine
from workflows.engine.store import SqlExecutionStore
from workflows.engine.tasks import TaskRegistry

GREET = {"StartAt": "Greet", "States": {"Greet": {
    "Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"}, "End": True}}}
REFUSE = {"StartAt": "Refuse", "States": {"Refuse": {"Type": "Fail", "Error": "Nope", "Cause": "not today"}}}
DOUBLE = {"StartAt": "Double", "States": {"Double": {
    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "double", "Payload": {"value.$": "$.n"}},
    "OutputPath": "$.Payload", "End": True}}}


def trellis(*args: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "workflows", *args, "--schema",
                           str(folder / "schema.graphql")], cwd=REPO, env={**os.environ, "TRELLIS_DATA_DIR":
                                                                            str(folder / ".trellis")},
                          capture_output=True, text=True, timeout=60, check=False)


def trellis_each(folder: Path, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands, run side by side (each is a whole Python start-up)."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: trellis(*args, folder=folder), commands))


def app_folder(tmp_path: Path, config: str = "") -> Path:
    (tmp_path / "schema.graphql").write_text("type Query { hello: String }\n")
    (tmp_path / "trellis.toml").write_text(config)
    for name, definition in {"greet": GREET, "refuse": REFUSE, "double": DOUBLE}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(definition))
    return tmp_path


def test_run_prints_the_output_of_a_local_execution(tmp_path):
    folder = app_folder(tmp_path)
    done = trellis("run", str(folder / "greet.json"), "--input", '{"name": "Ada"}', folder=folder)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {"greeting": "hello Ada"}


def test_run_reaches_the_configured_function_data_sources(tmp_path):
    config = ('[datasources.double]\nkind = "function"\n'
              'handler = "tests.workflows.engine_support:double"\n')
    folder = app_folder(tmp_path, config)
    done = trellis("run", str(folder / "double.json"), "--input", '{"n": 21}', folder=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"value": 42}


def test_a_failed_run_prints_its_error_and_cause_and_exits_non_zero(tmp_path):
    folder = app_folder(tmp_path)
    done = trellis("run", str(folder / "refuse.json"), "--history", folder=folder)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[-3:] == ["FAILED", "error: Nope", "cause: not today"]
    assert [json.loads(line)["type"] for line in lines[:-3]] == ["ExecutionStarted", "FailStateEntered",
                                                                 "ExecutionFailed"]


def test_run_refuses_an_invalid_definition_or_input_before_running(tmp_path):
    folder = app_folder(tmp_path)
    (folder / "broken.json").write_text('{"StartAt": "Missing", "States": {}}')
    # A callback could never be answered in a local run: refused as for an EXPRESS state machine.
    (folder / "callback.json").write_text(json.dumps({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "double", "Payload": {"token.$": "$$.Task.Token"}}, "End": True}}}))
    broken, bad_input, callback = trellis_each(
        folder, ("run", str(folder / "broken.json")), ("run", str(folder / "greet.json"), "--input", "{not json"),
        ("run", str(folder / "callback.json")))
    assert broken.returncode == 2
    assert broken.stderr.startswith("InvalidDefinition: ")
    assert bad_input.returncode == 2
    assert bad_input.stderr.startswith("InvalidExecutionInput: ")
    assert callback.returncode == 2 and "InvalidDefinition" in callback.stderr


async def recorded_executions(database_url: str) -> tuple[str, str]:
    """What a server would have left in its database: one SUCCEEDED and one FAILED execution."""
    database = open_database(database_url)
    engine = WorkflowEngine(SqlExecutionStore(database), TaskRegistry())
    await engine.start()
    arns = []
    for name, definition in (("greet", GREET), ("refuse", REFUSE)):
        machine = StateMachine(arn=engine.arn("stateMachine", name), name=name, type="STANDARD",
                               definition=json.dumps(definition), role_arn="arn:aws:iam::123456789012:role/r",
                               status="ACTIVE", created=1_700_000_000.0, updated=1_700_000_000.0, revision_id="1")
        await engine.store.create_state_machine(machine)
        execution = await engine.start_execution(machine, f"{name}-1", '{"name": "Bo"}')
        await finished(engine, execution.arn)
        arns.append(execution.arn)
    await engine.close()
    await database.close()
    return arns[0], arns[1]


async def test_list_describe_and_history_read_what_the_server_recorded(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'server.db'}"
    folder = app_folder(tmp_path, f'[database]\nurl = "{url}"\n')
    succeeded, failed = await recorded_executions(url)

    listed, only_failed, machines, described, history, missing = trellis_each(
        folder, ("list",), ("list", "--status", "FAILED"), ("machines",), ("describe", failed),
        ("history", succeeded, "--reverse"), ("describe", succeeded.replace("greet-1", "never")))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert {(row[0], row[1]) for row in rows} == {(succeeded, "SUCCEEDED"), (failed, "FAILED")}
    assert [line.split("\t")[0] for line in only_failed.stdout.splitlines()] == [failed]
    assert [line.split("\t")[0].rsplit(":", 1)[1] for line in machines.stdout.splitlines()] == ["greet", "refuse"]

    assert described.returncode == 0, described.stderr
    body = json.loads(described.stdout)
    assert (body["status"], body["error"], body["cause"], body["input"]) == (
        "FAILED", "Nope", "not today", '{"name": "Bo"}')
    events = [json.loads(line) for line in history.stdout.splitlines()]
    assert [e["type"] for e in events] == ["ExecutionSucceeded", "PassStateExited", "PassStateEntered",
                                           "ExecutionStarted"]
    assert json.loads(events[0]["executionSucceededEventDetails"]["output"]) == {"greeting": "hello Bo"}
    assert missing.returncode == 1 and missing.stderr.startswith("ExecutionDoesNotExist: ")
