"""OIDC and user-pool tokens through the real app: modes side by side, field rules, ctx.identity."""

from __future__ import annotations

import time

import pytest

from app.errors import ConfigError
from tests.test_jwt_verifier import CLIENT, RSA_KEY, idp, sign  # noqa: F401 - idp is a fixture

SCHEMA = """
type Query @aws_api_key {
  catalogue: String
  me: Me @aws_oidc @aws_cognito_user_pools
  staffOnly: String @aws_cognito_user_pools(cognito_groups: ["staff"])
}
type Me @aws_oidc @aws_cognito_user_pools { sub: String, username: String, groups: [String], issuer: String }
"""

RESOLVERS = (
    '[resolvers."Query.catalogue"]\nhandler = "tests.test_auth_tokens:catalogue"\n'
    '[resolvers."Query.me"]\nhandler = "tests.test_auth_tokens:me"\n'
    '[resolvers."Query.staffOnly"]\nhandler = "tests.test_auth_tokens:staff_only"\n'
)


def catalogue(ctx):
    return "products"


def me(ctx):
    identity = ctx.identity
    return {"sub": identity["sub"], "username": identity.get("username"), "groups": identity.get("groups"),
            "issuer": identity["issuer"]}


def staff_only(ctx):
    return "staff things"


def config_for(idp) -> str:  # noqa: F811 - the fixture value
    return (
        '[auth]\ndefault = "API_KEY"\nadditional = ["OPENID_CONNECT", "AMAZON_COGNITO_USER_POOLS"]\n'
        f'[auth.openid_connect]\nissuer = "{idp.issuer}"\nclient_id = "{CLIENT}"\njwks_url = "{idp.jwks_url}"\n'
        f'[auth.cognito_user_pools]\nissuer = "{idp.base}/pool"\napp_id_client_regex = "{CLIENT}"\n'
        + RESOLVERS
    )


def token(issuer: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "sub": "user-1", "aud": CLIENT, "iat": now - 5, "exp": now + 600, "token_use": "id"}
    payload.update(claims)
    return sign({k: v for k, v in payload.items() if v is not None}, RSA_KEY, "rsa-1")


@pytest.fixture
async def client(make_client, tmp_path, idp):  # noqa: F811 - pytest injects the imported fixture
    return await make_client(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", schema=SCHEMA, config=config_for(idp))


async def test_an_oidc_token_reads_its_fields_and_sees_its_identity(client, idp):  # noqa: F811
    response = await client.post("{ me { sub issuer } catalogue }", key=None,
                                 headers={"authorization": token(idp.issuer)})
    body = response.json()
    assert body["data"]["me"] == {"sub": "user-1", "issuer": idp.issuer}
    assert body["data"]["catalogue"] is None  # API-key-only field
    assert body["errors"][0]["errorType"] == "Unauthorized"


async def test_a_user_pool_token_carries_username_and_groups_into_field_rules(client, idp):  # noqa: F811
    pool = idp.base + "/pool"
    staff = token(pool, **{"cognito:username": "alice", "cognito:groups": ["staff"]})
    body = (await client.post("{ me { username groups } staffOnly }", key=None,
                              headers={"authorization": staff})).json()
    assert body == {"data": {"me": {"username": "alice", "groups": ["staff"]}, "staffOnly": "staff things"}}
    other = token(pool, **{"cognito:username": "bob", "cognito:groups": ["drivers"]})
    body = (await client.post("{ staffOnly }", key=None, headers={"authorization": other})).json()
    assert body["data"] == {"staffOnly": None}
    assert body["errors"][0]["message"] == "Not Authorized to access staffOnly on type Query"


@pytest.mark.parametrize(
    "bad",
    ["expired", "wrong_audience", "wrong_issuer", "alg_none", "tampered", "garbage"],
)
async def test_a_bad_token_is_a_401_with_no_data(client, idp, bad):  # noqa: F811
    good = token(idp.issuer)
    tokens = {
        "expired": token(idp.issuer, iat=int(time.time()) - 1000, exp=int(time.time()) - 1),
        "wrong_audience": token(idp.issuer, aud="someone-else"),
        "wrong_issuer": token("https://evil.example"),
        "alg_none": "eyJhbGciOiJub25lIiwia2lkIjoicnNhLTEifQ." + good.split(".")[1] + ".",
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "garbage": "not-a-token",
    }
    response = await client.post("{ me { sub } }", key=None, headers={"authorization": tokens[bad]})
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["errorType"] == "UnauthorizedException"


async def test_the_api_key_still_works_beside_the_token_modes(client):
    body = await client.data("{ catalogue }")
    assert body == {"catalogue": "products"}


def test_bad_auth_config_fails_at_start_up_with_every_problem(tmp_path):
    from app.runtime import build
    from app.settings import load_settings

    (tmp_path / "schema.graphql").write_text("type Query { a: String }")
    (tmp_path / "trellis.toml").write_text(
        '[auth]\ndefault = "AWS_LAMBDA"\nadditional = ["OPENID_CONNECT", "MAGIC"]\n'
        '[resolvers."Query.nope"]\nhandler = "tests.test_auth_tokens:catalogue"\n'
    )
    settings = load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".t")
    with pytest.raises(ConfigError) as caught:
        build(settings)
    messages = " | ".join(str(p) for p in caught.value.problems)
    assert "mode AWS_LAMBDA needs an [auth.lambda] table" in messages
    assert "unknown mode 'MAGIC'" in messages
    assert "needs an [auth.openid_connect] table" in messages
    assert "Query.nope" in messages  # auth problems come with every other problem, at once
