"""Filters, @index queries and pagination, run in the database; SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

PRODUCTS = [
    # sku, name, priceCents, category, labels, active, description
    ("A-1", "Anvil", 1999, "tools", ["heavy", "iron"], True, "Drop-forged"),
    ("A-2", "Axe", 2599, "tools", ["sharp"], True, None),
    ("B-1", "Bucket", 499, "garden", [], False, "Galvanised"),
    ("B-2", "bench", 8999, "garden", ["wood"], True, "Oak bench"),
    ("C-1", "Chisel", 899, "tools", ["sharp", "iron"], True, "50% off"),
    ("D-1", "Dibber", 299, None, None, True, "For_seeds"),
]


@pytest.fixture
async def catalog(demo):
    for sku, name, price, category, labels, active, description in PRODUCTS:
        await demo.data(
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
            {"i": {"sku": sku, "name": name, "priceCents": price, "category": category, "labels": labels,
                   "active": active, "description": description}},
        )
    return demo


async def skus(client, flt, **args):
    extra = "".join(f", {k}: {v}" for k, v in args.items())
    data = await client.data(
        f"query($f: ModelProductFilterInput) {{ listProducts(filter: $f, limit: 100{extra}) {{ items {{ sku }} }} }}",
        {"f": flt},
    )
    return sorted(i["sku"] for i in data["listProducts"]["items"])


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"category": {"eq": "tools"}}, ["A-1", "A-2", "C-1"]),
        ({"category": {"ne": "tools"}}, ["B-1", "B-2", "D-1"]),  # ne matches a missing attribute
        ({"priceCents": {"lt": 899}}, ["B-1", "D-1"]),
        ({"priceCents": {"le": 899}}, ["B-1", "C-1", "D-1"]),
        ({"priceCents": {"gt": 2599}}, ["B-2"]),
        ({"priceCents": {"ge": 2599}}, ["A-2", "B-2"]),
        ({"priceCents": {"between": [499, 1999]}}, ["A-1", "B-1", "C-1"]),
        ({"name": {"beginsWith": "B"}}, ["B-1"]),  # case-sensitive, as DynamoDB
        ({"name": {"contains": "e"}}, ["A-2", "B-1", "B-2", "C-1", "D-1"]),
        ({"name": {"notContains": "e"}}, ["A-1"]),
        ({"description": {"contains": "%"}}, ["C-1"]),  # LIKE wildcards are escaped
        ({"description": {"contains": "_"}}, ["D-1"]),
        ({"description": {"attributeExists": False}}, ["A-2"]),
        ({"description": {"attributeExists": True}}, ["A-1", "B-1", "B-2", "C-1", "D-1"]),
        ({"name": {"size": {"eq": 3}}}, ["A-2"]),
        ({"name": {"size": {"between": [5, 6]}}}, ["A-1", "B-1", "B-2", "C-1", "D-1"]),
        ({"active": {"eq": False}}, ["B-1"]),
        ({"labels": {"contains": "sharp"}}, ["A-2", "C-1"]),
        ({"labels": {"notContains": "iron"}}, ["A-2", "B-1", "B-2", "D-1"]),
        ({"and": [{"category": {"eq": "tools"}}, {"priceCents": {"lt": 2000}}]}, ["A-1", "C-1"]),
        ({"or": [{"sku": {"eq": "A-1"}}, {"sku": {"eq": "D-1"}}]}, ["A-1", "D-1"]),
        ({"not": {"category": {"eq": "tools"}}}, ["B-1", "B-2", "D-1"]),
        ({"category": {"eq": "tools"}, "priceCents": {"gt": 1000}}, ["A-1", "A-2"]),
        ({"or": [{"and": [{"category": {"eq": "garden"}}, {"active": {"eq": True}}]}, {"priceCents": {"lt": 300}}]},
         ["B-2", "D-1"]),
    ],
)
async def test_filter_operators_match_dynamodb_semantics(catalog, flt, expected):
    assert await skus(catalog, flt) == expected


async def test_pagination_walks_every_item_once_in_key_order(catalog):
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        data = await catalog.data(
            "query($t: String) { listProducts(limit: 4, nextToken: $t) { items { id sku } nextToken } }", {"t": token}
        )
        page = data["listProducts"]
        seen.extend(i["id"] for i in page["items"])
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
    assert pages == 2
    assert len(seen) == len(PRODUCTS) == len(set(seen))
    assert seen == sorted(seen)


async def test_pagination_with_a_filter_applies_the_filter_before_the_limit(catalog):
    data = await catalog.data('{ listProducts(filter: {category: {eq: "tools"}}, limit: 2) { items { sku } nextToken } }')
    page = data["listProducts"]
    assert len(page["items"]) == 2
    rest = await catalog.data(
        'query($t: String) { listProducts(filter: {category: {eq: "tools"}}, limit: 2, nextToken: $t) '
        "{ items { sku } nextToken } }",
        {"t": page["nextToken"]},
    )
    assert len(rest["listProducts"]["items"]) == 1
    assert rest["listProducts"]["nextToken"] is None


async def test_a_tampered_next_token_is_refused(catalog):
    data = await catalog.data("{ listProducts(limit: 2) { nextToken } }")
    token = data["listProducts"]["nextToken"]
    body, mac = token.split(".")
    forged = ("A" if body[0] != "A" else "B") + body[1:] + "." + mac
    for bad in (forged, "garbage", token[:-2]):
        response = await catalog.gql("query($t: String) { listProducts(limit: 2, nextToken: $t) { nextToken } }",
                                     {"t": bad})
        assert response["errors"][0]["errorType"] == "InvalidNextTokenException"


async def test_a_next_token_from_another_query_is_refused(catalog):
    data = await catalog.data("{ listProducts(limit: 2) { nextToken } }")
    response = await catalog.gql(
        'query($t: String) { listProducts(limit: 2, filter: {active: {eq: true}}, nextToken: $t) { nextToken } }',
        {"t": data["listProducts"]["nextToken"]},
    )
    assert response["errors"][0]["errorType"] == "InvalidNextTokenException"


async def test_limit_out_of_range_is_a_validation_error(catalog):
    response = await catalog.gql("{ listProducts(limit: 0) { nextToken } }")
    assert response["errors"][0]["errorType"] == "ValidationError"


async def test_index_query_with_sort_key_condition_and_direction(catalog):
    data = await catalog.data(
        '{ productsByCategory(category: "tools", name: {beginsWith: "A"}, sortDirection: DESC) { items { name } } }'
    )
    assert [i["name"] for i in data["productsByCategory"]["items"]] == ["Axe", "Anvil"]
    data = await catalog.data('{ productsByCategory(category: "tools", limit: 2) { items { name } nextToken } }')
    page = data["productsByCategory"]
    assert [i["name"] for i in page["items"]] == ["Anvil", "Axe"]
    more = await catalog.data(
        'query($t: String) { productsByCategory(category: "tools", limit: 2, nextToken: $t) { items { name } } }',
        {"t": page["nextToken"]},
    )
    assert [i["name"] for i in more["productsByCategory"]["items"]] == ["Chisel"]
    by_sku = await catalog.data('{ productBySku(sku: "B-2") { items { name } } }')
    assert by_sku["productBySku"]["items"] == [{"name": "bench"}]


async def test_filters_sorting_and_limits_run_in_the_database(catalog):
    statements: list[str] = []
    listeners = catalog.runtime.database.statement_listeners
    listeners.append(statements.append)
    try:
        await catalog.data('{ listProducts(filter: {category: {eq: "tools"}}, limit: 2) { items { sku } } }')
        await catalog.data("{ listProducts(limit: 2) { items { sku } } }")
    finally:
        listeners.remove(statements.append)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert "WHERE" in selects[0] and "LIMIT" in selects[0] and "ORDER BY" in selects[0]
    assert "LIMIT" in selects[1] and "ORDER BY" in selects[1]
