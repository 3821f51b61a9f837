"""Workflows through GraphQL: the fields ``[workflows]`` adds, their errors, their auth, and the
subscriptions over both WebSocket protocols — against a served app running real executions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from gql import Client as GqlClient
from gql import gql
from gql.transport.appsync_auth import AppSyncIAMAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.websockets import WebsocketsTransport

from app.errors import ConfigError
from app.server import create_app
from tests.conftest import API_KEY, DEMO_ADMIN, DEMO_REGION, sigv4_headers
from tests.workflows.graphql_support import (
    TOKENS,
    in_process_client,
    served,
    subscription_count,
    wait_for_subscriptions,
    workflow_settings,
)

pytestmark = pytest.mark.timeout(60)

SCHEMA = "type Query { hello: String }\n"  # no Mutation or Subscription: the workflow SDL defines them
CONFIG = """
[auth]
default = "API_KEY"
additional = ["AWS_IAM"]

[auth.iam]
region = "us-east-1"
account_id = "123456789012"

[datasources.remember]
kind = "function"
handler = "tests.workflows.graphql_support:remember_token"
"""
MACHINES = {
    "greet": {"StartAt": "Greet", "States": {"Greet": {
        "Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"}, "End": True}}},
    "callback": {"StartAt": "AskSomeone", "States": {"AskSomeone": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "remember", "Payload": {"token.$": "$$.Task.Token", "key.$": "$.key"}},
        "End": True}}},
    "sleepy": {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": True}}},
    "announce": {"StartAt": "Publish", "States": {"Publish": {
        "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:orders", "Subject": "shipped",
                       "Message.$": "$.text"}, "End": True}}},
}


def write_app_files(folder: Path, config: str = CONFIG) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, definition in MACHINES.items():
        (folder / f"{name}.asl.json").write_text(json.dumps(definition))
    (folder / "schema.graphql").write_text(SCHEMA)
    (folder / "trellis.toml").write_text(config)
    return folder / "schema.graphql", folder / "trellis.toml"


def workflows_table(**graphql: Any) -> dict[str, Any]:
    return {"state_machines": {name: {"definition": f"{name}.asl.json"} for name in MACHINES},
            "graphql": graphql}


class Api:
    """GraphQL over HTTP to the served app, SigV4-signed as the administrator unless given an API key."""

    def __init__(self, base: str) -> None:
        self.base = base

    async def post(self, query: str, variables: dict[str, Any] | None = None, *,
                   api_key: str | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        url = self.base + "/graphql"
        headers = {"x-api-key": api_key, "content-type": "application/json"} if api_key else \
            sigv4_headers(url, body, DEMO_ADMIN, DEMO_REGION)
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(url, content=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.post(query, variables)
        assert not result.get("errors"), result["errors"]
        data: dict[str, Any] = result["data"]
        return data

    async def start(self, machine: str, value: Any, name: str | None = None) -> str:
        started = await self.data("mutation($m: String!, $i: AWSJSON, $n: String) { startExecution("
                                  "stateMachine: $m, input: $i, name: $n) { executionArn status } }",
                                  {"m": machine, "i": json.dumps(value), "n": name})
        assert started["startExecution"]["status"] == "RUNNING"
        return str(started["startExecution"]["executionArn"])

    async def finished(self, arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while True:
            found = await self.data("query($a: ID!) { execution(executionArn: $a) { executionArn name status "
                                    "input output error cause startDate stopDate stateMachineName } }", {"a": arn})
            execution: dict[str, Any] = found["execution"]
            if execution["status"] != "RUNNING":
                return execution
            assert time.monotonic() < deadline, f"{arn} still RUNNING"
            await asyncio.sleep(0.05)

    async def token_for(self, key: str) -> str:
        deadline = time.monotonic() + 20
        while key not in TOKENS:
            assert time.monotonic() < deadline, f"no task token for {key}"
            await asyncio.sleep(0.05)
        return TOKENS.pop(key)


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    folder = tmp_path_factory.mktemp("workflows_graphql")
    schema, config = write_app_files(folder)
    # API_KEY listed explicitly: graphql-transport-ws subscribers below connect with the key.
    settings = workflow_settings(folder, f"sqlite+aiosqlite:///{folder / 'app.db'}", workflows_table(auth=["API_KEY"]),
                                 schema=schema, config=config, admin_access_key=DEMO_ADMIN)
    app = create_app(settings)
    with served(app) as base:
        yield base, app


@pytest.fixture
def server(served_app: tuple[str, Any]) -> str:
    return served_app[0]


@pytest.fixture
def api(server: str) -> Api:
    return Api(server)


def execution_arn(machine: str, name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:{machine}:{name}"


async def test_declared_state_machines_are_listed_and_described(api):
    listed = await api.data("{ stateMachines(limit: 2) { items { name type status } nextToken } }")
    first_page = listed["stateMachines"]
    rest = await api.data("query($t: String) { stateMachines(nextToken: $t) { items { name } nextToken } }",
                          {"t": first_page["nextToken"]})
    names = [m["name"] for m in first_page["items"]] + [m["name"] for m in rest["stateMachines"]["items"]]
    assert sorted(names) == ["announce", "callback", "greet", "sleepy"]
    assert rest["stateMachines"]["nextToken"] is None
    greet = await api.data('{ stateMachine(name: "greet") { stateMachineArn definition } }')
    assert greet["stateMachine"]["stateMachineArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:greet"
    assert json.loads(greet["stateMachine"]["definition"]) == MACHINES["greet"]
    assert (await api.data('{ stateMachine(name: "nope") { name } }')) == {"stateMachine": None}


async def test_an_execution_runs_to_its_output_and_its_history_pages_both_ways(api):
    arn = await api.start("greet", {"name": "Ada"}, name="greet-ada")
    assert arn == execution_arn("greet", "greet-ada")
    done = await api.finished(arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"greeting": "hello Ada"}
    assert json.loads(done["input"]) == {"name": "Ada"}
    assert done["stateMachineName"] == "greet" and done["stopDate"] >= done["startDate"]

    query = ("query($a: ID!, $r: Boolean, $t: String) { executionHistory(executionArn: $a, reverseOrder: $r, "
             "limit: 2, nextToken: $t) { events { id previousEventId type details } nextToken } }")
    pages, token = [], None
    while True:
        page = (await api.data(query, {"a": arn, "t": token}))["executionHistory"]
        pages.append(page["events"])
        token = page["nextToken"]
        if token is None:
            break
    events = [event for page in pages for event in page]
    assert [len(page) for page in pages] == [2, 2]
    assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered", "PassStateExited",
                                           "ExecutionSucceeded"]
    assert [e["id"] for e in events] == [1, 2, 3, 4]
    assert json.loads(events[-1]["details"])["executionSucceededEventDetails"]["output"] == done["output"]
    newest = (await api.data(query, {"a": arn, "r": True}))["executionHistory"]["events"]
    assert [e["id"] for e in newest] == [4, 3]


async def test_executions_are_listed_newest_first_with_a_status_filter(api):
    first = await api.start("greet", {"name": "one"})
    second = await api.start("greet", {"name": "two"})
    await api.finished(first)
    await api.finished(second)
    sleeping = await api.start("sleepy", {})
    listed = await api.data('{ executions(stateMachine: "greet", status: SUCCEEDED, limit: 1) '
                            "{ items { executionArn status } nextToken } }")
    page = listed["executions"]
    assert page["items"] == [{"executionArn": second, "status": "SUCCEEDED"}]
    rest = await api.data('query($t: String) { executions(stateMachine: "greet", status: SUCCEEDED, '
                          "nextToken: $t) { items { executionArn } } }", {"t": page["nextToken"]})
    assert first in [e["executionArn"] for e in rest["executions"]["items"]]
    running = await api.data('{ executions(stateMachine: "sleepy", status: RUNNING) { items { executionArn } } }')
    assert {"executionArn": sleeping} in running["executions"]["items"]
    await api.data('mutation($a: ID!) { stopExecution(executionArn: $a) { stopDate } }', {"a": sleeping})


async def test_send_task_success_and_failure_answer_a_waiting_task(api):
    answered = await api.start("callback", {"key": "yes"})
    failed = await api.start("callback", {"key": "no"})
    token = await api.token_for("yes")
    assert (await api.data('mutation($t: String!) { sendTaskSuccess(taskToken: $t, output: "{\\"ok\\": 1}") }',
                           {"t": token})) == {"sendTaskSuccess": True}
    await api.data('mutation($t: String!) { sendTaskFailure(taskToken: $t, error: "Refused", cause: "not today") }',
                   {"t": await api.token_for("no")})
    assert json.loads((await api.finished(answered))["output"]) == {"ok": 1}
    refused = await api.finished(failed)
    assert (refused["status"], refused["error"], refused["cause"]) == ("FAILED", "Refused", "not today")
    again = await api.post('mutation($t: String!) { sendTaskSuccess(taskToken: $t, output: "{}") }', {"t": token})
    assert again["errors"][0]["errorType"] in ("TaskDoesNotExist", "TaskTimedOut")


async def test_stop_execution_aborts_a_running_execution_with_its_error_and_cause(api):
    arn = await api.start("sleepy", {})
    stopped = await api.data('mutation($a: ID!) { stopExecution(executionArn: $a, error: "Ops", cause: "by hand") '
                             "{ executionArn stopDate } }", {"a": arn})
    assert stopped["stopExecution"]["executionArn"] == arn
    done = await api.finished(arn)
    assert (done["status"], done["error"], done["cause"]) == ("ABORTED", "Ops", "by hand")


@pytest.mark.parametrize(("query", "error_type"), [
    ('mutation { startExecution(stateMachine: "missing") { executionArn } }', "StateMachineDoesNotExist"),
    ('mutation { startExecution(stateMachine: "greet", name: "no spaces allowed") { executionArn } }', "InvalidName"),
    ('mutation { startExecution(stateMachine: "arn:aws:states:us-east-1:123456789012:activity:x") '
     "{ executionArn } }", "InvalidArn"),
    ('{ execution(executionArn: "not-an-arn") { name } }', "InvalidArn"),
    ('{ executionHistory(executionArn: "arn:aws:states:us-east-1:123456789012:execution:greet:never") '
     "{ nextToken } }", "ExecutionDoesNotExist"),
    ('mutation { stopExecution(executionArn: "arn:aws:states:us-east-1:123456789012:execution:greet:never") '
     "{ stopDate } }", "ExecutionDoesNotExist"),
    ('mutation { sendTaskSuccess(taskToken: "no-such-token", output: "{}") }', "TaskDoesNotExist"),
    ('{ executions(stateMachine: "greet", nextToken: "garbage!") { nextToken } }', "InvalidToken"),
    ('{ stateMachines(limit: 1001) { nextToken } }', "ValidationException"),
])
async def test_errors_carry_the_step_functions_error_name_as_error_type(api, query, error_type):
    result = await api.post(query)
    assert [e["errorType"] for e in result["errors"]] == [error_type]


async def test_a_running_name_with_other_input_is_execution_already_exists(api):
    first = await api.start("sleepy", {"n": 1}, name="only-once")
    assert await api.start("sleepy", {"n": 1}, name="only-once") == first  # AWS's idempotent start
    clash = await api.post('mutation { startExecution(stateMachine: "sleepy", name: "only-once", '
                           'input: "{\\"n\\": 2}") { executionArn } }')
    assert clash["errors"][0]["errorType"] == "ExecutionAlreadyExists"
    await api.data('mutation($a: ID!) { stopExecution(executionArn: $a) { stopDate } }', {"a": first})


async def test_appsync_realtime_subscribers_see_the_status_change_at_start_and_at_the_end(served_app, api):
    server, app = served_app
    host = server.removeprefix("http://")
    before = subscription_count(app)
    auth = AppSyncIAMAuthentication(host=host, region_name=DEMO_REGION, credentials=Credentials(*DEMO_ADMIN))
    transport = AppSyncWebsocketsTransport(url=f"ws://{host}/graphql/realtime", auth=auth)
    arn = execution_arn("callback", "watched-by-appsync")
    subscription = gql("subscription($a: ID!) { onExecutionStatusChanged(executionArn: $a) "
                       "{ executionArn status output error } }")
    subscription.variable_values = {"a": arn}
    async with GqlClient(transport=transport) as session:
        changes: list[Any] = []

        async def watch() -> None:
            async for change in session.subscribe(subscription):
                changes.append(change["onExecutionStatusChanged"])
                if change["onExecutionStatusChanged"]["status"] != "RUNNING":
                    return

        watcher = asyncio.ensure_future(watch())
        await wait_for_subscriptions(app, before + 1)
        other = await api.start("greet", {"name": "not watched"})
        assert await api.start("callback", {"key": "appsync"}, name="watched-by-appsync") == arn
        await api.data('mutation($t: String!) { sendTaskSuccess(taskToken: $t, output: "[1,2]") }',
                       {"t": await api.token_for("appsync")})
        await asyncio.wait_for(watcher, 15)
    await api.finished(other)
    assert changes == [{"executionArn": arn, "status": "RUNNING", "output": None, "error": None},
                       {"executionArn": arn, "status": "SUCCEEDED", "output": "[1,2]", "error": None}]


async def test_graphql_transport_ws_subscribers_see_every_history_event_in_order(served_app, api):
    server, app = served_app
    host = server.removeprefix("http://")
    before = subscription_count(app)
    transport = WebsocketsTransport(url=f"ws://{host}/graphql", subprotocols=["graphql-transport-ws"],
                                    init_payload={"x-api-key": API_KEY})
    arn = execution_arn("greet", "watched-by-transport-ws")
    subscription = gql("subscription($a: ID!) { onExecutionEvent(executionArn: $a) { executionArn id type } }")
    subscription.variable_values = {"a": arn}
    async with GqlClient(transport=transport) as session:
        seen: list[Any] = []

        async def watch() -> None:
            async for event in session.subscribe(subscription):
                seen.append(event["onExecutionEvent"])
                if event["onExecutionEvent"]["type"] == "ExecutionSucceeded":
                    return

        watcher = asyncio.ensure_future(watch())
        await wait_for_subscriptions(app, before + 1)
        await api.start("greet", {"name": "Grace"}, name="watched-by-transport-ws")
        await asyncio.wait_for(watcher, 15)
    assert [(e["id"], e["type"]) for e in seen] == [(1, "ExecutionStarted"), (2, "PassStateEntered"),
                                                    (3, "PassStateExited"), (4, "ExecutionSucceeded")]
    assert {e["executionArn"] for e in seen} == {arn}


async def test_an_sns_publish_task_reaches_subscribers_of_its_topic(served_app, api):
    server, app = served_app
    host = server.removeprefix("http://")
    before = subscription_count(app)
    transport = WebsocketsTransport(url=f"ws://{host}/graphql", subprotocols=["graphql-transport-ws"],
                                    init_payload={"x-api-key": API_KEY})
    subscription = gql("subscription($t: String!) { onTopicMessage(topicArn: $t) { topicArn message subject } }")
    subscription.variable_values = {"t": "arn:aws:sns:us-east-1:123456789012:orders"}
    async with GqlClient(transport=transport) as session:
        async def first_message() -> Any:
            async for message in session.subscribe(subscription):
                return message["onTopicMessage"]
            return None

        watcher = asyncio.ensure_future(first_message())
        await wait_for_subscriptions(app, before + 1)
        done = await api.finished(await api.start("announce", {"text": "order 7 shipped"}))
        assert done["status"] == "SUCCEEDED"
        assert "MessageId" in json.loads(done["output"])
        message = await asyncio.wait_for(watcher, 15)
    assert message == {"topicArn": "arn:aws:sns:us-east-1:123456789012:orders", "message": "order 7 shipped",
                       "subject": "shipped"}


# -- in-process apps: what [workflows] adds, and who may use it ------------------------------------------


async def test_the_workflow_fields_exist_only_with_a_workflows_table(tmp_path):
    schema, config = write_app_files(tmp_path / "files")
    url = f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}"
    plain = create_app(workflow_settings(tmp_path / "plain", url, None, schema=schema, config=config))
    assert plain.state.runtime.loaded.schema.mutation_type is None
    with_workflows = create_app(workflow_settings(tmp_path / "wf", url, workflows_table(), schema=schema,
                                                    config=config))
    schema_built = with_workflows.state.runtime.loaded.schema
    assert set(schema_built.mutation_type.fields) == {"startExecution", "stopExecution", "sendTaskSuccess",
                                                      "sendTaskFailure"}
    assert set(schema_built.subscription_type.fields) == {"onExecutionStatusChanged", "onExecutionEvent",
                                                          "onTopicMessage"}


async def test_workflow_fields_are_closed_to_every_mode_the_config_does_not_list(tmp_path):
    schema, config = write_app_files(tmp_path / "files")
    settings = workflow_settings(tmp_path / "app", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", workflows_table(),
                                 schema=schema, config=config, admin_access_key=DEMO_ADMIN)
    client = await in_process_client(create_app(settings))
    try:
        with_key = await client.post("{ stateMachines { items { name } } }", key=API_KEY, headers={})
        assert with_key.json()["errors"][0]["errorType"] == "Unauthorized"  # the API's default mode, not listed
        started = await client.post('mutation { startExecution(stateMachine: "greet") { executionArn } }',
                                    key=API_KEY, headers={})
        assert started.json()["errors"][0]["errorType"] == "Unauthorized"
        signed = await client.data("{ stateMachines { items { name } } }")  # IAM: always allowed
        assert len(signed["stateMachines"]["items"]) == len(MACHINES)
    finally:
        await client.http.aclose()
        await client.runtime.close()


@pytest.mark.parametrize(("workflows", "message"), [
    ({"graphql": {"auth": ["PASSWORD"]}}, "unknown mode 'PASSWORD'"),
    ({"graphql": {"cognito_groups": ["staff"]}}, "cognito_groups needs AMAZON_COGNITO_USER_POOLS"),
    ({"state_machines": {"lost": {"definition": "lost.asl.json"}}}, "cannot read definition"),
    ({"state_machines": {"odd": {"definition": "greet.asl.json", "memory": 3}}}, "unknown option 'memory'"),
    ({"state_machines": {"broken": {"definition": "broken.asl.json"}}}, "MISSING_TRANSITION_TARGET"),
])
def test_workflow_config_problems_are_reported_before_anything_runs(tmp_path, workflows, message):
    schema, config = write_app_files(tmp_path / "files")
    (tmp_path / "files" / "broken.asl.json").write_text('{"StartAt": "Nowhere", "States": {"A": {"Type": "Succeed"}}}')
    settings = workflow_settings(tmp_path / "app", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", workflows,
                                 schema=schema, config=config)
    with pytest.raises(ConfigError) as problems:
        create_app(settings)
    assert message in str(problems.value)


async def test_a_declared_task_no_runner_supports_stops_the_start(tmp_path):
    schema, config = write_app_files(tmp_path / "files")
    (tmp_path / "files" / "odd.asl.json").write_text(json.dumps({"StartAt": "Mail", "States": {"Mail": {
        "Type": "Task", "Resource": "arn:aws:states:::ses:sendEmail", "End": True}}}))
    settings = workflow_settings(tmp_path / "app", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
                                 {"state_machines": {"odd": {"definition": "odd.asl.json"}}},
                                 schema=schema, config=config)
    app = create_app(settings)
    with pytest.raises(ConfigError, match="odd"):
        await app.state.runtime.start()
    await app.state.runtime.close()
