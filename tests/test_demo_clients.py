"""Real clients against the served demo app: gql signed by botocore (the back office, IAM) and gql
with a token from the built-in user pool (a customer), the pool driven by botocore's cognito-idp."""

from __future__ import annotations

import asyncio

import botocore.session
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncIAMAuthentication

from auth.userpool.config import default_client_id
from tests.conftest import DEMO_ADMIN, DEMO_REGION
from tests.server_process import REPO, trellis_server

POOL_ID = "us-east-1_Trellis1"  # trellis.toml
PASSWORD = "Sh0p-Passw0rd!"


def customer_token(base: str, username: str) -> str:
    """AdminCreateUser + AdminSetUserPassword (signed, back office), then InitiateAuth as the customer."""
    session = botocore.session.get_session()
    admin = session.create_client("cognito-idp", endpoint_url=base, region_name=DEMO_REGION,
                                  aws_access_key_id=DEMO_ADMIN[0], aws_secret_access_key=DEMO_ADMIN[1])
    admin.admin_create_user(UserPoolId=POOL_ID, Username=username, MessageAction="SUPPRESS",
                            UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}])
    admin.admin_set_user_password(UserPoolId=POOL_ID, Username=username, Password=PASSWORD, Permanent=True)
    answer = admin.initiate_auth(ClientId=default_client_id(POOL_ID), AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    return str(answer["AuthenticationResult"]["IdToken"])


async def test_the_demo_serves_the_back_office_over_iam_and_customers_over_the_user_pool(tmp_path):
    env = {"TRELLIS_ADMIN_ACCESS_KEY_ID": DEMO_ADMIN[0], "TRELLIS_ADMIN_SECRET_ACCESS_KEY": DEMO_ADMIN[1],
           "TRELLIS_API_KEY": "da2-democlientsdemoclientsdemo"}
    with trellis_server(tmp_path, schema=REPO / "schema.graphql", env=env) as (base, _process):
        host = base.removeprefix("http://")
        iam = AppSyncIAMAuthentication(host=host, region_name=DEMO_REGION, credentials=Credentials(*DEMO_ADMIN))
        async with Client(transport=AIOHTTPTransport(url=f"{base}/graphql", auth=iam)) as office:
            product = await office.execute(gql(
                'mutation { createProduct(input: {sku: "K-1", name: "Kettle", priceCents: 2500}) { id } }'))
        token = await asyncio.to_thread(customer_token, base, "carol")
        transport = AIOHTTPTransport(url=f"{base}/graphql", headers={"Authorization": token})
        async with Client(transport=transport) as shop:
            catalogue = await shop.execute(gql("{ listProducts { items { id name } } }"))
            me = await shop.execute(gql('mutation { createCustomer(input: {email: "carol@example.com", '
                                        'name: "Carol"}) { id owner } }'))
            order = gql("mutation($c: ID!) { createOrder(input: {customerId: $c, "
                        'placedAt: "2026-11-25T12:00:00.000Z"}) { id } }')
            order.variable_values = {"c": me["createCustomer"]["id"]}
            placed = await shop.execute(order)
            mine = await shop.execute(gql("{ listOrders { items { id } } }"))
    assert catalogue["listProducts"]["items"] == [{"id": product["createProduct"]["id"], "name": "Kettle"}]
    assert me["createCustomer"]["owner"].endswith("::carol")
    assert mine["listOrders"]["items"] == [{"id": placed["createOrder"]["id"]}]
