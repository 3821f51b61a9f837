"""The four scenarios and the contenders: what is sent, where, and what a correct answer is.

Every server gets byte-for-byte the same request bodies (a GraphQL-over-HTTP JSON object);
only the path differs for raw Starlette, which has one endpoint per scenario.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SMALL_QUERY = "{ __typename }"
GET_QUERY = "query GetProduct($id: ID!) { getProduct(id: $id) { id sku name priceCents } }"
LIST_QUERY = "query ListProducts { listProducts(limit: 100) { items { id name priceCents } nextToken } }"
CREATE_MUTATION = (
    "mutation CreateProduct($input: CreateProductInput!) { createProduct(input: $input) { id sku name priceCents } }"
)
LIST_LIMIT = 100
SCENARIOS = ("small", "get", "list", "create")
SCENARIO_TITLES = {
    "small": "small query `{ __typename }`",
    "get": "`getProduct(id:)` point read, 4 fields",
    "list": "`listProducts(limit: 100)`, 3 fields",
    "create": "`createProduct` durable insert",
}
# A placeholder the load generators replace with a per-request counter (create: unique sku).
COUNTER = "@@N@@"


@dataclass(frozen=True)
class Contender:
    name: str
    title: str
    paths: dict[str, str]  # scenario -> request path
    scenarios: tuple[str, ...] = SCENARIOS


CONTENDERS = (
    Contender("raw", "raw Starlette", {s: f"/{s}" for s in SCENARIOS}),
    Contender("graphql_core", "graphql-core stock executor", dict.fromkeys(SCENARIOS, "/graphql")),
    Contender("strawberry", "Strawberry (parser+validation caches)", dict.fromkeys(SCENARIOS, "/graphql")),
    Contender("trellis", "Trellis", dict.fromkeys(SCENARIOS, "/graphql")),
)


def body(query: str, variables: dict[str, Any] | None = None) -> str:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    return json.dumps(payload, separators=(",", ":"))


def small_body() -> str:
    return body(SMALL_QUERY)


def get_bodies(ids: list[str]) -> list[str]:
    return [body(GET_QUERY, {"id": i}) for i in ids]


def list_body() -> str:
    return body(LIST_QUERY)


def create_body_template() -> str:
    """A create body whose sku contains ``COUNTER``; the generators make it unique per request."""
    variables = {"input": {"sku": f"bench-{COUNTER}", "name": "Bench product", "priceCents": 1234}}
    return body(CREATE_MUTATION, variables)


def check(scenario: str, response: Any, expect: dict[str, Any]) -> list[str]:
    """Problems with one response (empty when it is right). ``expect`` holds the known data."""
    problems: list[str] = []
    if not isinstance(response, dict):
        return [f"response is not a JSON object: {response!r:.200}"]
    if response.get("errors"):
        problems.append(f"errors: {json.dumps(response['errors'])[:300]}")
    data = response.get("data")
    if not isinstance(data, dict):
        return [*problems, f"no data object: {json.dumps(response)[:300]}"]
    if scenario == "small":
        if data != {"__typename": "Query"}:
            problems.append(f"small: unexpected data {data!r}")
    elif scenario == "get":
        want = expect["product"]
        if data.get("getProduct") != want:
            problems.append(f"get: expected {want!r}, got {data.get('getProduct')!r}")
    elif scenario == "list":
        page = data.get("listProducts") or {}
        items = page.get("items")
        if not isinstance(items, list) or len(items) != LIST_LIMIT:
            problems.append(f"list: expected {LIST_LIMIT} items, got {type(items).__name__} "
                            f"of {len(items) if isinstance(items, list) else '?'}")
        elif items != expect["first_page"]:
            problems.append("list: items differ from the first 100 products by id")
        if not page.get("nextToken"):
            problems.append("list: expected a nextToken (there are more than 100 products)")
    elif scenario == "create":
        created = data.get("createProduct") or {}
        want_sku = expect["sku"]
        if created.get("sku") != want_sku or not created.get("id") or created.get("priceCents") != 1234:
            problems.append(f"create: unexpected {created!r}")
    return problems
