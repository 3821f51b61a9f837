"""The ``sql`` data source: one SQLAlchemy async engine, parameterised statements, group commit.

``SqlDatabase`` owns the engine. Reads go straight to it; writes go through ``GroupCommitWriter``,
which runs every write that arrives while a commit is in flight in the next single transaction
(each in its own savepoint, so one failing write never undoes another) — with SQLite in WAL mode
and ``synchronous=FULL``, an acknowledged write is on disk and many writers share one fsync.

As a resolver target (AppSync's RDS resolvers), the request is::

    {"sql": "SELECT * FROM t WHERE id = :id", "variables": {"id": "1"}}
    {"statements": ["...", "..."], "variables": {...}}          # run in one transaction

Values only ever travel as bound parameters; the statement text comes from config or code, never
from a client.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.errors import ConfigError, DataSourceError, Problem, ValidationFailedError
from datasources.base import Invocation, register_kind

T = TypeVar("T")
WriteFn = Callable[[AsyncConnection], Awaitable[Any]]
_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=compact_json)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the writer; FULL makes each commit durable on return.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # DynamoDB's beginsWith/contains are case-sensitive; SQLite's LIKE is not by default.
            cursor.execute("PRAGMA case_sensitive_like=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=compact_json)


def compact_json(value: Any) -> str:
    # One canonical text per value: list filters (contains/eq) match on this exact form.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class GroupCommitWriter:
    """Batches concurrent writes into shared transactions; each caller gets its own outcome."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[WriteFn, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, fn: WriteFn) -> Any:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((fn, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[WriteFn, asyncio.Future[Any]]] = []
            entry = await self._queue.get()
            while entry is not None:
                batch.append(entry)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                entry = self._queue.get_nowait()
            stopping = entry is None
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[WriteFn, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            async with self._engine.begin() as conn:
                for fn, _ in batch:
                    try:
                        async with conn.begin_nested():
                            outcomes.append((True, await fn(conn)))
                    except Exception as exc:  # noqa: BLE001 - handed to that write's caller
                        outcomes.append((False, exc))
        except Exception as exc:  # noqa: BLE001 - the commit itself failed: nobody's write landed
            for _, future in batch:
                if not future.done():
                    future.set_exception(_wrap(exc))
            return
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def close(self) -> None:
        """Finish every write already queued (shutdown must not drop them), then stop."""
        if self._task is not None and not self._task.done():
            await self._queue.put(None)
            await self._task
        self._task = None


def _wrap(exc: Exception) -> Exception:
    if isinstance(exc, SQLAlchemyError):
        return DataSourceError(f"Database error: {exc.__class__.__name__}")
    return exc


class SqlDatabase:
    """An engine plus its writer; shared by the @model store and ``sql`` data sources."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.dialect = self.engine.dialect.name
        self.writer = GroupCommitWriter(self.engine)

    async def write(self, fn: WriteFn) -> Any:
        return await self.writer.submit(fn)

    async def close(self) -> None:
        await self.writer.close()
        await self.engine.dispose()


class SqlDataSource:
    kind = "sql"

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.database: SqlDatabase | None = None

    async def start(self) -> None:
        if self.database is None:
            self.database = SqlDatabase(self.url)

    async def close(self) -> None:
        if self.database is not None:
            await self.database.close()
            self.database = None

    async def invoke(self, invocation: Invocation) -> Any:
        request = invocation.request
        if not isinstance(request, Mapping):
            raise ValidationFailedError(f"sql data source {self.name!r}: request must be a mapping")
        variables = request.get("variables") or {}
        if not isinstance(variables, Mapping):
            raise ValidationFailedError(f"sql data source {self.name!r}: variables must be a mapping")
        statements = request.get("statements") or ([request["sql"]] if "sql" in request else [])
        if not statements or not all(isinstance(s, str) for s in statements):
            raise ValidationFailedError(f"sql data source {self.name!r}: give 'sql' or 'statements'")
        for statement in statements:
            missing = set(_PARAM.findall(statement)) - set(variables)
            if missing:
                raise ValidationFailedError(
                    f"sql data source {self.name!r}: no value for :{', :'.join(sorted(missing))}"
                )
        if self.database is None:
            await self.start()
        assert self.database is not None
        results: list[list[dict[str, Any]]] = []
        try:
            async with self.database.engine.begin() as conn:
                for statement in statements:
                    params = {k: variables[k] for k in _PARAM.findall(statement)}
                    result = await conn.execute(text(statement), params)
                    results.append([dict(r._mapping) for r in result] if result.returns_rows else [])
        except SQLAlchemyError as exc:
            raise DataSourceError(f"sql data source {self.name!r}: {exc.__class__.__name__}: "
                                  f"{getattr(exc, 'orig', exc)}") from exc
        return results[-1] if len(results) == 1 else results


def _factory(name: str, config: Mapping[str, Any]) -> SqlDataSource:
    url = config.get("url")
    unknown = set(config) - {"kind", "url"}
    problems = [Problem(f"data source {name!r}: unknown option {k!r}") for k in sorted(unknown)]
    if not isinstance(url, str) or not url:
        problems.append(Problem(f"data source {name!r}: 'url' (an SQLAlchemy async URL) is required"))
    else:
        try:
            make_url(url)
        except Exception:  # noqa: BLE001 - any parse failure is a config problem
            problems.append(Problem(f"data source {name!r}: invalid database url"))
    if problems:
        raise ConfigError(problems)
    assert isinstance(url, str)
    return SqlDataSource(name, url)


register_kind("sql", _factory)
