"""AMAZON_COGNITO_USER_POOLS with the built-in pool's tokens: gql queries with the ID or access
token in ``Authorization``, Cognito groups reaching ``@aws_cognito_user_pools(cognito_groups:)``,
signed-out and forged tokens refused."""

from __future__ import annotations

import contextlib
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from tests.userpool_support import ADMIN, CLIENT_ID, POOL_ID, password_auth, served_pool, sign_up_and_confirm

QUERY = gql("{ me { sub username groups } staffOnly }")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with served_pool(tmp_path_factory.mktemp("graphql")) as served:
        yield served


def signed_in(pool, groups=()):
    idp = pool.client()
    username = f"gql-{uuid.uuid4().hex[:10]}"
    sub = sign_up_and_confirm(pool, idp, username)
    admin = pool.client(signed_with=ADMIN)
    for group in groups:
        with contextlib.suppress(admin.exceptions.GroupExistsException):
            admin.create_group(UserPoolId=POOL_ID, GroupName=group)
        admin.admin_add_user_to_group(UserPoolId=POOL_ID, Username=username, GroupName=group)
    return username, sub, password_auth(idp, username)["AuthenticationResult"]


async def run(pool, token: str) -> dict:
    transport = HTTPXAsyncTransport(url=f"{pool.base}/graphql", headers={"Authorization": token})
    async with Client(transport=transport) as session:
        try:
            data = await session.execute(QUERY)
        except TransportQueryError as exc:  # gql raises on any error, with the partial data
            return {"data": exc.data, "errors": [e["message"] for e in exc.errors or []]}
    return {"data": data, "errors": []}


@pytest.mark.parametrize("kind", ["IdToken", "AccessToken"])
async def test_a_user_pool_token_reads_user_pool_fields_as_its_user(pool, kind):
    username, sub, tokens = signed_in(pool)
    result = await run(pool, tokens[kind])
    assert result["data"] == {"me": {"sub": sub, "username": username, "groups": None}, "staffOnly": None}
    assert result["errors"] == ["Not Authorized to access staffOnly on type Query"]


@pytest.mark.parametrize("kind", ["IdToken", "AccessToken"])
async def test_cognito_groups_in_the_token_open_group_guarded_fields(pool, kind):
    username, _sub, tokens = signed_in(pool, groups=["staff"])
    result = await run(pool, "Bearer " + tokens[kind])
    assert result == {"data": {"me": {"sub": result["data"]["me"]["sub"], "username": username,
                                      "groups": ["staff"]}, "staffOnly": "staff things"}, "errors": []}


async def test_a_signed_out_users_tokens_are_refused(pool):
    _username, _sub, tokens = signed_in(pool)
    assert (await run(pool, tokens["IdToken"]))["data"]["me"] is not None
    pool.client().global_sign_out(AccessToken=tokens["AccessToken"])
    for kind in ("IdToken", "AccessToken"):
        assert await run(pool, tokens[kind]) == {"data": None, "errors": ["You are not authorized to make this call."]}
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{pool.base}/graphql", json={"query": "{ me { sub } }"},
                                       headers={"authorization": tokens[kind]})
        assert response.status_code == 401


async def test_a_token_signed_with_another_key_under_the_pools_kid_is_refused(pool):
    _username, _sub, tokens = signed_in(pool)
    claims = jwt.decode(tokens["IdToken"], options={"verify_signature": False})
    claims["exp"] = int(time.time()) + 600
    claims["cognito:groups"] = ["staff"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": jwt.get_unverified_header(
        tokens["IdToken"])["kid"]})
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{pool.base}/graphql", json={"query": "{ staffOnly }"},
                                   headers={"authorization": forged})
    assert response.status_code == 401
    assert "data" not in response.json()
    assert claims["aud"] == CLIENT_ID
