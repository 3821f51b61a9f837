"""Baseline (b): a code-first Strawberry app with the same Product API, caches on.

Types and fields match what Trellis generates for ``type Product @model`` (``getProduct``,
``listProducts(limit, nextToken)`` returning ``{ items nextToken }``, ``createProduct(input)``);
resolvers use the same data access as Trellis (SQLAlchemy Core on an aiosqlite ``AsyncEngine``,
see ``sa_store.py``). The schema has Strawberry's ``ParserCache`` and ``ValidationCache``
extensions, so a repeated query is parsed and validated once. Served by Strawberry's ASGI
``GraphQL`` app inside Starlette (GraphiQL off), one uvicorn worker, no access log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from bench.baselines.common import database_path
from bench.baselines.sa_store import ProductStore

store = ProductStore(database_path())


@strawberry.type
class Product:
    id: strawberry.ID
    sku: str
    name: str
    description: str | None
    price_cents: int
    category: str | None
    labels: list[str | None] | None
    active: bool | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Product:
        return cls(
            id=strawberry.ID(row["id"]), sku=row["sku"], name=row["name"], description=row["description"],
            price_cents=row["priceCents"], category=row["category"], labels=row["labels"], active=row["active"],
            created_at=row["createdAt"], updated_at=row["updatedAt"],
        )


@strawberry.type
class ModelProductConnection:
    items: list[Product | None]
    next_token: str | None


@strawberry.input
class CreateProductInput:
    id: strawberry.ID | None = None
    sku: str
    name: str
    description: str | None = None
    price_cents: int
    category: str | None = None
    labels: list[str | None] | None = None
    active: bool | None = None


@strawberry.type
class Query:
    @strawberry.field
    async def get_product(self, id: strawberry.ID) -> Product | None:
        row = await store.get(str(id))
        return Product.from_row(row) if row is not None else None

    @strawberry.field
    async def list_products(self, limit: int | None = None, next_token: str | None = None) -> ModelProductConnection:
        rows, token = await store.list(100 if limit is None else limit, next_token)
        return ModelProductConnection(items=[Product.from_row(r) for r in rows], next_token=token)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_product(self, input: CreateProductInput) -> Product:
        data = {
            "id": input.id, "sku": input.sku, "name": input.name, "description": input.description,
            "priceCents": input.price_cents, "category": input.category, "labels": input.labels,
            "active": input.active,
        }
        return Product.from_row(await store.create(data))


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[ParserCache(maxsize=1000), ValidationCache(maxsize=1000)],  # type: ignore[list-item]
)


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await store.close()


app = Starlette(lifespan=lifespan)
app.add_route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"])  # type: ignore[arg-type]
app.add_route("/health", health)
