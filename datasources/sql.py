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
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Result, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.errors import ConfigError, DataSourceError, Problem, ValidationFailedError
from datasources.base import Invocation, register_kind

T = TypeVar("T")
SyncFn = Callable[[Connection], Any]
_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def compact_json(value: Any) -> str:
    # One canonical text per value: list filters (contains/eq) match on this exact form.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The stdlib driver's own transaction handling opens no transaction for SAVEPOINT, so a
    # savepoint's RELEASE would commit (an fsync per write). Trellis issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL makes each commit durable on return.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # DynamoDB's beginsWith/contains are case-sensitive; SQLite's LIKE is not by default.
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Only transactions that write open one; reads run in autocommit and see the newest data.
    if conn.info.get("explicit_begin"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def rows_of(result: Result[Any]) -> list[dict[str, Any]]:
    """Rows as dicts, the form resolvers hand to GraphQL (cheaper than ``Row._mapping``)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


Outcome = tuple[bool, Any]


class GroupCommitter:
    """Runs every write that arrives while a commit is in flight in the next single transaction.

    ``commit_batch`` receives the queued functions and returns one outcome per function; each
    caller gets its own result or exception, and nobody's write is acknowledged before the
    transaction holding it has committed.
    """

    def __init__(self, commit_batch: Callable[[list[SyncFn]], Awaitable[list[Outcome]]], max_batch: int = 256):
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[SyncFn, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, fn: SyncFn) -> Any:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        future: asyncio.Future[Any] = loop.create_future()
        await self._queue.put((fn, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[SyncFn, asyncio.Future[Any]]] = []
            entry = await self._queue.get()
            while entry is not None:
                batch.append(entry)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                entry = self._queue.get_nowait()
            stopping = entry is None
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[SyncFn, asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await self._commit_batch([fn for fn, _ in batch])
        except Exception as exc:  # noqa: BLE001 - the commit itself failed: nobody's write landed
            for _, future in batch:
                if not future.done():
                    future.set_exception(_wrap(exc))
            return
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if not future.done():
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


def _run_batch(conn: Connection, fns: list[SyncFn]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for fn in fns:
        try:
            with conn.begin_nested():
                outcomes.append((True, fn(conn)))
        except Exception as exc:  # noqa: BLE001 - handed to that write's caller
            outcomes.append((False, exc))
    return outcomes


def _run_batch_sqlite(conn: Connection, fns: list[SyncFn]) -> list[Outcome]:
    """``_run_batch`` with savepoints issued on the driver: SQLAlchemy's nested-transaction
    bookkeeping costs more than the INSERT it protects, and this thread holds the GIL."""
    driver = conn.connection.driver_connection
    assert driver is not None
    outcomes: list[Outcome] = []
    for fn in fns:
        driver.execute("SAVEPOINT trellis_write")
        try:
            outcomes.append((True, fn(conn)))
        except Exception as exc:  # noqa: BLE001 - handed to that write's caller
            driver.execute("ROLLBACK TO trellis_write")
            outcomes.append((False, exc))
        driver.execute("RELEASE trellis_write")
    return outcomes


def _wrap(exc: Exception) -> Exception:
    if isinstance(exc, SQLAlchemyError):
        return DataSourceError(f"Database error: {exc.__class__.__name__}")
    return exc


@dataclass(frozen=True)
class PreparedSelect:
    """A SELECT built once per shape, whose values all travel as named bind parameters.

    Hot reads (a key lookup, a batch of keys, an unfiltered page) have a handful of shapes per
    model; compiling each once lets SQLite run them straight on the driver.
    """

    statement: Executable
    sql: str
    parameter_order: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    keys: tuple[str, ...]


class SqlDatabase(ABC):
    """A database the @model store and ``sql`` data sources share.

    Work is handed over as plain functions of a SQLAlchemy ``Connection``: ``read`` (optionally
    ``in_loop`` for index-bounded lookups), ``write`` (group-committed) and ``run`` (one
    transaction of its own: DDL, admin). ``open_database`` picks the implementation by URL.
    """

    url: str
    dialect: str
    sync_engine: Engine
    statement_listeners: list[Callable[[str], None]]
    """Called with each SQL statement sent (tests count statements with it)."""

    def _listen_for_statements(self) -> None:
        self.statement_listeners = []

        def forward(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            for listener in self.statement_listeners:
                listener(statement)

        event.listen(self.sync_engine, "before_cursor_execute", forward)

    @abstractmethod
    async def read(self, fn: Callable[[Connection], T], *, in_loop: bool = False) -> T:
        """See the class docstring."""

    def prepare(self, statement: Select[Any]) -> PreparedSelect:
        """Compile a SELECT whose values are all ``bindparam``s, for ``fetch``."""
        dialect = self.sync_engine.dialect
        compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
        converters = tuple(column.type.result_processor(dialect, None) for column in columns)
        return PreparedSelect(
            statement=statement,
            sql=str(compiled),
            parameter_order=tuple(compiled.positiontup or ()),
            converters=converters,
            keys=tuple(str(column.key) for column in columns),
        )

    async def fetch(self, prepared: PreparedSelect, parameters: Mapping[str, Any], *,
                    in_loop: bool = False) -> list[dict[str, Any]]:
        statement = prepared.statement
        return await self.read(lambda conn: rows_of(conn.execute(statement, dict(parameters))), in_loop=in_loop)

    @abstractmethod
    async def write(self, fn: Callable[[Connection], T]) -> T:
        """See the class docstring."""

    @abstractmethod
    async def run(self, fn: Callable[[Connection], T]) -> T:
        """See the class docstring."""

    @abstractmethod
    async def close(self) -> None:
        """See the class docstring."""


class SqliteDatabase(SqlDatabase):
    """SQLite through the stdlib driver, without an async shim.

    aiosqlite hops to a thread for every cursor call (about 1,500 point reads/s through
    SQLAlchemy); here a whole unit of work is one call. Index-bounded reads (a key lookup, a
    batch of keys, an indexed page) run directly on the event loop — tens of microseconds on a
    local file in WAL mode; scans go to reader threads; writes go to one writer thread, which
    commits each group of concurrent writes with a single fsync.
    """

    def __init__(self, url: str, readers: int = 2) -> None:
        self.url = url
        self.dialect = "sqlite"
        parsed = make_url(url)
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.sync_engine = create_engine(
            parsed.set(drivername="sqlite"),
            json_serializer=compact_json,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=readers + 4,
            max_overflow=0,
        )
        event.listen(self.sync_engine, "connect", _sqlite_pragmas)
        event.listen(self.sync_engine, "begin", _sqlite_begin)
        self._listen_for_statements()
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="trellis-sqlite-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="trellis-sqlite-write")
        self._committer = GroupCommitter(self._commit_in_thread)
        self._connections: list[Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.sync_engine.connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _read_here(self, fn: Callable[[Connection], T]) -> T:
        conn = self._connection()
        try:
            return fn(conn)
        finally:
            # End the implicit transaction so the next read sees the newest committed data.
            conn.rollback()

    def _transaction_here(self, fn: Callable[[Connection], T]) -> T:
        conn = self._connection()
        conn.info["explicit_begin"] = True
        with conn.begin():
            return fn(conn)

    async def read(self, fn: Callable[[Connection], T], *, in_loop: bool = False) -> T:
        if in_loop:
            return self._read_here(fn)
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read_here, fn)

    def _fetch_here(self, prepared: PreparedSelect, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        # The driver directly: SQLAlchemy's per-execution work (cache key, context, result
        # wrapping) costs several times the lookup itself. Same SQL, same type conversions.
        driver = self._connection().connection.driver_connection
        assert driver is not None
        for listener in self.statement_listeners:
            listener(prepared.sql)
        rows = driver.execute(prepared.sql, [parameters[name] for name in prepared.parameter_order]).fetchall()
        keys = prepared.keys
        out = [dict(zip(keys, row, strict=True)) for row in rows]
        for index, convert in enumerate(prepared.converters):
            if convert is None:
                continue
            key = keys[index]
            for item in out:
                value = item[key]
                if value is not None:
                    item[key] = convert(value)
        return out

    async def fetch(self, prepared: PreparedSelect, parameters: Mapping[str, Any], *,
                    in_loop: bool = False) -> list[dict[str, Any]]:
        if in_loop:
            return self._fetch_here(prepared, parameters)
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._fetch_here, prepared, parameters)

    async def _commit_in_thread(self, fns: list[SyncFn]) -> list[Outcome]:
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, self._transaction_here, lambda conn: _run_batch_sqlite(conn, fns)
        )

    async def write(self, fn: Callable[[Connection], T]) -> T:
        result: T = await self._committer.submit(fn)
        return result

    async def run(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._transaction_here, fn)

    async def close(self) -> None:
        await self._committer.close()
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self.sync_engine.dispose()


class AsyncSqlDatabase(SqlDatabase):
    """PostgreSQL (asyncpg), MariaDB (asyncmy/aiomysql) and others through SQLAlchemy async."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=compact_json
        )
        self.dialect = self.engine.dialect.name
        self.sync_engine = self.engine.sync_engine
        self._listen_for_statements()
        self._committer = GroupCommitter(self._commit)

    async def read(self, fn: Callable[[Connection], T], *, in_loop: bool = False) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn)

    async def _commit(self, fns: list[SyncFn]) -> list[Outcome]:
        async with self.engine.begin() as conn:
            return await conn.run_sync(_run_batch, fns)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        result: T = await self._committer.submit(fn)
        return result

    async def run(self, fn: Callable[[Connection], T]) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(fn)

    async def close(self) -> None:
        await self._committer.close()
        await self.engine.dispose()


def open_database(url: str) -> SqlDatabase:
    if make_url(url).get_backend_name() == "sqlite":
        return SqliteDatabase(url)
    return AsyncSqlDatabase(url)


class SqlDataSource:
    kind = "sql"

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.database: SqlDatabase | None = None

    async def start(self) -> None:
        if self.database is None:
            self.database = open_database(self.url)

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
        database = self.database

        def run(conn: Connection) -> list[list[dict[str, Any]]]:
            results = []
            for statement in statements:
                params = {k: variables[k] for k in _PARAM.findall(statement)}
                result = conn.execute(text(statement), params)
                results.append(rows_of(result) if result.returns_rows else [])
            return results

        read_only = all(s.lstrip()[:6].upper() in ("SELECT", "WITH ") for s in statements)
        try:
            results = await (database.read(run) if read_only else database.run(run))
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
