"""@model CRUD over the demo schema, on SQLite and PostgreSQL with the same assertions."""

from __future__ import annotations

import re

CREATE_PRODUCT = """
mutation($input: CreateProductInput!) {
  createProduct(input: $input) { id sku name priceCents active labels createdAt updatedAt }
}"""


async def create_product(client, **fields):
    data = await client.data(CREATE_PRODUCT, {"input": {"priceCents": 100, "name": "Thing", **fields}})
    return data["createProduct"]


async def test_create_fills_id_timestamps_and_defaults(demo):
    product = await create_product(demo, sku="S-1")
    assert re.fullmatch(r"[0-9a-f-]{36}", product["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", product["createdAt"])
    assert product["createdAt"] == product["updatedAt"]
    assert product["active"] is True  # @default(value: "true")
    assert product["labels"] is None


async def test_create_keeps_a_client_supplied_id_and_rejects_a_duplicate(demo):
    product = await create_product(demo, id="fixed-id", sku="S-2")
    assert product["id"] == "fixed-id"
    body = await demo.gql(CREATE_PRODUCT, {"input": {"id": "fixed-id", "sku": "S-3", "name": "x", "priceCents": 1}})
    assert body["data"]["createProduct"] is None
    assert body["errors"][0]["errorType"] == "ConditionalCheckFailedException"
    assert body["errors"][0]["path"] == ["createProduct"]


async def test_get_returns_the_stored_item_and_null_for_an_unknown_id(demo):
    product = await create_product(demo, sku="S-4", labels=["red", "big"])
    got = await demo.data("query($id: ID!) { getProduct(id: $id) { id sku labels } }", {"id": product["id"]})
    assert got["getProduct"] == {"id": product["id"], "sku": "S-4", "labels": ["red", "big"]}
    missing = await demo.data('{ getProduct(id: "nope") { id } }')
    assert missing["getProduct"] is None


async def test_update_changes_only_given_fields_and_bumps_updated_at(demo):
    product = await create_product(demo, sku="S-5", description="old")
    updated = await demo.data(
        'mutation($id: ID!) { updateProduct(input: {id: $id, name: "New"}) { name description sku updatedAt createdAt } }',
        {"id": product["id"]},
    )
    row = updated["updateProduct"]
    assert row["name"] == "New"
    assert row["description"] == "old"
    assert row["createdAt"] == product["createdAt"]
    assert row["updatedAt"] >= product["updatedAt"]


async def test_update_of_a_missing_item_fails_its_condition(demo):
    body = await demo.gql('mutation { updateProduct(input: {id: "ghost", name: "x"}) { id } }')
    assert body["errors"][0]["errorType"] == "ConditionalCheckFailedException"
    assert await demo.runtime.resolvers.store.count("Product") == 0


async def test_update_condition_is_checked_atomically(demo):
    product = await create_product(demo, sku="S-6", priceCents=500)
    mutation = """mutation($id: ID!, $min: Int!) {
      updateProduct(input: {id: $id, priceCents: 1}, condition: {priceCents: {ge: $min}}) { priceCents } }"""
    refused = await demo.gql(mutation, {"id": product["id"], "min": 600})
    assert refused["errors"][0]["errorType"] == "ConditionalCheckFailedException"
    accepted = await demo.data(mutation, {"id": product["id"], "min": 500})
    assert accepted["updateProduct"]["priceCents"] == 1


async def test_setting_a_required_field_to_null_is_refused(demo):
    product = await create_product(demo, sku="S-7")
    body = await demo.gql('mutation($id: ID!) { updateProduct(input: {id: $id, name: null}) { id } }',
                          {"id": product["id"]})
    assert body["errors"][0]["errorType"] == "ValidationError"
    assert "name" in body["errors"][0]["message"]


async def test_delete_returns_the_deleted_item_and_a_second_delete_fails(demo):
    product = await create_product(demo, sku="S-8")
    mutation = 'mutation($id: ID!) { deleteProduct(input: {id: $id}) { id sku } }'
    deleted = await demo.data(mutation, {"id": product["id"]})
    assert deleted["deleteProduct"] == {"id": product["id"], "sku": "S-8"}
    again = await demo.gql(mutation, {"id": product["id"]})
    assert again["errors"][0]["errorType"] == "ConditionalCheckFailedException"


async def test_delete_condition_protects_the_item(demo):
    product = await create_product(demo, sku="S-9")
    body = await demo.gql(
        'mutation($id: ID!) { deleteProduct(input: {id: $id}, condition: {sku: {eq: "other"}}) { id } }',
        {"id": product["id"]},
    )
    assert body["errors"][0]["errorType"] == "ConditionalCheckFailedException"
    assert await demo.runtime.resolvers.store.count("Product") == 1


async def test_missing_required_input_field_is_a_validation_error(demo):
    body = await demo.gql('mutation { createProduct(input: {sku: "x"}) { id } }')
    assert body.get("data") is None
    assert "name" in body["errors"][0]["message"]
    assert body["errors"][0]["locations"][0]["line"] == 1


async def test_appsync_scalars_are_checked_on_model_input(demo):
    body = await demo.gql(
        'mutation { createCustomer(input: {email: "not-an-email", name: "A"}) { id } }'
    )
    assert "AWSEmail" in body["errors"][0]["message"]
    ok = await demo.data(
        'mutation { createCustomer(input: {email: "a@example.com", name: "A", phone: "+44 20 7946 0958", '
        'address: {line1: "1 Road", city: "Leeds", postcode: "LS1", country: "GB"}}) { email address { city } } }'
    )
    assert ok["createCustomer"] == {"email": "a@example.com", "address": {"city": "Leeds"}}


async def test_awsjson_round_trips_through_the_store(demo):
    customer = (await demo.data('mutation { createCustomer(input: {email: "b@example.com", name: "B"}) { id } }'))[
        "createCustomer"]
    order = await demo.data(
        'mutation($c: ID!) { createOrder(input: {customerId: $c, placedAt: "2026-01-02T03:04:05.000Z", '
        'notes: "{\\"gift\\": true, \\"n\\": [1, 2]}"}) { id status notes } }',
        {"c": customer["id"]},
    )
    assert order["createOrder"]["status"] == "PENDING"
    import json

    assert json.loads(order["createOrder"]["notes"]) == {"gift": True, "n": [1, 2]}


async def test_composite_primary_key_gets_updates_and_lists_by_partition(demo):
    for product in ("p1", "p2", "p3"):
        await demo.data(
            'mutation($p: ID!) { createStockLevel(input: {warehouseId: "w1", productId: $p, onHand: 5}) { reserved } }',
            {"p": product},
        )
    await demo.data('mutation { createStockLevel(input: {warehouseId: "w2", productId: "p1", onHand: 1}) { onHand } }')
    got = await demo.data('{ getStockLevel(warehouseId: "w1", productId: "p2") { onHand reserved } }')
    assert got["getStockLevel"] == {"onHand": 5, "reserved": 0}
    listed = await demo.data(
        '{ listStockLevels(warehouseId: "w1", productId: {gt: "p1"}, sortDirection: DESC) { items { productId } } }'
    )
    assert [i["productId"] for i in listed["listStockLevels"]["items"]] == ["p3", "p2"]
    updated = await demo.data(
        'mutation { updateStockLevel(input: {warehouseId: "w2", productId: "p1", onHand: 9}) { onHand } }'
    )
    assert updated["updateStockLevel"]["onHand"] == 9
    body = await demo.gql('mutation { updateStockLevel(input: {warehouseId: "w2", onHand: 9}) { onHand } }')
    assert "productId" in body["errors"][0]["message"]


COMPOSITE = """
type Shipment @model {
  carrier: String! @primaryKey(sortKeyFields: ["status", "sentAt"])
  status: String!
  sentAt: AWSDateTime!
  region: String! @index(name: "byRegion", queryField: "shipmentsByRegion", sortKeyFields: ["status", "sentAt"])
}
"""


async def test_composite_sort_keys_take_amplifys_composite_key_conditions(make_client, database_url):
    client = await make_client(database_url, schema=COMPOSITE)
    rows = [("dhl", "DELIVERED", "2026-01-01T00:00:00Z"), ("dhl", "SHIPPED", "2026-01-02T00:00:00Z"),
            ("dhl", "SHIPPED", "2026-01-03T00:00:00Z"), ("ups", "SHIPPED", "2026-01-04T00:00:00Z")]
    for carrier, status, sent in rows:
        await client.data(
            "mutation($c: String!, $s: String!, $t: AWSDateTime!) { createShipment(input: "
            '{carrier: $c, status: $s, sentAt: $t, region: "eu"}) { carrier } }',
            {"c": carrier, "s": status, "t": sent},
        )

    async def sent_at(query, variables=None):
        data = await client.data(query, variables)
        return [item["sentAt"] for item in next(iter(data.values()))["items"]]

    assert await sent_at('{ listShipments(carrier: "dhl", statusSentAt: {eq: {status: "SHIPPED"}}) '
                         "{ items { sentAt } } }") == ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]
    assert await sent_at('{ listShipments(carrier: "dhl", statusSentAt: {gt: {status: "SHIPPED", '
                         'sentAt: "2026-01-02T00:00:00Z"}}) { items { sentAt } } }') == ["2026-01-03T00:00:00Z"]
    assert await sent_at('{ listShipments(carrier: "dhl", statusSentAt: {beginsWith: {status: "SHIPPED", '
                         'sentAt: "2026-01-03"}}) { items { sentAt } } }') == ["2026-01-03T00:00:00Z"]
    assert await sent_at('{ shipmentsByRegion(region: "eu", statusSentAt: {between: [{status: "DELIVERED"}, '
                         '{status: "SHIPPED", sentAt: "2026-01-02T00:00:00Z"}]}) { items { sentAt } } }') == [
        "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]
    got = await client.data('{ getShipment(carrier: "ups", status: "SHIPPED", sentAt: "2026-01-04T00:00:00Z") '
                            "{ region } }")
    assert got["getShipment"] == {"region": "eu"}
