"""The demo app's several auth modes at once, as the README describes them.

The public catalogue is read with an API key; customers sign in to the built-in user pool and
see only their own orders; the pool's "staff" group runs the warehouse; the back office signs
requests with IAM (the demo fixture's default client).
"""

from __future__ import annotations

import pytest

from tests.conftest import API_KEY

ORDER = ("mutation($c: ID!) { createOrder(input: {customerId: $c, placedAt: \"2026-11-25T10:00:00.000Z\"}) "
         "{ id owner status } }")
MY_ORDERS = "{ listOrders { items { id owner } } }"


async def token_for(client, username: str, groups: tuple[str, ...] = ()) -> str:
    """A user made the way `trellis user-pool create-user` makes one, signed in."""
    pool = client.runtime.user_pool
    user = pool.new_user(username, {"email": f"{username}@example.com", "email_verified": "true"}, "CONFIRMED",
                         await pool.hasher.hash("Sh0p-Passw0rd!"))
    await pool.store.create_user(user)
    from app.userpool_cli import _group

    for group in groups:
        await pool.store.add_member(await _group(pool, group), user.sub)
    result = await pool.sign_in(await pool.store.user(username))
    return str(result["IdToken"])


async def as_user(client, jwt: str, query: str, variables=None) -> dict:
    response = await client.post(query, variables, key=None, headers={"authorization": jwt})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def shop(demo):
    product = (await demo.data('mutation { createProduct(input: {sku: "A-1", name: "Anvil", priceCents: 1999}) '
                               "{ id } }"))["createProduct"]
    demo.product_id = product["id"]
    return demo


async def test_the_catalogue_is_public_by_api_key_but_not_writable_with_it(shop):
    body = (await shop.post("{ listProducts { items { sku } } }", key=API_KEY, headers={})).json()
    assert body == {"data": {"listProducts": {"items": [{"sku": "A-1"}]}}}
    body = (await shop.post('mutation { createProduct(input: {sku: "B", name: "B", priceCents: 1}) { id } }',
                            key=API_KEY, headers={})).json()
    assert body["errors"][0]["errorType"] == "Unauthorized"
    body = (await shop.post("{ listOrders { items { id } } }", key=API_KEY, headers={})).json()
    assert body["errors"][0]["message"] == "Not Authorized to access listOrders on type Query"


async def test_customers_see_only_their_own_orders(shop):
    alice, bob = await token_for(shop, "alice"), await token_for(shop, "bob")
    customer = await as_user(shop, alice, 'mutation { createCustomer(input: {email: "a@example.com", name: "A"}) '
                                          "{ id owner } }")
    customer_id = customer["data"]["createCustomer"]["id"]
    order = (await as_user(shop, alice, ORDER, {"c": customer_id}))["data"]["createOrder"]
    assert order["owner"].endswith("::alice") and order["status"] == "PENDING"
    assert (await as_user(shop, alice, MY_ORDERS))["data"]["listOrders"]["items"] == [
        {"id": order["id"], "owner": order["owner"]}]
    assert (await as_user(shop, bob, MY_ORDERS))["data"]["listOrders"]["items"] == []
    denied = await as_user(shop, bob, "query($id: ID!) { getOrder(id: $id) { id } }", {"id": order["id"]})
    assert denied["errors"][0]["errorType"] == "Unauthorized"
    # A customer reads the catalogue too, but may not change it or ship their own order.
    assert (await as_user(shop, alice, "{ listProducts { items { sku } } }"))["data"]["listProducts"]["items"]
    ship = await as_user(shop, alice, 'mutation($id: ID!) { updateOrder(input: {id: $id, status: SHIPPED}) { id } }',
                         {"id": order["id"]})
    assert ship["errors"][0]["errorType"] == "Unauthorized"


async def test_staff_run_the_warehouse_and_ship_every_order(shop):
    alice = await token_for(shop, "alice")
    staff = await token_for(shop, "sam", groups=("staff",))
    customer = (await as_user(shop, alice, 'mutation { createCustomer(input: {email: "a@example.com", name: "A"}) '
                                           "{ id } }"))["data"]["createCustomer"]
    order = (await as_user(shop, alice, ORDER, {"c": customer["id"]}))["data"]["createOrder"]
    listed = await as_user(shop, staff, MY_ORDERS)
    assert [o["id"] for o in listed["data"]["listOrders"]["items"]] == [order["id"]]
    shipped = await as_user(shop, staff, 'mutation($id: ID!) { updateOrder(input: {id: $id, status: SHIPPED}) '
                                         "{ status } }", {"id": order["id"]})
    assert shipped["data"]["updateOrder"] == {"status": "SHIPPED"}
    warehouse = await as_user(shop, staff, 'mutation { createWarehouse(input: {code: "W1", name: "North"}) { id } }')
    assert warehouse["data"]["createWarehouse"]["id"]
    body = await as_user(shop, alice, "{ listWarehouses { items { id } } }")
    assert body["errors"][0]["errorType"] == "Unauthorized"
    summary = await as_user(shop, staff, "query($o: ID!) { orderSummary(orderId: $o) { itemCount status } }",
                            {"o": order["id"]})
    assert summary["data"]["orderSummary"] == {"itemCount": 0, "status": "SHIPPED"}
    refused = await as_user(shop, alice, "query($o: ID!) { orderSummary(orderId: $o) { itemCount } }",
                            {"o": order["id"]})
    assert refused["data"] == {"orderSummary": None}


async def test_the_back_office_signs_with_iam_and_may_do_everything(shop):
    # The demo fixture's default client signs every request with the IAM administrator key.
    body = await shop.data('mutation { createWarehouse(input: {code: "W9", name: "South"}) { id code } }')
    assert body["createWarehouse"]["code"] == "W9"
    assert (await shop.data("{ listOrders { items { id } } }"))["listOrders"]["items"] == []
