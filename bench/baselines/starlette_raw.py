"""Baseline (a): raw Starlette, one JSON endpoint per scenario, no GraphQL at all.

Each endpoint takes the very same request body the GraphQL servers get (``{"query": ...,
"variables": ...}``), parses it as JSON, reads what it needs from ``variables`` and answers with
the same JSON document a GraphQL server would return:

* ``POST /small``  -> ``{"data":{"__typename":"Query"}}`` (a constant: the body is parsed, not used)
* ``POST /get``    -> one Product (id, sku, name, priceCents) by primary key
* ``POST /list``   -> the first 100 Products by id (id, name, priceCents) and a nextToken
* ``POST /create`` -> INSERT one Product and COMMIT (WAL, ``synchronous=FULL``), then answer

Data access is hand-written SQL on the stdlib ``sqlite3`` driver, reached the way an async app
must reach a blocking driver. ``BENCH_RAW_DB`` picks how:

* ``aiosqlite`` (default): one long-lived aiosqlite connection for reads and one for writes;
  writes are serialised with an ``asyncio.Lock`` and each request commits its own transaction.
* ``threadpool``: stdlib ``sqlite3`` in Starlette's thread pool, one connection per thread.

No access log (uvicorn's is off), no auth, no validation beyond type checks of the inputs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import aiosqlite
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.baselines.common import database_path, encode_token, new_product

GET_SQL = 'SELECT id, sku, name, "priceCents" FROM "Product" WHERE id = ?'
LIST_SQL = 'SELECT id, name, "priceCents" FROM "Product" ORDER BY id LIMIT ?'
INSERT_SQL = (
    'INSERT INTO "Product" (id, sku, name, description, "priceCents", category, labels, active, '
    '"createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
LIST_LIMIT = 100
SMALL_BODY = b'{"data":{"__typename":"Query"}}'


def _pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")


def _insert_params(item: dict[str, Any]) -> tuple[Any, ...]:
    labels = json.dumps(item["labels"]) if item["labels"] is not None else None
    return (item["id"], item["sku"], item["name"], item["description"], item["priceCents"], item["category"],
            labels, int(item["active"]), item["createdAt"], item["updatedAt"])


class AioSqliteAccess:
    def __init__(self, path: str) -> None:
        self.path = path
        self.reader: aiosqlite.Connection | None = None
        self.writer: aiosqlite.Connection | None = None
        self.write_lock = asyncio.Lock()

    async def open(self) -> None:
        self.reader = await aiosqlite.connect(self.path, timeout=30)
        self.writer = await aiosqlite.connect(self.path, timeout=30)
        for conn in (self.reader, self.writer):
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")

    async def close(self) -> None:
        for conn in (self.reader, self.writer):
            if conn is not None:
                await conn.close()

    async def get(self, product_id: str) -> tuple[Any, ...] | None:
        assert self.reader is not None
        async with self.reader.execute(GET_SQL, (product_id,)) as cursor:
            return cast("tuple[Any, ...] | None", await cursor.fetchone())

    async def list(self, limit: int) -> list[tuple[Any, ...]]:
        assert self.reader is not None
        async with self.reader.execute(LIST_SQL, (limit,)) as cursor:
            return cast("list[tuple[Any, ...]]", await cursor.fetchall())

    async def insert(self, item: dict[str, Any]) -> None:
        assert self.writer is not None
        async with self.write_lock:
            await self.writer.execute(INSERT_SQL, _insert_params(item))
            await self.writer.commit()


class ThreadPoolAccess:
    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()
        self.write_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            _pragmas(conn)
            self.local.conn = conn
        return conn

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _get(self, product_id: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn().execute(GET_SQL, (product_id,)).fetchone()
        return row

    def _list(self, limit: int) -> list[tuple[Any, ...]]:
        return self._conn().execute(LIST_SQL, (limit,)).fetchall()

    def _insert(self, item: dict[str, Any]) -> None:
        conn = self._conn()
        with self.write_lock:
            conn.execute(INSERT_SQL, _insert_params(item))
            conn.commit()

    async def get(self, product_id: str) -> tuple[Any, ...] | None:
        return await run_in_threadpool(self._get, product_id)

    async def list(self, limit: int) -> list[tuple[Any, ...]]:
        return await run_in_threadpool(self._list, limit)

    async def insert(self, item: dict[str, Any]) -> None:
        await run_in_threadpool(self._insert, item)


MODE = os.environ.get("BENCH_RAW_DB", "aiosqlite")
if MODE == "aiosqlite":
    db: AioSqliteAccess | ThreadPoolAccess = AioSqliteAccess(database_path())
elif MODE == "threadpool":
    db = ThreadPoolAccess(database_path())
else:
    raise RuntimeError(f"BENCH_RAW_DB must be aiosqlite or threadpool, not {MODE!r}")


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=400)


async def _variables(request: Request) -> dict[str, Any]:
    body = await request.json()
    variables = body.get("variables") if isinstance(body, dict) else None
    return variables if isinstance(variables, dict) else {}


async def small(request: Request) -> Response:
    await request.json()
    return Response(SMALL_BODY, media_type="application/json")


async def get_product(request: Request) -> Response:
    product_id = (await _variables(request)).get("id")
    if not isinstance(product_id, str):
        return _bad("variables.id must be a string")
    row = await db.get(product_id)
    product = None if row is None else {"id": row[0], "sku": row[1], "name": row[2], "priceCents": row[3]}
    return JSONResponse({"data": {"getProduct": product}})


async def list_products(request: Request) -> Response:
    await request.json()
    rows = await db.list(LIST_LIMIT + 1)
    token = None
    if len(rows) > LIST_LIMIT:
        rows = rows[:LIST_LIMIT]
        token = encode_token(rows[-1][0])
    items = [{"id": r[0], "name": r[1], "priceCents": r[2]} for r in rows]
    return JSONResponse({"data": {"listProducts": {"items": items, "nextToken": token}}})


async def create_product(request: Request) -> Response:
    data = (await _variables(request)).get("input")
    if (not isinstance(data, dict) or not isinstance(data.get("sku"), str) or not isinstance(data.get("name"), str)
            or not isinstance(data.get("priceCents"), int)):
        return _bad("variables.input needs sku, name and priceCents")
    item = new_product(data)
    await db.insert(item)
    created = {"id": item["id"], "sku": item["sku"], "name": item["name"], "priceCents": item["priceCents"]}
    return JSONResponse({"data": {"createProduct": created}})


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    await db.open()
    try:
        yield
    finally:
        await db.close()


app = Starlette(
    routes=[
        Route("/small", small, methods=["POST"]),
        Route("/get", get_product, methods=["POST"]),
        Route("/list", list_products, methods=["POST"]),
        Route("/create", create_product, methods=["POST"]),
        Route("/health", health),
    ],
    lifespan=lifespan,
)
