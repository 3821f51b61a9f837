async def test_demo_answers_a_create_and_a_get(demo):
    created = await demo.data(
        'mutation { createProduct(input: {sku: "A-1", name: "Anvil", priceCents: 1999}) { id sku active createdAt } }'
    )
    product = created["createProduct"]
    assert product["active"] is True
    got = await demo.data("query($id: ID!) { getProduct(id: $id) { id name priceCents } }", {"id": product["id"]})
    assert got["getProduct"]["name"] == "Anvil"
