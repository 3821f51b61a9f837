"""``trellis workflows``: run a state machine locally, and read the executions a server recorded.

    trellis workflows run definition.json --input '{"a": 1}'   # in memory, no server
    trellis workflows list [--state-machine NAME] [--status S] [--limit N]
    trellis workflows machines
    trellis workflows describe <execution or state machine ARN>
    trellis workflows history <execution ARN> [--reverse]

``run`` takes the engine's Express path: nothing is stored, and the definition is validated as an
EXPRESS state machine (so ``.waitForTaskToken`` and ``.sync``, which nobody could answer here, are
refused up front). Its tasks reach what a server would give them: ``http:invoke``, the data sources
of the config next to ``--schema`` (``function`` ones as Lambda functions, any through
``trellis:dataSource``). It prints the output JSON; a failed execution prints its error and cause
on stderr and exits 1 (2 for a definition or input that is refused before it runs).

The reading commands open the configured database (``[workflows] database_url``, else the app's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.settings import Settings, load_settings
from datasources.base import DataSource, build_data_source
from datasources.sql import SqlDataSource, open_database
from workflows.clock import SystemClock, iso8601
from workflows.engine.datasource_runner import register_datasource_runner
from workflows.engine.engine import EngineOptions, WorkflowEngine
from workflows.engine.http_runner import register_http_runners
from workflows.engine.records import StateMachine, dumps
from workflows.engine.runners import register_engine_runners
from workflows.engine.store import SqlExecutionStore
from workflows.engine.tasks import TaskRegistry
from workflows.errors import DefinitionError, WorkflowApiError
from workflows.language import validation

EXIT_FAILED = 1
EXIT_REFUSED = 2
LOCAL_MACHINE = "local"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.schema, args.config)


def _workflows_table(settings: Settings) -> Mapping[str, Any]:
    table = getattr(settings, "workflows", None)
    return table if isinstance(table, Mapping) else {}


def _database_url(settings: Settings) -> str:
    url = _workflows_table(settings).get("database_url")
    return url if isinstance(url, str) and url else settings.effective_database_url


# -- run ----------------------------------------------------------------------------------------------


def _data_sources(settings: Settings) -> dict[str, DataSource]:
    sources: dict[str, DataSource] = {"default": SqlDataSource("default", settings.effective_database_url)}
    for name, config in settings.datasources.items():
        sources[name] = build_data_source(name, config if isinstance(config, Mapping) else {})
    return sources


def _run_command(args: argparse.Namespace) -> int:
    try:
        definition_text = Path(args.definition).read_text()
    except OSError as exc:
        print(f"trellis: cannot read {args.definition}: {exc.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    return asyncio.run(_run(args, definition_text))


async def _run(args: argparse.Namespace, definition_text: str) -> int:
    settings = _settings(args)
    sources = _data_sources(settings)
    opened = [source for name, source in sources.items() if name != "default"]
    for source in opened:
        await source.start()
    # The Express path never touches the store; a throwaway SQLite file satisfies the engine.
    scratch = tempfile.TemporaryDirectory(prefix="trellis-run-")
    database = open_database(f"sqlite+aiosqlite:///{Path(scratch.name) / 'unused.db'}")
    registry = TaskRegistry()
    engine = WorkflowEngine(SqlExecutionStore(database), registry, clock=SystemClock(), options=EngineOptions())
    register_engine_runners(registry, engine, sources.get)
    register_datasource_runner(registry, sources.get)
    http = register_http_runners(registry)
    try:
        try:
            validation.load(definition_text, registry.supports, "EXPRESS")
        except DefinitionError as exc:
            print(f"InvalidDefinition: {validation.invalid_definition_message(exc.problems)}", file=sys.stderr)
            return EXIT_REFUSED
        now = time.time()
        machine = StateMachine(arn=engine.arn("stateMachine", LOCAL_MACHINE), name=LOCAL_MACHINE, type="EXPRESS",
                               definition=definition_text, role_arn=f"arn:aws:iam::{engine.options.account_id}:role/"
                               f"trellis-{LOCAL_MACHINE}", status="ACTIVE", created=now, updated=now, revision_id="")
        try:
            ran = await engine.run_express(machine, args.name, args.input, keep_details=args.history)
        except WorkflowApiError as exc:
            print(f"{exc.code}: {exc.message}", file=sys.stderr)
            return EXIT_REFUSED
    finally:
        for source in opened:
            await source.close()
        await sources["default"].close()
        close_http = getattr(http, "close", None)
        if close_http is not None:
            await close_http()
        await database.close()
        scratch.cleanup()
    if args.history:
        for event in ran.history:
            print(dumps(_event_json(event.to_api())), file=sys.stderr)
    result = ran.result
    if result.status == "SUCCEEDED":
        print(dumps(result.output))
        return 0
    print(f"{result.status}", file=sys.stderr)
    print(f"error: {result.error}", file=sys.stderr)
    print(f"cause: {result.cause}", file=sys.stderr)
    return EXIT_FAILED


# -- reading what a server recorded ---------------------------------------------------------------------


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    event = dict(event)
    event["timestamp"] = iso8601(float(event["timestamp"]))
    return event


def _execution_json(execution: Any) -> dict[str, Any]:
    described: dict[str, Any] = {
        "executionArn": execution.arn, "stateMachineArn": execution.state_machine_arn, "name": execution.name,
        "status": execution.status, "startDate": iso8601(execution.started),
        "stopDate": iso8601(execution.stopped) if execution.stopped is not None else None,
        "input": execution.input, "output": execution.output, "error": execution.error, "cause": execution.cause,
    }
    return {k: v for k, v in described.items() if v is not None}


async def _read(args: argparse.Namespace) -> int:
    settings = _settings(args)
    database = open_database(_database_url(settings))
    store = SqlExecutionStore(database)
    try:
        await store.setup()
        return int(await args.read(args, store))
    finally:
        await database.close()


async def _list(args: argparse.Namespace, store: SqlExecutionStore) -> int:
    machines = await store.list_state_machines(None, 10_000)
    if args.state_machine:
        machines = [m for m in machines if args.state_machine in (m.name, m.arn)]
        if not machines:
            print(f"trellis: no state machine {args.state_machine!r}", file=sys.stderr)
            return EXIT_FAILED
    rows = []
    for machine in machines:
        rows.extend(await store.list_executions(machine.arn, args.status, None, args.limit))
    rows.sort(key=lambda e: (e.started, e.arn), reverse=True)
    for execution in rows[:args.limit]:
        stopped = iso8601(execution.stopped) if execution.stopped is not None else "-"
        print(f"{execution.arn}\t{execution.status}\t{iso8601(execution.started)}\t{stopped}")
    return 0


async def _machines(args: argparse.Namespace, store: SqlExecutionStore) -> int:
    for machine in await store.list_state_machines(None, 10_000):
        print(f"{machine.arn}\t{machine.type}\t{iso8601(machine.updated)}")
    return 0


async def _describe(args: argparse.Namespace, store: SqlExecutionStore) -> int:
    if ":stateMachine:" in args.arn:
        machine = await store.get_state_machine(args.arn)
        if machine is None:
            print(f"StateMachineDoesNotExist: State Machine Does Not Exist: '{args.arn}'", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps({"stateMachineArn": machine.arn, "name": machine.name, "type": machine.type,
                          "status": machine.status, "roleArn": machine.role_arn,
                          "creationDate": iso8601(machine.created), "definition": json.loads(machine.definition)},
                         indent=2, ensure_ascii=False))
        return 0
    execution = await store.get_execution(args.arn)
    if execution is None:
        print(f"ExecutionDoesNotExist: Execution Does Not Exist: '{args.arn}'", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(_execution_json(execution), indent=2, ensure_ascii=False))
    return 0


async def _history(args: argparse.Namespace, store: SqlExecutionStore) -> int:
    if await store.get_execution(args.arn) is None:
        print(f"ExecutionDoesNotExist: Execution Does Not Exist: '{args.arn}'", file=sys.stderr)
        return EXIT_FAILED
    after: int | None = None
    while True:  # page through, so a long history never sits in memory at once
        page = await store.history(args.arn, args.reverse, after, 1000)
        for event in page:
            print(dumps(_event_json(event.to_api())))
        if len(page) < 1000:
            return 0
        after = page[-1].id


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis workflows`` to the root parser's subcommands."""
    workflows = commands.add_parser("workflows", parents=[common], help="run state machines, read executions")
    verbs = workflows.add_subparsers(dest="workflows_command", required=True)
    run = verbs.add_parser("run", parents=[common], help="run a definition locally in memory; print its output")
    run.add_argument("definition", help="the state machine definition (ASL JSON file)")
    run.add_argument("--input", default="{}", help="the execution input, JSON (default {})")
    run.add_argument("--name", default=None, help="the execution name (default: a UUID)")
    run.add_argument("--history", action="store_true", help="also print the history events on stderr")
    run.set_defaults(run=_run_command)
    listing = verbs.add_parser("list", parents=[common], help="executions, newest first")
    listing.add_argument("--state-machine", default=None, help="only this state machine (name or ARN)")
    listing.add_argument("--status", default=None,
                         choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"])
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(read=_list)
    verbs.add_parser("machines", parents=[common], help="the state machines").set_defaults(read=_machines)
    describe = verbs.add_parser("describe", parents=[common], help="an execution or a state machine, as JSON")
    describe.add_argument("arn")
    describe.set_defaults(read=_describe)
    history = verbs.add_parser("history", parents=[common], help="an execution's events, one JSON per line")
    history.add_argument("arn")
    history.add_argument("--reverse", action="store_true", help="newest first")
    history.set_defaults(read=_history)
    for verb in (listing, describe, history):
        verb.set_defaults(run=lambda a: asyncio.run(_read(a)))
    verbs.choices["machines"].set_defaults(run=lambda a: asyncio.run(_read(a)))
