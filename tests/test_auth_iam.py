"""AWS_IAM mode: botocore-signed requests, IAM policies per field, the administrator key."""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncIAMAuthentication

from auth.iam import parse_policy
from auth.iam_authorizer import IamPrincipal, StaticCredentials
from auth.sigv4 import Credential
from tests.server_process import trellis_server

ADMIN = ("AKIATRELLISADMIN0001", "admin-secret-admin-secret-admin-secret00")
SCHEMA = """
type Query @aws_iam @aws_api_key {
  catalogue: String
  payroll: String
}
type Mutation @aws_iam { adjust(amount: Int!): Int }
"""
CONFIG = (
    '[auth]\ndefault = "AWS_IAM"\nadditional = ["API_KEY"]\n[auth.iam]\nregion = "eu-west-1"\n'
    'account_id = "123456789012"\napi_id = "demo"\n'
    '[resolvers."Query.catalogue"]\nhandler = "tests.test_auth_iam:catalogue"\n'
    '[resolvers."Query.payroll"]\nhandler = "tests.test_auth_iam:payroll"\n'
    '[resolvers."Mutation.adjust"]\nhandler = "tests.test_auth_iam:adjust"\n'
)
CALLS: list[str] = []


def catalogue(ctx):
    return "products"


def payroll(ctx):
    CALLS.append("payroll")
    return f"payroll for {ctx.identity['userArn']}"


def adjust(ctx):
    return ctx.arguments["amount"]


def signed(query: str, key: tuple[str, str], region: str = "eu-west-1", tamper: bool = False) -> dict:
    body = json.dumps({"query": query})
    request = AWSRequest(method="POST", url="http://trellis.test/graphql", data=body,
                         headers={"content-type": "application/json", "host": "trellis.test"})
    SigV4Auth(Credentials(*key), "appsync", region).add_auth(request)
    headers = dict(request.headers.items())
    content = body.replace("{ ", "{ payroll ") if tamper else body
    assert not tamper or content != body
    return {"content": content, "headers": headers}


@pytest.fixture
async def client(make_client, tmp_path):
    return await make_client(f"sqlite+aiosqlite:///{tmp_path / 'iam.db'}", schema=SCHEMA, config=CONFIG,
                             admin_access_key=ADMIN)


async def post_signed(client, query, key=ADMIN, **kwargs):
    request = signed(query, key, **kwargs)
    return await client.http.post("/graphql", content=request["content"], headers=request["headers"])


async def test_the_administrator_key_signs_requests_with_full_access(client):
    response = await post_signed(client, "{ catalogue payroll }")
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["catalogue"] == "products"
    assert body["data"]["payroll"] == "payroll for arn:aws:iam::123456789012:user/trellis-admin"


@pytest.mark.parametrize("case", ["tampered_body", "wrong_secret", "unknown_key", "wrong_region", "unsigned"])
async def test_a_bad_signature_is_a_401_and_nothing_runs(client, case):
    CALLS.clear()
    query = "{ payroll catalogue }"
    if case == "tampered_body":
        response = await post_signed(client, query, tamper=True)
    elif case == "wrong_secret":
        response = await post_signed(client, query, key=(ADMIN[0], "x" * 40))
    elif case == "unknown_key":
        response = await post_signed(client, query, key=("AKIAUNKNOWN000000000", ADMIN[1]))
    elif case == "wrong_region":
        response = await post_signed(client, query, region="us-east-1")
    else:
        request = signed(query, ADMIN)
        headers = {k: v for k, v in request["headers"].items() if k.lower() != "x-amz-date"}
        response = await client.http.post("/graphql", content=request["content"], headers=headers)
    assert response.status_code == 401
    assert "data" not in response.json()
    assert CALLS == []


async def test_iam_policies_decide_field_by_field(client):
    limited_key = ("AKIACATALOGUEONLY001", "catalogue-secret-catalogue-secret-00000")
    policy = parse_policy({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "appsync:GraphQL",
                       "Resource": "arn:aws:appsync:eu-west-1:123456789012:apis/demo/types/Query/fields/catalogue"}],
    }, name="CatalogueOnly")
    principal = IamPrincipal("clerk", "AIDACLERK", "arn:aws:iam::123456789012:user/clerk", "123456789012", (policy,))
    iam = next(a for a in client.runtime.authenticator.authorizers if a.mode == "AWS_IAM")
    iam.lookup = StaticCredentials({limited_key[0]: Credential(*limited_key, None, principal)})
    CALLS.clear()
    body = (await post_signed(client, "{ catalogue payroll }", key=limited_key)).json()
    assert body["data"] == {"catalogue": "products", "payroll": None}
    assert body["errors"][0]["errorType"] == "Unauthorized"
    assert CALLS == []
    mutation = (await post_signed(client, "mutation { adjust(amount: 5) }", key=limited_key)).json()
    assert mutation["data"] == {"adjust": None}


async def test_gql_with_appsync_iam_authentication_queries_a_real_server(tmp_path):
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "trellis.toml").write_text(CONFIG)
    env = {"TRELLIS_ADMIN_ACCESS_KEY_ID": ADMIN[0], "TRELLIS_ADMIN_SECRET_ACCESS_KEY": ADMIN[1]}
    with trellis_server(tmp_path / "data", schema=tmp_path / "schema.graphql", env=env) as (base, _process):
        host = base.removeprefix("http://")
        auth = AppSyncIAMAuthentication(host=host, region_name="eu-west-1", credentials=Credentials(*ADMIN))
        async with Client(transport=AIOHTTPTransport(url=f"{base}/graphql", auth=auth)) as session:
            result = await session.execute(gql("{ catalogue }"))
        assert result == {"catalogue": "products"}
        async with httpx.AsyncClient() as http:
            unsigned = await http.post(f"{base}/graphql", json={"query": "{ catalogue }"})
        assert unsigned.status_code == 401
