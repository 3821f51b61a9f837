"""Functions the engine tests run as Task resources (real ``function`` data sources), and a small
harness to build engines over one database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from datasources.base import DataSource
from datasources.function import FunctionDataSource
from datasources.sql import open_database
from workflows.clock import Clock
from workflows.engine.engine import EngineOptions, WorkflowEngine
from workflows.engine.records import StateMachine
from workflows.engine.runners import register_engine_runners
from workflows.engine.store import SqlExecutionStore
from workflows.engine.tasks import TaskRegistry

CALLS: list[dict[str, Any]] = []
FAILURES_LEFT: dict[str, int] = {}


def double(event: Any) -> Any:
    CALLS.append({"fn": "double", "event": event})
    return {"value": event["value"] * 2}


def flaky(event: Any) -> Any:
    """Fails ``event["failures"]`` times per ``event["key"]``, then succeeds."""
    key = event["key"]
    left = FAILURES_LEFT.setdefault(key, int(event.get("failures", 1)))
    CALLS.append({"fn": "flaky", "event": event})
    if left > 0:
        FAILURES_LEFT[key] = left - 1
        raise TimeoutError(f"flaky {key} still failing")
    return {"key": key, "ok": True}


async def slow(event: Any) -> Any:
    CALLS.append({"fn": "slow", "event": event})
    await asyncio.sleep(float(event.get("seconds", 30)))
    return event


FUNCTIONS = {"double": "tests.workflows.engine_support:double",
             "flaky": "tests.workflows.engine_support:flaky",
             "slow": "tests.workflows.engine_support:slow"}


async def function_sources() -> dict[str, DataSource]:
    sources: dict[str, DataSource] = {}
    for name, handler in FUNCTIONS.items():
        source = FunctionDataSource(name, handler=handler, timeout_seconds=60)
        await source.start()
        sources[name] = source
    return sources


class Harness:
    """Engines over one database (each like one Trellis instance), closed together."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.clock = clock
        self.engines: list[WorkflowEngine] = []
        self.databases: list[Any] = []

    async def engine(self, instance_id: str = "a", *, lease_seconds: float = 30.0, start: bool = True) -> WorkflowEngine:
        database = open_database(self.url)
        self.databases.append(database)
        store = SqlExecutionStore(database)
        registry = TaskRegistry()
        sources = await function_sources()
        engine = WorkflowEngine(store, registry, clock=self.clock,
                                options=EngineOptions(instance_id=instance_id, lease_seconds=lease_seconds,
                                                      poll_seconds=0.05))
        register_engine_runners(registry, engine, sources.get)
        if start:
            await engine.start()
        self.engines.append(engine)
        return engine

    async def close(self) -> None:
        for engine in self.engines:
            await engine.close()
        for database in self.databases:
            await database.close()


async def machine(engine: WorkflowEngine, name: str, definition: Mapping[str, Any], kind: str = "STANDARD") -> StateMachine:
    now = engine.clock.now()
    record = StateMachine(arn=engine.arn("stateMachine", name), name=name, type=kind,
                          definition=json.dumps(definition), role_arn="arn:aws:iam::123456789012:role/test",
                          status="ACTIVE", created=now, updated=now, revision_id="1")
    return await engine.store.create_state_machine(record)


async def finished(engine: WorkflowEngine, arn: str, within: float = 10.0) -> Any:
    """The execution once it is no longer RUNNING (polls the store: any instance may run it)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        execution = await engine.store.get_execution(arn)
        if execution is not None and execution.status != "RUNNING":
            return execution
        if loop.time() > give_up:
            raise AssertionError(f"{arn} still {execution.status if execution else 'missing'} after {within} s")
        await asyncio.sleep(0.02)
