"""``arn:aws:states:::trellis:graphql``: a workflow runs GraphQL as its state machine's IAM role —
its policies decide, its mutations reach subscribers — over a real app with SQLite."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import ConfigError
from app.execution import GraphQLRequest
from app.server import create_app
from auth.iam.directory import Directory, Role
from auth.iam.trust import Caller
from auth.iam_credentials import DirectoryCredentials
from auth.iam_setup import directory_credentials
from auth.modes import AuthMode, Identity
from tests.conftest import DEMO_ADMIN, Client
from tests.workflows.engine_support import finished
from tests.workflows.graphql_support import in_process_client, workflow_settings

pytestmark = pytest.mark.timeout(60)

ACCOUNT = "123456789012"
SCHEMA = """
type Note @model @auth(rules: [{allow: public}, {allow: private, provider: iam}]) {
  id: ID!
  title: String!
  status: String
}
"""
CONFIG = f"""
[auth]
default = "API_KEY"
additional = ["AWS_IAM"]

[auth.iam]
region = "us-east-1"
account_id = "{ACCOUNT}"
"""
CREATE = 'mutation ($title: String!) { createNote(input: {title: $title, status: "NEW"}) { id title status } }'


def graphql_task(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = {"Query": query, **extra}
    if variables is not None:
        parameters["Variables"] = variables
    return {"Type": "Task", "Resource": "arn:aws:states:::trellis:graphql", "Parameters": parameters}


MACHINES = {
    # Create a note, then mark it DONE: two mutations, each published to subscribers.
    "notes": {"StartAt": "Create", "States": {
        "Create": {**graphql_task(CREATE, {"title.$": "$.title"}), "ResultSelector": {"id.$": "$.data.createNote.id"},
                   "Next": "Finish"},
        "Finish": {**graphql_task("mutation ($id: ID!) { updateNote(input: {id: $id, status: \"DONE\"}) "
                                  "{ id status } }", {"id.$": "$.id"}), "End": True}}},
    # The role may create and update notes, not delete them.
    "deleter": {"StartAt": "Delete", "States": {
        "Delete": {**graphql_task("mutation ($id: ID!) { deleteNote(input: {id: $id}) { id } }", {"id.$": "$.id"}),
                   "End": True}}},
    "untrusted": {"StartAt": "Read", "States": {"Read": {**graphql_task(CREATE, {"title": "x"}), "End": True}}},
    "caught": {"StartAt": "Broken", "States": {
        "Broken": {**graphql_task("{ getNote(id: 1) { nope } }"), "End": True,
                   "Catch": [{"ErrorEquals": ["ValidationError"], "Next": "Handled",
                              "ResultPath": "$.failure"}]},
        "Handled": {"Type": "Pass", "End": True}}},
    "odd": {"StartAt": "Odd", "States": {"Odd": {
        "Type": "Task", "Resource": "arn:aws:states:::trellis:graphql",
        "Parameters": {"Query": CREATE, "Variables": [1]}, "End": True}}},
}


def allow(*fields: str) -> dict[str, Any]:
    resources = [f"arn:aws:appsync:us-east-1:{ACCOUNT}:apis/*/types/{field}" for field in fields]
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "appsync:GraphQL",
                                                    "Resource": resources}]}


def trust(service: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                                    "Action": "sts:AssumeRole"}]}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    files = tmp_path / "files"
    files.mkdir()
    (files / "schema.graphql").write_text(SCHEMA)
    (files / "trellis.toml").write_text(CONFIG)
    for name, definition in MACHINES.items():
        (files / f"{name}.asl.json").write_text(json.dumps(definition))
    writer = allow("Mutation/fields/createNote", "Mutation/fields/updateNote", "Note/fields/*")
    (files / "notes-policy.json").write_text(json.dumps(writer))
    machines: dict[str, Any] = {name: {"definition": f"{name}.asl.json"} for name in MACHINES}
    # "notes" defines its execution role in the config (as SAM does); the others' roles are in the directory.
    machines["notes"]["policy"] = str(files / "notes-policy.json")
    settings = workflow_settings(
        tmp_path / "app", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", {"state_machines": machines},
        schema=files / "schema.graphql", config=files / "trellis.toml", admin_access_key=DEMO_ADMIN)
    app = create_app(settings)
    client = await in_process_client(app)
    store = directory(client).store
    store.file.save(Directory(roles={
        "trellis-deleter": Role("trellis-deleter", "AROADELETER", trust("states.amazonaws.com"), inline={"w": writer}),
        "trellis-caught": Role("trellis-caught", "AROACAUGHT", trust("states.amazonaws.com"), inline={"w": writer}),
        "trellis-odd": Role("trellis-odd", "AROAODD", trust("states.amazonaws.com"), inline={"w": writer}),
        # Trusts Lambda, not Step Functions: no workflow may use it.
        "trellis-untrusted": Role("trellis-untrusted", "AROAUNTRUSTED", trust("lambda.amazonaws.com"),
                                  inline={"w": writer}),
    }))
    store.load_now()
    try:
        yield client
    finally:
        await client.http.aclose()
        await app.state.runtime.close()


def directory(client: Client) -> DirectoryCredentials:
    found = directory_credentials(client.runtime.authenticator)
    assert found is not None
    return found[1]


async def run(client: Client, machine: str, value: Any) -> Any:
    started = await client.data("mutation($m: String!, $i: AWSJSON) { startExecution(stateMachine: $m, input: $i) "
                               "{ executionArn } }", {"m": machine, "i": json.dumps(value)})
    return await finished(client.runtime.workflows, started["startExecution"]["executionArn"])


async def test_a_workflow_mutation_reaches_subscribers_and_runs_as_the_role(client):
    engine = client.runtime.subscriptions
    received: list[dict[str, Any]] = []
    for field in ("onCreateNote", "onUpdateNote"):
        subscription = engine.prepare(field, GraphQLRequest(f"subscription {{ {field} {{ id title status }} }}"),
                                      Identity(AuthMode.API_KEY), lambda _s, payload: received.append(json.loads(payload)))
        await engine.register(subscription)
    execution = await run(client, "notes", {"title": "from a workflow"})
    assert execution.status == "SUCCEEDED", execution.cause
    note_id = json.loads(execution.output)["data"]["updateNote"]["id"]
    assert json.loads(execution.output) == {"data": {"updateNote": {"id": note_id, "status": "DONE"}}}
    # The subscription's own selection set, re-read: the title the update did not select is there.
    assert received == [
        {"data": {"onCreateNote": {"id": note_id, "title": "from a workflow", "status": "NEW"}}},
        {"data": {"onUpdateNote": {"id": note_id, "title": "from a workflow", "status": "DONE"}}},
    ]


async def test_what_the_role_may_not_do_fails_the_task_with_appsyncs_error(client):
    created = await client.data('mutation { createNote(input: {title: "keep"}) { id } }')
    execution = await run(client, "deleter", {"id": created["createNote"]["id"]})
    assert execution.status == "FAILED"
    assert execution.error == "Unauthorized"
    cause = json.loads(execution.cause)
    assert cause["data"] == {"deleteNote": None}
    assert cause["errors"][0]["errorType"] == "Unauthorized" and cause["errors"][0]["path"] == ["deleteNote"]
    still = await client.data("query($id: ID!) { getNote(id: $id) { title } }", {"id": created["createNote"]["id"]})
    assert still == {"getNote": {"title": "keep"}}


async def test_a_role_that_does_not_trust_step_functions_or_is_missing_is_refused(client):
    execution = await run(client, "untrusted", {})
    assert (execution.status, execution.error) == ("FAILED", "UnauthorizedException")
    assert "does not let states.amazonaws.com assume it" in execution.cause
    store = directory(client).store
    store.file.save(Directory())
    store.load_now()
    execution = await run(client, "deleter", {"id": "any"})
    assert (execution.status, execution.error) == ("FAILED", "UnauthorizedException")
    assert "is not in the IAM directory" in execution.cause
    listed = await client.data("{ listNotes { items { title } } }")
    assert listed == {"listNotes": {"items": []}}


async def test_a_bad_document_is_a_catchable_error_and_bad_parameters_a_runtime_error(client):
    caught = await run(client, "caught", {})
    assert caught.status == "SUCCEEDED"
    failure = json.loads(caught.output)["failure"]
    assert failure["Error"] == "ValidationError"  # the errorType AppSync gives a document that does not validate
    assert "nope" in json.loads(failure["Cause"])["errors"][0]["message"]
    odd = await run(client, "odd", {})
    assert (odd.status, odd.error) == ("FAILED", "States.Runtime")
    assert "'Variables' must be an object" in odd.cause


async def test_a_declared_role_stands_beside_the_directory_and_only_step_functions_assumes_it(client):
    store = directory(client).store
    store.file.save(Directory())  # an empty directory file: "notes" still runs with its declared role
    store.load_now()
    execution = await run(client, "notes", {"title": "declared"})
    assert execution.status == "SUCCEEDED", execution.cause
    credentials = directory(client)
    role = credentials.role_for_arn(f"arn:aws:iam::{ACCOUNT}:role/trellis-notes")
    assert role is not None
    admin = Caller("AWS", frozenset({f"arn:aws:iam::{ACCOUNT}:user/trellis-admin"}), ACCOUNT)
    assert not credentials.trusts(role, "sts:AssumeRole", admin, {})  # nobody but the service
    assert credentials.service_session(f"arn:aws:iam::{ACCOUNT}:role/trellis-notes", "lambda.amazonaws.com",
                                       "x") is None


@pytest.mark.parametrize(("auth", "policy", "message"), [
    ('default = "API_KEY"', allow("Note/fields/*"), "needs AWS_IAM among the [auth] modes"),
    ('default = "API_KEY"\nadditional = ["AWS_IAM"]', {"Version": "2012-10-17", "Statement": []},
     "Statement must not be empty"),
])
def test_a_declared_policy_is_checked_at_start(tmp_path, auth, policy, message):
    files = tmp_path / "files"
    files.mkdir()
    (files / "schema.graphql").write_text(SCHEMA)
    (files / "trellis.toml").write_text(f"[auth]\n{auth}\n")
    (files / "notes.asl.json").write_text(json.dumps(MACHINES["notes"]))
    (files / "p.json").write_text(json.dumps(policy))
    settings = workflow_settings(
        tmp_path / "app", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        {"state_machines": {"notes": {"definition": "notes.asl.json", "policy": str(files / "p.json")}}},
        schema=files / "schema.graphql", config=files / "trellis.toml")
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app(settings)
