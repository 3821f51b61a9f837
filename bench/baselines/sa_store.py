"""Product data access with SQLAlchemy Core on an async aiosqlite engine, the way Trellis does it.

Shared by the Strawberry and stock graphql-core baselines, so those two differ from each other
only in their GraphQL layer. Like Trellis: one ``AsyncEngine`` with the same SQLite pragmas (WAL,
``synchronous=FULL``), a pooled connection per read, ``select(table)`` of the whole row.
Unlike Trellis there is no group commit: writes take an ``asyncio.Lock`` and commit one
transaction per request (the straightforward way to avoid SQLite's busy-wait between writers).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.baselines.common import decode_token, encode_token, new_product, product_table


def make_engine(path: str) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


class ProductStore:
    def __init__(self, path: str) -> None:
        self.engine = make_engine(path)
        self._write_lock = asyncio.Lock()

    async def get(self, product_id: str) -> dict[str, Any] | None:
        stmt = select(product_table).where(product_table.c.id == product_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return dict(row._mapping) if row is not None else None

    async def list(self, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        if limit < 1 or limit > 1000:
            raise ValueError("limit must be between 1 and 1000")
        stmt = select(product_table).order_by(product_table.c.id).limit(limit + 1)
        if next_token:
            stmt = stmt.where(product_table.c.id > decode_token(next_token))
        async with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(stmt)]
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, encode_token(rows[-1]["id"])

    async def create(self, data: dict[str, Any]) -> dict[str, Any]:
        item = new_product(data)
        async with self._write_lock, self.engine.begin() as conn:
            await conn.execute(insert(product_table).values(item))
        return item

    async def close(self) -> None:
        await self.engine.dispose()
