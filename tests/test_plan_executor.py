"""Differential tests: the plan executor must give exactly graphql.execute's results.

Every case runs the same document through ``graphql.execute`` and through
``PlanExecutor.plan`` + ``PlanExecutor.execute`` and compares data (including key order),
formatted errors, the kinds of the original errors, whether the result was awaitable, and
the side effects that resolvers record.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from inspect import isawaitable
from typing import Any

import pytest
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    execute,
    get_introspection_query,
    parse,
    validate,
)
from graphql.type import GraphQLResolveInfoHelpers

from app.plan_executor import PlanExecutor

MODES = ["sync", "async", "mixed"]
Info = GraphQLResolveInfo[Any]  # resolvers' info, for annotations


# ---------------------------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------------------------


async def settle(result: Any) -> tuple[ExecutionResult, bool]:
    """Await the result if needed, then let work settling in the background finish.

    Both executors settle the siblings of a failed non-null field in background tasks; the
    next run must not interleave with them, nor the test end (and close the loop) before them.
    """
    is_async = isawaitable(result)
    if is_async:
        result = await result
    current = asyncio.current_task()
    while pending := [task for task in asyncio.all_tasks() if task is not current]:
        await asyncio.wait(pending)
    return result, is_async


def summary(result: ExecutionResult) -> dict[str, Any]:
    errors = result.errors or []
    return {
        # json.dumps keeps key order, so this also compares the order of response keys
        "data": json.dumps(result.data),
        "errors": [error.formatted for error in errors],
        "original": [type(error.original_error).__name__ for error in errors],
        "errors_is_none": result.errors is None,
    }


async def run_stock(
    schema: GraphQLSchema,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    root_value: Any = None,
    context: Any = None,
) -> tuple[ExecutionResult, bool]:
    document = parse(query)
    return await settle(execute(schema, document, root_value, context, variables, operation_name))


async def run_planned(
    schema: GraphQLSchema,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    root_value: Any = None,
    context: Any = None,
    *,
    expect_plan: bool = True,
) -> tuple[ExecutionResult, bool]:
    document = parse(query)
    assert validate(schema, document) == []
    executor = PlanExecutor(schema)
    plan = executor.plan(document, operation_name)
    assert (plan is not None) == expect_plan
    if plan is None:  # what the wiring in app/execution.py does
        return await settle(execute(schema, document, root_value, context, variables, operation_name))
    # the plan is cached per document object
    assert executor.plan(document, operation_name) is plan
    return await settle(executor.execute(plan, root_value, context, variables))


async def compare(
    make_schema: Callable[[], tuple[GraphQLSchema, Any]],
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    expect_plan: bool = True,
) -> ExecutionResult:
    """Run both executors on fresh schemas/contexts; assert identical results and side effects."""
    schema, context = make_schema()
    expected, expected_async = await run_stock(schema, query, variables, operation_name, context=context)
    schema, planned_context = make_schema()
    actual, actual_async = await run_planned(
        schema, query, variables, operation_name, context=planned_context, expect_plan=expect_plan
    )
    assert summary(actual) == summary(expected)
    assert actual_async == expected_async
    assert getattr(planned_context, "log", None) == getattr(context, "log", None)
    return actual


class Context:
    def __init__(self) -> None:
        self.log: list[str] = []


# ---------------------------------------------------------------------------------------------
# Schema 1: a shop with every kind of type, resolvers sync, async or mixed
# ---------------------------------------------------------------------------------------------

SHOP_SDL = """
scalar Money
enum Color { RED GREEN BLUE }
interface Node { id: ID! }
interface Named { name: String }

type Product implements Node & Named {
  id: ID!
  name: String
  sku: String!
  price: Money
  color: Color
  colors: [Color!]
  tags: [String]
  matrix: [[Int]]
  strictMatrix: [[Int!]!]
  reviews(first: Int = 2, minStars: Int): [Review!]
  related: [Product]
  owner: User
  score: Float
  rank: Int
  inStock: Boolean
}

type User implements Node & Named {
  id: ID!
  name: String
  email: String!
  friends: [User!]!
  bestFriend: User!
}

type Review {
  stars: Int!
  body: String
  author: User
}

union SearchResult = Product | User | Review

input ProductFilter { color: Color, minRank: Int = 0, tags: [String!] }

type Query {
  product(id: ID!): Product
  strictProduct(id: ID!): Product!
  products(filter: ProductFilter, limit: Int = 10): [Product!]!
  looseProducts: [Product]
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]
  search(term: String!): [SearchResult]
  echo(s: String, n: Int, f: Float, b: Boolean, c: Color, cs: [Color!], filter: ProductFilter, m: Money): String
  boom: String
  boomNonNull: String!
  graphqlBoom: String
  notIterable: [Int]
  badNode(kind: String!): Node
  reviewByIsTypeOf: SearchResult
  objectSource: Product
  generatorList: [Int]
  awaitableItems: [String]
  asyncGen: [Int]
  exceptionValue: String
  strictList: [Int!]!
  asyncBoom: String
  syncBoomNonNull: String!
  asyncBoomNonNull: String!
}

type Mutation {
  log(msg: String!, delay: Int = 0): [String!]!
  failLog(msg: String!): String
  failNonNull(msg: String!): String!
}
"""

PRODUCTS: dict[str, dict[str, Any]] = {
    "1": {
        "__typename": "Product",
        "id": "1",
        "name": "Lamp",
        "sku": "L-1",
        "price": 1999,
        "color": "RED",
        "colors": ["RED", "BLUE"],
        "tags": ["home", None, "light"],
        "matrix": [[1, None], None, [3]],
        "strictMatrix": [[1, 2], [3]],
        "ownerId": "u1",
        "relatedIds": ["2", "3", "404"],
        "score": 4.5,
        "rank": 1,
        "inStock": True,
    },
    "2": {
        "__typename": "Product",
        "id": "2",
        "name": None,
        "sku": None,  # non-null violation
        "price": "bad",  # custom scalar refuses it
        "color": "PURPLE",  # not an enum value
        "colors": ["GREEN", None],  # non-null enum item violation
        "tags": ["a"],
        "matrix": [[1, "x"]],  # Int coercion error deep in a list of lists
        "strictMatrix": [[1, None]],  # null item bubbles through two non-null levels
        "ownerId": "u2",
        "relatedIds": ["1"],
        "score": float("inf"),
        "rank": 2**40,
        "inStock": "yes",
    },
    "3": {
        "__typename": "Product",
        "id": 3,  # ID from an int
        "name": "Chair",
        "sku": "C-3",
        "price": None,
        "color": "GREEN",
        "colors": [],
        "tags": "not-a-list",
        "matrix": [],
        "strictMatrix": None,
        "ownerId": "u404",
        "relatedIds": [],
        "score": "3.5",
        "rank": 3.0,
        "inStock": 0,
    },
}

USERS: dict[str, dict[str, Any]] = {
    "u1": {"__typename": "User", "id": "u1", "name": "Ada", "email": "ada@x", "friendIds": ["u2", "u3"], "best": "u3"},
    "u2": {"__typename": "User", "id": "u2", "name": "Bob", "email": None, "friendIds": ["u1"], "best": "u1"},
    "u3": {"__typename": "User", "id": "u3", "name": None, "email": "c@x", "friendIds": [], "best": "u404"},
}

REVIEWS: dict[str, list[dict[str, Any]]] = {
    "1": [
        {"stars": 5, "body": "great", "authorId": "u1"},
        {"stars": 4, "body": None, "authorId": "u2"},
        {"stars": 3, "body": "ok", "authorId": "u3"},
    ],
    "2": [{"stars": None, "body": "null stars", "authorId": "u1"}],
    "3": [{"stars": "abc", "body": "bad stars", "authorId": "u1"}],
}


class ObjectProduct:
    """A non-dict source: attributes and a method the default resolver calls with info."""

    __typename = "Product"

    def __init__(self) -> None:
        self.id = "obj"
        self.sku = "OBJ"
        self.price = 5
        self.rank = 7
        self.ownerId = "u1"
        self.relatedIds: list[str] = []

    def name(self, info: Info) -> str:
        return f"method {info.field_name} at {info.path.as_list()}"


class Boom(Exception):
    pass


def money(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise GraphQLError(f"Money cannot represent {value!r}")
    return f"${value / 100:.2f}"


def make_shop(mode: str) -> Callable[[], tuple[GraphQLSchema, Context]]:
    """A factory building a fresh shop schema whose resolvers are sync, async or mixed."""

    def factory() -> tuple[GraphQLSchema, Context]:
        schema = build_schema(SHOP_SDL)
        types = schema.type_map
        counter = iter(range(10_000))

        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            """Make a resolver async (in "async" mode, or every other one in "mixed" mode)."""
            if mode == "sync" or (mode == "mixed" and next(counter) % 2 == 0):
                return fn

            async def resolver(*args: Any, **kwargs: Any) -> Any:
                await asyncio.sleep(0)
                return fn(*args, **kwargs)

            return resolver

        def resolve(type_name: str, field_name: str, fn: Callable[..., Any]) -> None:
            type_ = types[type_name]
            assert isinstance(type_, GraphQLObjectType)
            type_.fields[field_name].resolve = wrap(fn)

        def filtered_products(_s: Any, _i: Any, limit: int, filter: dict[str, Any] | None = None) -> list[Any]:
            items = list(PRODUCTS.values())
            if filter:
                if "color" in filter:
                    items = [p for p in items if p["color"] == filter["color"]]
                items = [p for p in items if isinstance(p["rank"], (int, float)) and p["rank"] >= filter["minRank"]]
            return items[:limit]

        def echo(_s: Any, _i: Any, **args: Any) -> str:
            return json.dumps(args, sort_keys=True, default=str)

        def boom(_s: Any, _i: Any) -> Any:
            raise Boom("boom went the resolver")

        def graphql_boom(_s: Any, _i: Any) -> Any:
            raise GraphQLError("custom failure", extensions={"code": "CUSTOM"})

        def bad_node(_s: Any, _i: Any, kind: str) -> Any:
            return {"__kind": kind, "id": "bad"}

        def generator_list(_s: Any, _i: Any) -> Any:
            yield 1
            yield "2"
            yield "two"
            yield None

        def awaitable_items(_s: Any, _i: Any) -> Any:
            async def item(value: Any) -> Any:
                await asyncio.sleep(0)
                if value == "raise":
                    raise Boom("item failed")
                return value

            return [item("a"), item("raise"), "plain", item(None)]

        def async_gen(_s: Any, _i: Any) -> Any:
            async def gen() -> Any:
                yield 1
                await asyncio.sleep(0)
                yield "x"
                yield 3

            return gen()

        def log(_s: Any, info: Info, msg: str, delay: int) -> list[str]:
            info.context.log.append(msg)
            return list(info.context.log)

        async def async_log(_s: Any, info: Info, msg: str, delay: int) -> list[str]:
            info.context.log.append(f"start {msg}")
            for _ in range(delay):
                await asyncio.sleep(0)
            info.context.log.append(f"end {msg}")
            return list(info.context.log)

        def fail_log(_s: Any, info: Info, msg: str) -> Any:
            info.context.log.append(msg)
            raise Boom(f"failed {msg}")

        resolve("Query", "product", lambda _s, _i, id: PRODUCTS.get(id))
        resolve("Query", "strictProduct", lambda _s, _i, id: PRODUCTS.get(id))
        resolve("Query", "products", filtered_products)
        resolve("Query", "looseProducts", lambda _s, _i: [PRODUCTS["1"], None, PRODUCTS["3"]])
        resolve("Query", "node", lambda _s, _i, id: PRODUCTS.get(id) or USERS.get(id))
        resolve("Query", "nodes", lambda _s, _i, ids: [PRODUCTS.get(i) or USERS.get(i) for i in ids])
        resolve(
            "Query",
            "search",
            lambda _s, _i, term: [PRODUCTS["1"], USERS["u1"], REVIEWS["1"][0], None, USERS["u2"], REVIEWS["2"][0]],
        )
        resolve("Query", "echo", echo)
        resolve("Query", "boom", boom)
        resolve("Query", "boomNonNull", boom)
        resolve("Query", "graphqlBoom", graphql_boom)
        resolve("Query", "notIterable", lambda _s, _i: 42)
        resolve("Query", "badNode", bad_node)
        resolve("Query", "reviewByIsTypeOf", lambda _s, _i: REVIEWS["1"][1])
        resolve("Query", "objectSource", lambda _s, _i: ObjectProduct())
        resolve("Query", "generatorList", generator_list)
        resolve("Query", "awaitableItems", awaitable_items)
        resolve("Query", "asyncGen", async_gen)
        resolve("Query", "exceptionValue", lambda _s, _i: ValueError("returned, not raised"))
        resolve("Query", "strictList", lambda _s, _i: [1, None, 3])

        async def async_boom(_s: Any, _i: Any) -> Any:
            await asyncio.sleep(0)
            raise Boom("async boom")

        query_type = types["Query"]
        assert isinstance(query_type, GraphQLObjectType)
        # independent of the mode: an async failure next to a sync non-null failure
        query_type.fields["asyncBoom"].resolve = async_boom
        query_type.fields["asyncBoomNonNull"].resolve = async_boom
        query_type.fields["syncBoomNonNull"].resolve = boom

        def reviews(product: Any, _i: Any, first: int, minStars: int | None = None) -> list[dict[str, Any]]:
            product_id = product.id if isinstance(product, ObjectProduct) else product["id"]
            return REVIEWS.get(str(product_id), [])[:first]

        resolve("Product", "reviews", reviews)
        resolve("Product", "owner", lambda p, _i: USERS.get(p["ownerId"] if isinstance(p, dict) else p.ownerId))
        resolve(
            "Product",
            "related",
            lambda p, _i: [PRODUCTS.get(i) for i in (p["relatedIds"] if isinstance(p, dict) else p.relatedIds)],
        )
        resolve("User", "friends", lambda u, _i: [USERS[i] for i in u["friendIds"]])
        resolve("User", "bestFriend", lambda u, _i: USERS.get(u["best"]))
        resolve("Review", "author", lambda r, _i: USERS.get(r["authorId"]))
        mutation = types["Mutation"]
        assert isinstance(mutation, GraphQLObjectType)
        mutation.fields["log"].resolve = log if mode == "sync" else async_log
        mutation.fields["failLog"].resolve = wrap(fail_log)
        mutation.fields["failNonNull"].resolve = wrap(fail_log)

        money_type = types["Money"]
        money_type.coerce_output_value = money  # type: ignore[attr-defined]
        money_type.serialize = money  # type: ignore[attr-defined]

        def resolve_node(value: Any, _info: Info, _type: Any) -> Any:
            kind = value.get("__kind")
            if kind == "raise":
                raise Boom("resolve_type failed")
            return {
                None: value.get("__typename"),
                "none": None,
                "int": 42,
                "unknown": "Nope",
                "input": "ProductFilter",
                "wrong": "Review",
            }[kind]

        node = types["Node"]
        if mode == "sync":
            node.resolve_type = resolve_node  # type: ignore[attr-defined]
        else:

            async def async_resolve_node(value: Any, info: Info, type_: Any) -> Any:
                await asyncio.sleep(0)
                return resolve_node(value, info, type_)

            node.resolve_type = async_resolve_node  # type: ignore[attr-defined]

        def review_is_type_of(value: Any, _info: Info) -> bool:
            return isinstance(value, dict) and "stars" in value

        review = types["Review"]
        if mode == "async":

            async def async_review_is_type_of(value: Any, info: Info) -> bool:
                await asyncio.sleep(0)
                return review_is_type_of(value, info)

            review.is_type_of = async_review_is_type_of  # type: ignore[attr-defined]
        else:
            review.is_type_of = review_is_type_of  # type: ignore[attr-defined]
        return schema, Context()

    return factory


SHOP_QUERIES: list[tuple[str, dict[str, Any] | None]] = [
    ('{ product(id: "1") { id name sku } }', None),
    ('{ product(id: "404") { id } }', None),
    ('{ a: product(id: "1") { x: id y: name } b: product(id: "3") { id name z: sku } }', None),
    ('{ product(id: "1") { id id name id } }', None),
    ('{ product(id: "2") { id name sku } }', None),
    ('{ product(id: "2") { id name } other: product(id: "1") { name } }', None),
    ('{ strictProduct(id: "2") { id sku } }', None),
    ('{ strictProduct(id: "404") { id } }', None),
    ('{ product(id: "1") { price color colors tags matrix strictMatrix score rank inStock } }', None),
    ('{ product(id: "2") { price color colors tags matrix strictMatrix score rank inStock } }', None),
    ('{ product(id: "3") { id price color colors tags matrix strictMatrix score rank inStock } }', None),
    ("{ products { id sku } }", None),
    ("{ products { id name } }", None),
    ("{ products(limit: 1) { id } }", None),
    ("{ looseProducts { id sku name } }", None),
    ("{ looseProducts { id owner { name email } } }", None),
    ("{ products(filter: {color: RED}) { id color } }", None),
    ("{ products(filter: {minRank: 2}) { id rank } }", None),
    ("query ($f: ProductFilter) { products(filter: $f) { id } }", {"f": {"color": "GREEN"}}),
    ("query ($f: ProductFilter, $l: Int) { products(filter: $f, limit: $l) { id } }", {"l": 2}),
    ("query ($l: Int = 1) { products(limit: $l) { id } }", None),
    ("query ($l: Int = 1) { products(limit: $l) { id } }", {"l": 3}),
    ('{ product(id: "1") { reviews { stars body } } }', None),
    ('{ product(id: "1") { reviews(first: 3) { stars author { name } } } }', None),
    ('{ product(id: "2") { id reviews { stars body } } }', None),
    ('{ product(id: "3") { id reviews { stars body } } }', None),
    ('{ product(id: "1") { owner { name friends { name email } bestFriend { id } } } }', None),
    ('{ product(id: "1") { owner { friends { id bestFriend { id name } } } } }', None),
    ('{ product(id: "1") { related { id sku owner { id } } } }', None),
    ('{ product(id: "1") { related { id name } } }', None),
    ('{ node(id: "1") { id ... on Product { sku } ... on User { email } } }', None),
    ('{ node(id: "u1") { __typename id ... on Product { sku } ... on User { email name } } }', None),
    ('{ node(id: "u2") { id ... on User { email } } }', None),
    ('{ nodes(ids: ["1", "u1", "404", "u3"]) { __typename id ... on Named { name } } }', None),
    ('{ search(term: "x") { __typename ... on Product { id } ... on User { name } ... on Review { stars } } }', None),
    ('{ search(term: "x") { ... on Node { id } ... on Named { name } } }', None),
    ('{ search(term: "x") { __typename } }', None),
    ("{ reviewByIsTypeOf { __typename ... on Review { stars body } } }", None),
    ('{ badNode(kind: "none") { id } }', None),
    ('{ badNode(kind: "int") { id } }', None),
    ('{ badNode(kind: "unknown") { id } }', None),
    ('{ badNode(kind: "input") { id } }', None),
    ('{ badNode(kind: "wrong") { id } }', None),
    ('{ badNode(kind: "raise") { id } }', None),
    ("{ objectSource { id sku name price rank owner { name } related { id } } }", None),
    ('{ echo(s: "hi", n: 3, f: 1.5, b: true, c: RED, cs: [RED, BLUE]) }', None),
    ("{ echo }", None),
    ('{ echo(filter: {color: BLUE, tags: ["a"]}) }', None),
    ("query ($s: String, $n: Int, $c: Color) { echo(s: $s, n: $n, c: $c) }", {"s": "v", "n": 7, "c": "GREEN"}),
    ("query ($s: String, $n: Int, $c: Color) { echo(s: $s, n: $n, c: $c) }", {}),
    ("query ($f: ProductFilter) { echo(filter: $f) }", {"f": {"tags": ["x", "y"], "minRank": 5}}),
    ("query ($cs: [Color!]) { echo(cs: $cs) }", {"cs": "RED"}),
    ("{ boom }", None),
    ("{ a: boom b: echo c: boom }", None),
    ("{ boomNonNull }", None),
    ("{ echo boomNonNull }", None),
    ("{ graphqlBoom }", None),
    ("{ notIterable }", None),
    ("{ generatorList }", None),
    ("{ awaitableItems }", None),
    ("{ asyncGen }", None),
    ("{ exceptionValue }", None),
    ("{ strictList }", None),
    ("{ echo strictList }", None),
    # errors settling after their parent (here: the whole data) was nulled are dropped
    ("{ asyncBoom syncBoomNonNull }", None),
    ('{ asyncBoom product(id: "1") { owner { name } } syncBoomNonNull }', None),
    ("{ asyncBoom asyncBoomNonNull }", None),
    ("{ asyncBoomNonNull asyncBoom }", None),
    ('{ product(id: "1") { owner { name } } strictProduct(id: "2") { sku owner { name } } }', None),
    ('{ __typename product(id: "1") { __typename } }', None),
    # fragments
    (
        """
        query Q { product(id: "1") { ...Basic ...Basic owner { ...UserBits } ... on Product { sku } } }
        fragment Basic on Product { id name ...More }
        fragment More on Product { sku price }
        fragment UserBits on User { name ... on Named { name } }
        """,
        None,
    ),
    (
        """
        { nodes(ids: ["1", "u1"]) { ...N } }
        fragment N on Node { id ...P ...U ... on Named { __typename name } }
        fragment P on Product { sku related { ...M } }
        fragment U on User { email friends { ...M } }
        fragment M on Node { id ... on Named { name } }
        """,
        None,
    ),
    # a fragment spread twice is collected once (error locations list each field node once)
    (
        """
        { product(id: "2") { ...F sku ...F ... on Product { ...F sku } } }
        fragment F on Product { sku id }
        """,
        None,
    ),
    # skip / include with literals and variables
    ('{ product(id: "1") { id @skip(if: true) name @include(if: false) sku @skip(if: false) } }', None),
    (
        'query ($s: Boolean!, $i: Boolean!) { product(id: "1") { id @skip(if: $s) name @include(if: $i) sku } }',
        {"s": True, "i": True},
    ),
    (
        'query ($s: Boolean!, $i: Boolean!) { product(id: "1") { id @skip(if: $s) name @include(if: $i) sku } }',
        {"s": False, "i": False},
    ),
    (
        """
        query ($s: Boolean!) { product(id: "1") { ...F @skip(if: $s) ... @include(if: $s) { sku } id } }
        fragment F on Product { name price }
        """,
        {"s": False},
    ),
    (
        """
        query ($s: Boolean!) { product(id: "1") { ...F @skip(if: $s) ...F ... @include(if: $s) { sku } } }
        fragment F on Product { name price }
        """,
        {"s": True},
    ),
    ('query ($s: Boolean = true) { product(id: "1") { id @skip(if: $s) name } }', None),
    ('query ($s: Boolean = true) { product(id: "1") { id @skip(if: $s) name } }', {"s": False}),
    ('query ($s: Boolean = true) { product(id: "1") { id @skip(if: $s) name } }', {"s": None}),
    ('{ product(id: "1") { id @skip(if: true) @include(if: true) name @skip(if: false) @include(if: true) } }', None),
    # variable coercion errors
    ("query ($n: Int!) { echo(n: $n) }", {}),
    ("query ($n: Int!) { echo(n: $n) }", {"n": "abc"}),
    ("query ($n: Int!, $c: Color) { echo(n: $n, c: $c) }", {"n": None, "c": "PURPLE"}),
    ("query ($f: ProductFilter) { echo(filter: $f) }", {"f": {"color": 1, "nope": 2}}),
    # introspection goes through the same machinery
    ('{ __type(name: "Product") { name kind fields { name type { name kind ofType { name } } } } }', None),
    ("{ __schema { queryType { name } types { name } } }", None),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("query", "variables"), SHOP_QUERIES)
async def test_shop_matches_graphql_core(mode: str, query: str, variables: dict[str, Any] | None) -> None:
    await compare(make_shop(mode), query, variables)


async def test_full_introspection_query_matches() -> None:
    await compare(make_shop("sync"), get_introspection_query(descriptions=True))


# ---------------------------------------------------------------------------------------------
# Operations, mutations, request errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_mutations_run_serially_in_document_order(mode: str) -> None:
    query = """
        mutation {
          first: log(msg: "one", delay: 3)
          second: log(msg: "two", delay: 0)
          failed: failLog(msg: "three")
          third: log(msg: "four", delay: 1)
          __typename
        }
    """
    result = await compare(make_shop(mode), query)
    assert result.data is not None
    assert list(result.data) == ["first", "second", "failed", "third", "__typename"]


@pytest.mark.parametrize("mode", MODES)
async def test_mutation_non_null_failure_stops_later_fields(mode: str) -> None:
    query = 'mutation { a: log(msg: "a") b: failNonNull(msg: "b") c: log(msg: "c") }'
    result = await compare(make_shop(mode), query)
    assert result.data is None


@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        ("query A { echo } query B { boom }", None),  # must provide an operation name
        ("query A { echo } query B { boom }", "C"),  # unknown operation
        ("subscription S { echo }", None),  # no subscription root / subscriptions not planned
    ],
)
async def test_operations_graphql_core_handles(query: str, operation_name: str | None) -> None:
    schema, context = make_shop("sync")()
    document = parse(query)
    assert PlanExecutor(schema).plan(document, operation_name) is None
    expected, _ = await run_stock(schema, query, None, operation_name, context=context)
    assert expected.errors


@pytest.mark.parametrize("operation_name", ["A", "B"])
async def test_named_operation_of_several(operation_name: str) -> None:
    query = """
        query A { product(id: "1") { ...F } }
        query B { boom echo(s: "b") }
        fragment F on Product { id name }
    """
    await compare(make_shop("mixed"), query, None, operation_name)


def test_sync_result_when_nothing_is_async() -> None:
    schema, context = make_shop("sync")()
    executor = PlanExecutor(schema)
    plan = executor.plan(parse('{ product(id: "1") { id owner { name } } }'))
    assert plan is not None
    result = executor.execute(plan, None, context)
    assert isinstance(result, ExecutionResult)
    assert result.data == {"product": {"id": "1", "owner": {"name": "Ada"}}}
    assert result.errors is None


async def test_original_errors_are_preserved() -> None:
    schema, context = make_shop("async")()
    result, _ = await run_planned(schema, "{ boom graphqlBoom }", context=context)
    assert result.errors is not None
    boom, custom = result.errors
    assert isinstance(boom.original_error, Boom)
    assert str(boom.original_error) == "boom went the resolver"
    assert custom.extensions == {"code": "CUSTOM"}
    assert isinstance(custom.original_error, GraphQLError)


def test_plans_are_cached_per_document_and_operation() -> None:
    schema, _ = make_shop("sync")()
    executor = PlanExecutor(schema, cache_size=2)
    first, second = parse("query A { echo } query B { boom }"), parse("{ echo }")
    plan_a = executor.plan(first, "A")
    assert plan_a is not None
    assert executor.plan(first, "A") is plan_a
    assert executor.plan(first, "B") is not plan_a
    assert executor.plan(first, None) is None
    executor.plan(second)
    assert executor.plan(first, "A") is not plan_a  # evicted by the bound


async def test_mutated_argument_values_over_repeated_requests() -> None:
    """A resolver mutating its list arguments: literals are fresh on every request (as in
    graphql-core), while graphql-core reuses a coerced default value; the plan must agree."""
    sdl = 'type Query { grow(items: [String!]! = ["d"]): [String!]! }'
    query = '{ a: grow(items: ["a"]) b: grow }'

    def make() -> GraphQLSchema:
        schema = build_schema(sdl)

        def grow(_s: Any, _i: Any, items: list[str]) -> list[str]:
            items.append("x")
            return list(items)

        schema.query_type.fields["grow"].resolve = grow  # type: ignore[union-attr]
        return schema

    stock_schema, planned_schema = make(), make()
    document = parse(query)
    executor = PlanExecutor(planned_schema)
    plan = executor.plan(document)
    assert plan is not None
    for _ in range(3):
        expected = execute(stock_schema, document)
        actual = executor.execute(plan)
        assert isinstance(expected, ExecutionResult)
        assert isinstance(actual, ExecutionResult)
        assert actual.data == expected.data
        assert actual.data["a"] == ["a", "x"]  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Resolve info
# ---------------------------------------------------------------------------------------------


async def test_resolve_info_matches_graphql_core() -> None:
    sdl = """
        interface Pet { name: String }
        type Dog implements Pet { name: String owner(x: Int = 1): Person }
        type Person { name: String }
        type Query { pets(kind: String): [Pet] }
    """
    captured: dict[str, list[tuple[Any, ...]]] = {"stock": [], "planned": []}

    def make(bucket: list[tuple[Any, ...]]) -> GraphQLSchema:
        schema = build_schema(sdl)

        def record(info: Info, args: dict[str, Any]) -> None:
            assert isinstance(info, GraphQLResolveInfo)
            assert isinstance(info.async_helpers, GraphQLResolveInfoHelpers)
            assert callable(info.async_helpers.gather)
            assert callable(info.async_helpers.track)
            bucket.append(
                (
                    info.field_name,
                    info.field_nodes,
                    info.return_type,
                    info.parent_type,
                    info.path,
                    info.schema,
                    info.fragments,
                    info.root_value,
                    info.operation,
                    info.variable_values,
                    info.context,
                    info.is_awaitable,
                    info.abort_signal,
                    args,
                )
            )

        def pets(_s: Any, info: Info, **args: Any) -> Any:
            record(info, args)
            return [{"__typename": "Dog", "name": "Rex"}, {"__typename": "Dog", "name": "Fido"}]

        async def owner(_s: Any, info: Info, **args: Any) -> Any:
            record(info, args)
            return {"name": "Ann"}

        def resolve_type(value: Any, info: Info, _type: Any) -> str:
            record(info, {"type_of": value["name"]})
            return str(value["__typename"])

        schema.query_type.fields["pets"].resolve = pets  # type: ignore[union-attr]
        dog = schema.type_map["Dog"]
        assert isinstance(dog, GraphQLObjectType)
        dog.fields["owner"].resolve = owner
        schema.type_map["Pet"].resolve_type = resolve_type  # type: ignore[attr-defined]
        return schema

    query = """
        query Pets($kind: String, $x: Int) { pets(kind: $kind) { ...P } }
        fragment P on Pet { name ... on Dog { owner(x: $x) { name } } }
    """
    document = parse(query)
    root, context = object(), Context()
    variables = {"kind": "dog", "x": 5}
    stock_schema = make(captured["stock"])
    expected, _ = await settle(execute(stock_schema, document, root, context, variables))
    planned_schema = make(captured["planned"])
    executor = PlanExecutor(planned_schema)
    plan = executor.plan(document)
    assert plan is not None
    actual, _ = await settle(executor.execute(plan, root, context, variables))
    assert summary(actual) == summary(expected)

    def comparable(entry: tuple[Any, ...], schema: GraphQLSchema) -> tuple[Any, ...]:
        # swap the (per-run) schema objects for their names
        (name, nodes, return_type, parent_type, path, info_schema, *rest) = entry
        assert info_schema is schema
        return (name, nodes, str(return_type), str(parent_type), path, *rest)

    assert [comparable(e, planned_schema) for e in captured["planned"]] == [
        comparable(e, stock_schema) for e in captured["stock"]
    ]
    assert len(captured["planned"]) == 5  # pets, 2 x resolve_type, 2 x owner


# ---------------------------------------------------------------------------------------------
# Concurrency: batch loaders rely on siblings starting before any of them completes
# ---------------------------------------------------------------------------------------------


async def test_sibling_list_items_start_before_any_finishes() -> None:
    sdl = """
        type Author { name: String }
        type Book { title: String author: Author }
        type Query { books: [Book] }
    """

    def make(events: list[str]) -> GraphQLSchema:
        schema = build_schema(sdl)
        pending: list[asyncio.Future[None]] = []

        async def author(book: dict[str, Any], _info: Info) -> dict[str, Any]:
            # A batch loader: the first load schedules one dispatch for everything queued
            # in the same tick; every load waits for that dispatch.
            events.append(f"start {book['title']}")
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            pending.append(future)
            if len(pending) == 1:

                def dispatch() -> None:
                    for waiting in pending:
                        waiting.set_result(None)

                asyncio.get_running_loop().call_soon(dispatch)
            await future
            events.append(f"finish {book['title']}")
            return {"name": f"author of {book['title']}"}

        book = schema.type_map["Book"]
        assert isinstance(book, GraphQLObjectType)
        book.fields["author"].resolve = author
        return schema

    root = {"books": [{"title": f"b{i}"} for i in range(5)]}
    query = "{ books { title author { name } } }"
    stock_events: list[str] = []
    expected, _ = await run_stock(make(stock_events), query, root_value=root)
    planned_events: list[str] = []
    actual, _ = await run_planned(make(planned_events), query, root_value=root)
    assert summary(actual) == summary(expected)
    assert planned_events == stock_events
    assert [e.split()[0] for e in planned_events] == ["start"] * 5 + ["finish"] * 5


# ---------------------------------------------------------------------------------------------
# Property test: random queries over a recursive schema with random failures
# ---------------------------------------------------------------------------------------------

TREE_SDL = """
interface Thing { id: ID! name: String }
type Node implements Thing {
  id: ID!
  name: String
  value: Int
  flag: Boolean!
  children(limit: Int = 3): [Node]
  kids: [Node!]!
  parent: Node
  strict: Node!
  tags: [String!]
  grid: [[Int]]
  item: Item
  thing: Thing
  slow: String
}
type Leaf implements Thing { id: ID! name: String weight: Float! }
union Item = Node | Leaf
type Query { root: Node strictRoot: Node! things: [Thing] items: [Item!] node(id: ID!): Node }
"""

NODE_SCALARS = ["id", "name", "value", "flag", "tags", "grid", "slow", "__typename"]
NODE_OBJECTS = ["children", "kids", "parent", "strict", "item", "thing"]


def chance(key: str, seed: int, percent: int) -> bool:
    """A deterministic coin, the same for both executors."""
    return random.Random(f"{seed}:{key}").randrange(100) < percent


def make_tree(seed: int) -> Callable[[], tuple[GraphQLSchema, Context]]:
    def factory() -> tuple[GraphQLSchema, Context]:
        schema = build_schema(TREE_SDL)
        types = schema.type_map

        def node(node_id: str) -> dict[str, Any] | None:
            if chance(f"missing {node_id}", seed, 5):
                return None
            depth = node_id.count(".")
            return {
                "__typename": "Node",
                "id": node_id,
                "name": None if chance(f"name {node_id}", seed, 20) else f"node {node_id}",
                "value": "NaN" if chance(f"value {node_id}", seed, 10) else depth * 10,
                "flag": None if chance(f"flag {node_id}", seed, 10) else depth % 2 == 0,
                "tags": ["t", None] if chance(f"tags {node_id}", seed, 15) else ["t", "u"],
                "grid": [[1, None], None, [2, "bad" if chance(f"grid {node_id}", seed, 15) else 3]],
            }

        def leaf(leaf_id: str) -> dict[str, Any]:
            weight = None if chance(f"weight {leaf_id}", seed, 20) else 1.5
            # leaves identified by is_type_of half of the time
            typename = {} if chance(f"typename {leaf_id}", seed, 50) else {"__typename": "Leaf"}
            return {**typename, "id": leaf_id, "name": f"leaf {leaf_id}", "weight": weight, "isLeaf": True}

        def maybe_async(key: str, value: Callable[[], Any]) -> Any:
            """Some resolvers are async, some raise, some do both: decided by the seed."""
            is_async = chance(f"async {key}", seed, 50)
            fails = chance(f"fail {key}", seed, 8)

            def compute() -> Any:
                if fails:
                    raise Boom(f"failed {key}")
                return value()

            if not is_async:
                return compute()

            async def later() -> Any:
                for _ in range(random.Random(f"{seed}:sleep {key}").randrange(3)):
                    await asyncio.sleep(0)
                return compute()

            return later()

        def child_ids(parent: dict[str, Any], count: int) -> list[str]:
            return [f"{parent['id']}.{i}" for i in range(count)]

        def resolver(type_name: str, field: str, fn: Callable[..., Any]) -> None:
            type_ = types[type_name]
            assert isinstance(type_, GraphQLObjectType)
            type_.fields[field].resolve = fn

        resolver("Query", "root", lambda _s, _i: maybe_async("root", lambda: node("r")))
        resolver("Query", "strictRoot", lambda _s, _i: maybe_async("strictRoot", lambda: node("s")))
        resolver("Query", "node", lambda _s, _i, id: maybe_async(f"node {id}", lambda: node(id)))
        resolver(
            "Query",
            "things",
            lambda _s, _i: maybe_async("things", lambda: [node("t0"), leaf("t1"), None, leaf("t3")]),
        )
        resolver("Query", "items", lambda _s, _i: maybe_async("items", lambda: [leaf("i0"), node("i1")]))
        resolver(
            "Node",
            "children",
            lambda p, _i, limit: maybe_async(
                f"children {p['id']}", lambda: [node(i) for i in child_ids(p, min(limit, 3))]
            ),
        )
        resolver(
            "Node",
            "kids",
            lambda p, _i: maybe_async(f"kids {p['id']}", lambda: [node(i) for i in child_ids(p, 2)]),
        )
        resolver(
            "Node", "parent", lambda p, _i: maybe_async(f"parent {p['id']}", lambda: node(p["id"].rpartition(".")[0]))
        )
        resolver("Node", "strict", lambda p, _i: maybe_async(f"strict {p['id']}", lambda: node(p["id"] + ".s")))
        resolver(
            "Node",
            "item",
            lambda p, _i: maybe_async(
                f"item {p['id']}", lambda: leaf(p["id"] + ".l") if chance(p["id"], seed, 50) else node(p["id"] + ".n")
            ),
        )
        resolver("Node", "thing", lambda p, _i: maybe_async(f"thing {p['id']}", lambda: node(p["id"] + ".t")))
        resolver("Node", "slow", lambda p, _i: maybe_async(f"slow {p['id']}", lambda: f"slow {p['id']}"))
        leaf_type = types["Leaf"]
        leaf_type.is_type_of = lambda value, _info: isinstance(value, dict) and value.get("isLeaf", False)  # type: ignore[attr-defined]
        return schema, Context()

    return factory


class QueryGenerator:
    """Random, valid queries: aliases, fragments, inline fragments, skip/include, arguments."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.fragments: dict[str, str] = {}
        self.variables: dict[str, Any] = {}
        self.variable_definitions: list[str] = []

    def condition(self) -> str:
        r = self.random
        if r.random() > 0.2:
            return ""
        directive = r.choice(["skip", "include"])
        if r.random() < 0.5:
            return f" @{directive}(if: {r.choice(['true', 'false'])})"
        name = f"v{len(self.variable_definitions)}"
        self.variable_definitions.append(f"${name}: Boolean!")
        self.variables[name] = r.choice([True, False])
        return f" @{directive}(if: ${name})"

    def alias(self, name: str) -> str:
        r = self.random
        return f"{r.choice(['a', 'b', 'c'])}{r.randrange(3)}: {name}" if r.random() < 0.25 else name

    def node_selection(self, depth: int) -> str:
        r = self.random
        parts: list[str] = []
        for _ in range(r.randrange(1, 5)):
            roll = r.random()
            if depth <= 0 or roll < 0.45:
                parts.append(self.alias(r.choice(NODE_SCALARS)) + self.condition())
            elif roll < 0.8:
                field = r.choice(NODE_OBJECTS)
                args = f"(limit: {r.randrange(4)})" if field == "children" and r.random() < 0.5 else ""
                parts.append(f"{self.alias(field)}{args}{self.condition()} {self.selection_for(field, depth - 1)}")
            elif roll < 0.9:
                parts.append(f"... on Node{self.condition()} {{ {self.node_selection(depth - 1)} }}")
            else:
                parts.append(f"...{self.fragment(depth - 1)}{self.condition()}")
        return " ".join(parts)

    def fragment(self, depth: int) -> str:
        name = f"F{len(self.fragments)}"
        self.fragments[name] = ""  # reserve the name before recursing
        self.fragments[name] = f"fragment {name} on Node {{ {self.node_selection(depth)} }}"
        return name

    def thing_selection(self, depth: int) -> str:
        r = self.random
        parts = [r.choice(["id", "name", "__typename"])]
        if r.random() < 0.7:
            parts.append(f"... on Node {{ {self.node_selection(depth)} }}")
        if r.random() < 0.7:
            parts.append("... on Leaf { weight id }")
        return " ".join(parts)

    def item_selection(self, depth: int) -> str:
        r = self.random
        parts = ["__typename"]
        if r.random() < 0.7:
            parts.append(f"... on Node {{ {self.node_selection(depth)} }}")
        if r.random() < 0.7:
            parts.append("... on Leaf { name weight }")
        if r.random() < 0.5:
            parts.append("... on Thing { id }")
        return " ".join(parts)

    def selection_for(self, field: str, depth: int) -> str:
        if field == "item":
            return f"{{ {self.item_selection(depth)} }}"
        if field == "thing":
            return f"{{ {self.thing_selection(depth)} }}"
        return f"{{ {self.node_selection(depth)} }}"

    def query(self) -> tuple[str, dict[str, Any]]:
        r = self.random
        roots = []
        for _ in range(r.randrange(1, 4)):
            root = r.choice(["root", "strictRoot", "things", "items", "node"])
            if root in ("root", "strictRoot"):
                roots.append(f"{self.alias(root)} {{ {self.node_selection(3)} }}")
            elif root == "node":
                roots.append(f'{self.alias("node")}(id: "r.{r.randrange(3)}") {{ {self.node_selection(2)} }}')
            elif root == "things":
                roots.append(f"{self.alias('things')} {{ {self.thing_selection(2)} }}")
            else:
                roots.append(f"{self.alias('items')} {{ {self.item_selection(2)} }}")
        definitions = f"({', '.join(self.variable_definitions)})" if self.variable_definitions else ""
        body = f"query{definitions} {{ {' '.join(roots)} }}"
        return "\n".join([body, *self.fragments.values()]), self.variables


def generate_valid_query(schema: GraphQLSchema, seed: int) -> tuple[str, dict[str, Any]]:
    """A random query that validates (aliases may clash in shape; then try the next draw)."""
    for attempt in range(50):
        query, variables = QueryGenerator(seed * 100 + attempt).query()
        if not validate(schema, parse(query)):
            return query, variables
    raise AssertionError(f"no valid query for seed {seed}")  # pragma: no cover


@pytest.mark.parametrize("seed", range(300))
async def test_random_queries_match_graphql_core(seed: int) -> None:
    factory = make_tree(seed)
    schema, _ = factory()
    query, variables = generate_valid_query(schema, seed)
    await compare(factory, query, variables)
