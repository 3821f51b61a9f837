"""The workflow engine for a Runtime, from the ``[workflows]`` table of trellis.toml::

    [workflows]
    database_url = "postgresql+asyncpg://..."   # default: the app's database
    instance_id = "web-1"                       # default: random (names this instance's leases)
    lease_seconds = 30                          # how long a crashed instance's executions wait
    region = "us-east-1"                        # ARNs and SigV4; default [auth.iam]'s
    account_id = "123456789012"                 # default [auth.iam]'s
    [workflows.http]                            # HTTP Task options (SSRF guard on by default)
    allow_private_addresses = false
    allow_plain_http = false
    timeout_seconds = 60

``[workflows.graphql]`` and ``[workflows.state_machines.*]`` belong to ``app.workflow_graphql``.

``workflows_config`` checks the table (every problem at once, as ``trellis check`` reports them);
``attach_workflows`` builds the engine with its task runners over the app's data sources, puts it on
``runtime.workflows`` and mounts the Step Functions API (``app.stepfunctions``) at ``POST /``. The
Runtime starts the engine before the GraphQL side and closes it before the data sources.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import Problem
from app.settings import Settings
from app.sqs_setup import attach_sqs
from app.stepfunctions import StatesGate, StepFunctionsService
from app.workflow_graphql_events import TopicMessagePublisher
from app.workflow_graphql_task import register_graphql_runner
from auth.service_credentials import service_credentials
from datasources.sql import SqlDatabase, open_database
from workflows.clock import SystemClock
from workflows.engine.datasource_runner import register_datasource_runner
from workflows.engine.engine import EngineOptions, WorkflowEngine
from workflows.engine.http_runner import HttpInvokeRunner, register_http_runners
from workflows.engine.messaging_runners import register_messaging_runners
from workflows.engine.runners import register_engine_runners
from workflows.engine.store import SqlExecutionStore
from workflows.engine.tasks import TaskRegistry
from workflows.service import StepFunctionsApi

if TYPE_CHECKING:
    from app.runtime import Runtime

_OWN_KEYS = {"database_url", "instance_id", "lease_seconds", "poll_seconds", "region", "account_id", "http"}
_OTHER_KEYS = {"graphql", "state_machines"}  # app.workflow_graphql's
_HTTP_KEYS: dict[str, tuple[type, ...]] = {"allow_private_addresses": (bool,), "allow_plain_http": (bool,),
                                           "timeout_seconds": (int, float)}
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"  # as [auth.iam]'s default


@dataclass(frozen=True)
class WorkflowsConfig:
    database_url: str | None
    options: EngineOptions
    http: Mapping[str, Any] = field(default_factory=dict)


def workflows_config(settings: Settings, where: str | None) -> tuple[WorkflowsConfig | None, list[Problem]]:
    """The engine's configuration (None without a ``[workflows]`` table) and what is wrong with it."""
    table = getattr(settings, "workflows", None)
    if table is None:
        return None, []
    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem(f"[workflows] {message}", file=where))

    if not isinstance(table, Mapping):
        problem("must be a table")
        return None, problems
    for key in table:
        if key not in _OWN_KEYS | _OTHER_KEYS:
            problem(f"unknown option {key!r} (known: {', '.join(sorted(_OWN_KEYS | _OTHER_KEYS))})")
    iam_table = settings.auth.get("iam")
    iam: Mapping[str, Any] = iam_table if isinstance(iam_table, Mapping) else {}
    text: dict[str, str] = {}
    for key, default in (("region", str(iam.get("region", DEFAULT_REGION))),
                         ("account_id", str(iam.get("account_id", DEFAULT_ACCOUNT))),
                         ("instance_id", "")):
        value = table.get(key, default)
        if not isinstance(value, str):
            problem(f"{key} must be a string")
            value = default
        text[key] = value
    if not (text["account_id"].isdigit() and len(text["account_id"]) == 12):
        problem("account_id must be 12 digits")
    numbers: dict[str, float] = {}
    for key, default_number in (("lease_seconds", 30.0), ("poll_seconds", 0.5)):
        value = table.get(key, default_number)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problem(f"{key} must be a positive number")
            value = default_number
        numbers[key] = float(value)
    database_url = table.get("database_url")
    if database_url is not None and (not isinstance(database_url, str) or not database_url):
        problem("database_url must be a non-empty string")
        database_url = None
    http = table.get("http", {})
    if not isinstance(http, Mapping):
        problem("http must be a table")
        http = {}
    for key, value in http.items():
        wanted = _HTTP_KEYS.get(key)
        if wanted is None:
            problem(f"http: unknown option {key!r} (known: {', '.join(sorted(_HTTP_KEYS))})")
        elif isinstance(value, bool) != (wanted == (bool,)) or not isinstance(value, wanted):
            problem(f"http.{key} has the wrong type")
    options = EngineOptions(region=text["region"], account_id=text["account_id"],
                            lease_seconds=numbers["lease_seconds"], poll_seconds=numbers["poll_seconds"],
                            **({"instance_id": text["instance_id"]} if text["instance_id"] else {}))
    return WorkflowsConfig(database_url, options, dict(http)), problems


@dataclass
class WorkflowHost:
    """What the Runtime starts and closes for ``[workflows]``."""

    engine: WorkflowEngine
    api: StepFunctionsApi
    http_runner: HttpInvokeRunner
    own_database: SqlDatabase | None = None

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.api.close()
        await self.engine.close()
        with contextlib.suppress(Exception):
            await self.http_runner.close()
        if self.own_database is not None:
            await self.own_database.close()


def attach_workflows(runtime: Runtime, config: WorkflowsConfig) -> WorkflowHost:
    own_database = None
    database = runtime.database
    if config.database_url is not None and config.database_url != runtime.database.url:
        own_database = database = open_database(config.database_url)
    registry = TaskRegistry()
    engine = WorkflowEngine(SqlExecutionStore(database), registry, clock=SystemClock(), options=config.options)
    register_engine_runners(registry, engine, runtime.datasources.get)
    register_datasource_runner(registry, runtime.datasources.get)
    register_graphql_runner(registry, runtime)
    http_runner = register_http_runners(registry, **config.http)
    # Queues in place of SQS (the same store serves the SQS API and the sqs:sendMessage task), topics
    # in place of SNS (sns:publish reaches GraphQL's onTopicMessage subscribers).
    register_messaging_runners(registry, attach_sqs(runtime), TopicMessagePublisher(runtime.pubsub))
    host = WorkflowHost(engine, StepFunctionsApi(engine), http_runner, own_database)
    lookup = service_credentials(runtime.authenticator, runtime.settings.admin_access_key, config.options.account_id)
    runtime.json_services.append(StepFunctionsService(host.api, StatesGate(lookup, config.options.region)))
    runtime.workflows = engine
    runtime.workflow_host = host
    return host
