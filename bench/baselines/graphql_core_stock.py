"""Baseline (c): graphql-core's stock executor over the same data — the list-100 yardstick.

The SDL is the subset of what Trellis generates for Product that the scenarios use, built with
``graphql.build_schema``; root fields get resolvers, every other field uses graphql-core's
default resolver (a dict lookup). Parse + validate are cached per query text (a plain dict),
and ``graphql.execute`` runs the operation. Data access is the Strawberry baseline's
(``sa_store.py``: SQLAlchemy Core on aiosqlite, as Trellis does), so the two differ only in
their GraphQL layer. One small Starlette endpoint at ``POST /graphql``; no access log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLError, build_schema, execute, parse, validate
from graphql.pyutils import is_awaitable
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.baselines.common import database_path
from bench.baselines.sa_store import ProductStore

SDL = """
scalar AWSDateTime

type Product {
  id: ID!
  sku: String!
  name: String!
  description: String
  priceCents: Int!
  category: String
  labels: [String]
  active: Boolean
  createdAt: AWSDateTime!
  updatedAt: AWSDateTime!
}

type ModelProductConnection {
  items: [Product]!
  nextToken: String
}

input CreateProductInput {
  id: ID
  sku: String!
  name: String!
  description: String
  priceCents: Int!
  category: String
  labels: [String]
  active: Boolean
}

type Query {
  getProduct(id: ID!): Product
  listProducts(limit: Int, nextToken: String): ModelProductConnection
}

type Mutation {
  createProduct(input: CreateProductInput!): Product
}
"""

store = ProductStore(database_path())
schema = build_schema(SDL)


async def resolve_get(_source: Any, _info: Any, id: str) -> Any:
    return await store.get(id)


async def resolve_list(_source: Any, _info: Any, limit: int | None = None, nextToken: str | None = None) -> Any:
    rows, token = await store.list(100 if limit is None else limit, nextToken)
    return {"items": rows, "nextToken": token}


async def resolve_create(_source: Any, _info: Any, input: dict[str, Any]) -> Any:
    return await store.create(input)


schema.query_type.fields["getProduct"].resolve = resolve_get  # type: ignore[union-attr]
schema.query_type.fields["listProducts"].resolve = resolve_list  # type: ignore[union-attr]
schema.mutation_type.fields["createProduct"].resolve = resolve_create  # type: ignore[union-attr]

_documents: dict[str, DocumentNode | list[GraphQLError]] = {}


def _prepare(query: str) -> DocumentNode | list[GraphQLError]:
    cached = _documents.get(query)
    if cached is None:
        try:
            document = parse(query)
        except GraphQLError as exc:
            cached = [exc]
        else:
            errors = validate(schema, document)
            cached = errors if errors else document
        if len(_documents) < 1000:
            _documents[query] = cached
    return cached


async def graphql_endpoint(request: Request) -> Response:
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return JSONResponse({"errors": [{"message": "expected a JSON object with a query"}]}, status_code=400)
    prepared = _prepare(body["query"])
    if isinstance(prepared, list):
        return JSONResponse({"errors": [e.formatted for e in prepared]})
    outcome = execute(schema, prepared, variable_values=body.get("variables"), operation_name=body.get("operationName"))
    result = await outcome if is_awaitable(outcome) else outcome
    assert isinstance(result, ExecutionResult)
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    return JSONResponse(payload)


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await store.close()


app = Starlette(
    routes=[Route("/graphql", graphql_endpoint, methods=["POST"]), Route("/health", health)],
    lifespan=lifespan,
)
