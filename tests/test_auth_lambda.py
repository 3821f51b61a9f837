"""AWS_LAMBDA mode through the real app: the authorizer function decides, fails closed, and is cached.

The authorizer is an in-process function in this module (or the same function behind a
``function`` data source); what it was called with is recorded in ``EVENTS``. Time is the
authorizer's injected clock, so TTLs are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app.errors import ConfigError
from auth.config import build_authenticator
from tests.test_auth_matrix import jwt_for
from tests.test_jwt_verifier import CLIENT, idp  # noqa: F401 - idp fixture

EVENTS: list[dict] = []
IDENTITIES: list[object] = []
CALLS: list[str] = []
OTHER_API_ARN = "arn:aws:appsync:us-east-1:000000000000:apis/another-api/types/Query/fields/open"
OUR_ARN = "arn:aws:appsync:eu-west-1:111122223333:apis/shop-api/types/Query/fields/other"

SCHEMA = """
type Query @aws_lambda @aws_api_key {
  whoami: String
  secret: String
  other: String
  open: String
  lambdaOnly: String @aws_lambda
  keyOnly: String @aws_api_key
  item: Item
}
type Item @aws_lambda @aws_api_key { id: ID! price: Int }
"""
QUERY = "{ whoami secret other open }"


def authorize(event):
    EVENTS.append(event)
    token = event["authorizationToken"]
    if token == "tok-raise":
        raise RuntimeError("the identity store is down")
    if token == "tok-deny":
        return {"isAuthorized": False}
    if token == "tok-bad-shape":
        return {"isAuthorized": "yes"}
    if token == "tok-bad-denied":
        return {"isAuthorized": True, "deniedFields": ["not a field"]}
    answer = {"isAuthorized": True, "resolverContext": {"user": token.removeprefix("tok-"), "tier": 3}}
    if token == "tok-denied":
        answer["deniedFields"] = ["Query.secret", OUR_ARN, OTHER_API_ARN, "Item.price"]
    if token == "tok-ttl-10":
        answer["ttlOverride"] = 10
    if token == "tok-ttl-0":
        answer["ttlOverride"] = 0
    return answer


async def slow_authorize(event):
    EVENTS.append(event)
    if event["authorizationToken"] == "tok-slow":
        await asyncio.sleep(5)
    return {"isAuthorized": True}


def record(ctx):
    IDENTITIES.append(ctx.identity)
    CALLS.append(ctx.info.field_name)
    return f"{ctx.info.field_name}:{ctx.identity['resolverContext']['user'] if ctx.identity else 'api-key'}"


def item(ctx):
    CALLS.append("item")
    return {"id": "i-1", "price": 42}


RESOLVERS = "".join(
    f'[resolvers."Query.{name}"]\nhandler = "tests.test_auth_lambda:record"\n'
    for name in ("whoami", "secret", "other", "open", "lambdaOnly", "keyOnly")
) + '[resolvers."Query.item"]\nhandler = "tests.test_auth_lambda:item"\n'


def config(**lambda_options: object) -> str:
    options = {"function": "tests.test_auth_lambda:authorize", **lambda_options}
    options = {key: value for key, value in options.items() if value is not None}
    table = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    return ('[auth]\ndefault = "API_KEY"\nadditional = ["AWS_LAMBDA"]\n'
            '[auth.iam]\nregion = "eu-west-1"\naccount_id = "111122223333"\napi_id = "shop-api"\n'
            f"[auth.lambda]\n{table}{RESOLVERS}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lambda_authorizer(client):
    return next(a for a in client.runtime.authenticator.authorizers if a.mode == "AWS_LAMBDA")


@pytest.fixture
async def make(make_client, tmp_path):
    async def build(text: str | None = None, schema: str = SCHEMA):
        client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'lambda.db'}", schema=schema,
                                   config=text or config())
        client.clock = Clock()
        lambda_authorizer(client).clock = client.clock
        EVENTS.clear()
        IDENTITIES.clear()
        CALLS.clear()
        return client

    return build


async def send(client, token: str | None, query: str = QUERY, **extra):
    headers = {"authorization": token} if token is not None else {}
    return await client.post(query, key=None, headers=headers, **extra)


async def test_an_authorized_token_reads_the_fields_with_its_resolver_context(make):
    client = await make()
    response = await send(client, "tok-alice")
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"whoami": "whoami:alice", "secret": "secret:alice", "other": "other:alice",
                                        "open": "open:alice"}}
    assert IDENTITIES[0] == {"resolverContext": {"user": "alice", "tier": 3}}
    [event] = EVENTS
    assert event["authorizationToken"] == "tok-alice"
    context = event["requestContext"]
    assert (context["apiId"], context["accountId"]) == ("shop-api", "111122223333")
    assert context["queryString"] == QUERY
    assert context["variables"] == {}
    assert context["requestId"]
    assert event["requestHeaders"]["authorization"] == "tok-alice"


async def test_the_event_carries_the_operation_name_and_variables(make):
    client = await make()
    query = "query Who($x: Boolean!) { whoami @include(if: $x) }"
    response = await client.http.post("/graphql", json={"query": query, "operationName": "Who",
                                                        "variables": {"x": True}},
                                      headers={"authorization": "tok-bob"})
    assert response.json() == {"data": {"whoami": "whoami:bob"}}
    context = EVENTS[0]["requestContext"]
    assert (context["queryString"], context["operationName"], context["variables"]) == (query, "Who", {"x": True})


@pytest.mark.parametrize("token", ["tok-deny", "tok-raise", "tok-bad-shape", "tok-bad-denied"])
async def test_an_unauthorized_or_failing_answer_is_a_401_with_no_data_and_nothing_run(make, token):
    client = await make()
    response = await send(client, token)
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["errorType"] == "UnauthorizedException"
    assert body["errors"][0]["message"] == "You are not authorized to make this call."
    assert "identity store" not in response.text  # the function's error stays in the logs
    assert CALLS == []


async def test_a_function_that_times_out_is_a_401(make):
    client = await make(config(function="tests.test_auth_lambda:slow_authorize", timeout_seconds=0.2))
    response = await send(client, "tok-slow")
    assert response.status_code == 401
    assert CALLS == []
    assert (await send(client, "tok-fast", "{ whoami }")).status_code == 200


@pytest.mark.parametrize("executor", ["plan", "graphql-core"])
async def test_denied_fields_resolve_to_null_with_unauthorized_and_their_resolvers_never_run(make, executor):
    client = await make()
    if executor == "graphql-core":
        client.runtime.executor._plans.plan = lambda *args, **kwargs: None  # force graphql.execute
    response = await send(client, "tok-denied", "{ whoami secret other open item { id price } }")
    body = response.json()
    assert body["data"] == {"whoami": "whoami:denied", "secret": None, "other": None, "open": "open:denied",
                            "item": {"id": "i-1", "price": None}}
    errors = {tuple(e["path"]): e for e in body["errors"]}
    assert set(errors) == {("secret",), ("other",), ("item", "price")}
    assert errors[("secret",)]["errorType"] == "Unauthorized"
    assert errors[("secret",)]["message"] == "Not Authorized to access secret on type Query"
    assert sorted(CALLS) == ["item", "open", "whoami"]  # by Type.field and by this API's ARN; not another API's


async def test_denied_fields_are_per_token(make):
    client = await make()
    assert (await send(client, "tok-denied", "{ secret }")).json()["data"] == {"secret": None}
    assert (await send(client, "tok-carol", "{ secret }")).json() == {"data": {"secret": "secret:carol"}}


async def test_aws_lambda_directive_grants_lambda_identities_only(make):
    client = await make()
    by_lambda = (await send(client, "tok-dan", "{ lambdaOnly keyOnly }")).json()
    assert by_lambda["data"] == {"lambdaOnly": "lambdaOnly:dan", "keyOnly": None}
    by_key = (await client.post("{ lambdaOnly keyOnly }")).json()
    assert by_key["data"] == {"lambdaOnly": None, "keyOnly": "keyOnly:api-key"}


async def test_an_answer_is_cached_per_token_for_the_configured_ttl(make):
    client = await make(config(ttl_seconds=60))
    for _ in range(3):
        assert (await send(client, "tok-erin")).status_code == 200
    assert len(EVENTS) == 1
    assert (await send(client, "tok-frank")).status_code == 200
    assert len(EVENTS) == 2
    client.clock.now += 59
    assert (await send(client, "tok-erin")).status_code == 200
    assert len(EVENTS) == 2
    client.clock.now += 1
    assert (await send(client, "tok-erin")).status_code == 200
    assert len(EVENTS) == 3


async def test_a_refusal_is_cached_too_but_an_error_never_is(make):
    client = await make()
    for _ in range(2):
        assert (await send(client, "tok-deny")).status_code == 401
        assert (await send(client, "tok-raise")).status_code == 401
    assert [e["authorizationToken"] for e in EVENTS] == ["tok-deny", "tok-raise", "tok-raise"]


async def test_the_cache_is_keyed_by_query_text_as_well(make):
    client = await make()
    await send(client, "tok-gina", "{ whoami }")
    await send(client, "tok-gina", "{ whoami }")
    await send(client, "tok-gina", "{ open }")
    assert [e["requestContext"]["queryString"] for e in EVENTS] == ["{ whoami }", "{ open }"]


async def test_ttl_override_replaces_the_configured_ttl(make):
    client = await make(config(ttl_seconds=300))
    await send(client, "tok-ttl-10")
    client.clock.now += 9
    await send(client, "tok-ttl-10")
    assert len(EVENTS) == 1
    client.clock.now += 1
    await send(client, "tok-ttl-10")
    assert len(EVENTS) == 2
    await send(client, "tok-ttl-0")
    await send(client, "tok-ttl-0")
    assert len(EVENTS) == 4  # ttlOverride 0: never cached


async def test_ttl_seconds_zero_disables_the_cache(make):
    client = await make(config(ttl_seconds=0))
    await send(client, "tok-hal")
    await send(client, "tok-hal")
    assert len(EVENTS) == 2


async def test_the_validation_expression_refuses_a_token_before_the_function_is_called(make):
    client = await make(config(identity_validation_expression="tok-[a-z]+"))
    assert (await send(client, "tok-ivy")).status_code == 200
    for bad in ("Bearer tok-ivy", "tok-IVY", "tok-ivy2"):
        response = await send(client, bad)
        assert response.status_code == 401
        assert "data" not in response.json()
    assert [e["authorizationToken"] for e in EVENTS] == ["tok-ivy"]


async def test_a_token_over_2048_characters_is_refused_without_a_call(make):
    client = await make()
    assert (await send(client, "tok-" + "x" * 2045)).status_code == 401
    assert EVENTS == []


async def test_no_token_or_an_empty_one_is_a_401_without_a_call(make):
    client = await make()
    assert (await send(client, None)).status_code == 401
    assert (await send(client, "")).status_code == 401
    assert EVENTS == []


async def test_a_function_data_source_can_be_the_authorizer(make):
    text = config(function=None, datasource="authz") + (
        '[datasources.authz]\nkind = "function"\nhandler = "tests.test_auth_lambda:authorize"\n'
    )
    client = await make(text)
    assert (await send(client, "tok-jo", "{ whoami }")).json() == {"data": {"whoami": "whoami:jo"}}
    assert (await send(client, "tok-deny", "{ whoami }")).status_code == 401
    assert (await send(client, "tok-raise", "{ whoami }")).status_code == 401


async def test_get_requests_send_the_query_from_the_url(make):
    client = await make()
    response = await client.http.get("/graphql", params={"query": "{ whoami }"}, headers={"authorization": "tok-kim"})
    assert response.json() == {"data": {"whoami": "whoami:kim"}}
    assert EVENTS[0]["requestContext"]["queryString"] == "{ whoami }"


async def test_each_operation_of_a_batch_is_authorized(make):
    client = await make()
    batch = [{"query": "{ whoami }"}, {"query": "{ open }"}]
    response = await client.http.post("/graphql", json=batch, headers={"authorization": "tok-lee"})
    assert response.json() == [{"data": {"whoami": "whoami:lee"}}, {"data": {"open": "open:lee"}}]
    assert [e["requestContext"]["queryString"] for e in EVENTS] == ["{ whoami }", "{ open }"]
    EVENTS.clear()
    huge = [{"query": f"{{ whoami w{i}: open }}"} for i in range(101)]
    assert (await client.http.post("/graphql", json=huge, headers={"authorization": "tok-lee"})).status_code == 401
    assert EVENTS == []  # refused before the function is asked 101 times


async def test_other_modes_credentials_never_reach_the_function(make_client, tmp_path, idp):  # noqa: F811
    schema = SCHEMA.replace("@aws_lambda @aws_api_key {", "@aws_lambda @aws_api_key @aws_oidc @aws_iam {", 1)
    text = (
        '[auth]\ndefault = "AWS_LAMBDA"\nadditional = ["OPENID_CONNECT", "AWS_IAM", "API_KEY"]\n'
        f'[auth.openid_connect]\nissuer = "{idp.issuer}"\nclient_id = "{CLIENT}"\njwks_url = "{idp.jwks_url}"\n'
        '[auth.iam]\nregion = "eu-west-1"\n'
        '[auth.lambda]\nfunction = "tests.test_auth_lambda:authorize"\n' + RESOLVERS
    )
    admin = ("AKIALAMBDATEST000001", "lambda-secret-lambda-secret-lambda-sec00")
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'o.db'}", schema=schema, config=text,
                               admin_access_key=admin)
    EVENTS.clear()
    IDENTITIES.clear()
    # A JWT of the configured issuer is OIDC's, even with AWS_LAMBDA as the default mode.
    assert (await send(client, jwt_for(idp.issuer), "{ whoami }")).status_code == 200
    assert IDENTITIES[-1]["sub"] == "u"
    # A bad one is OIDC's refusal, not a second chance with the function.
    assert (await send(client, jwt_for(idp.issuer, aud="someone-else"), "{ whoami }")).status_code == 401
    # SigV4 is IAM's.
    body = json.dumps({"query": "{ whoami }"})
    signed = AWSRequest(method="POST", url="http://trellis.test/graphql", data=body,
                        headers={"content-type": "application/json", "host": "trellis.test"})
    SigV4Auth(Credentials(*admin), "appsync", "eu-west-1").add_auth(signed)
    response = await client.http.post("/graphql", content=body, headers=dict(signed.headers.items()))
    assert response.status_code == 200, response.text
    assert EVENTS == []
    # A JWT of some other issuer is just a token to the function.
    other = jwt_for("https://elsewhere.example")
    assert (await send(client, other, "{ whoami }")).status_code == 200
    assert [e["authorizationToken"] for e in EVENTS] == [other]


@pytest.mark.parametrize(("table", "message"), [
    ({}, "give exactly one of"),
    ({"function": "tests.test_auth_lambda:authorize", "datasource": "x"}, "give exactly one of"),
    ({"function": "tests.test_auth_lambda:nothing_here"}, "cannot be loaded"),
    ({"function": "not a path"}, "is not \"module:callable\""),
    ({"datasource": "missing"}, "is not a configured function data source"),
    ({"function": "tests.test_auth_lambda:authorize", "ttl_seconds": 3601}, "ttl_seconds"),
    ({"function": "tests.test_auth_lambda:authorize", "identity_validation_expression": "("}, "not a regex"),
    ({"function": "tests.test_auth_lambda:authorize", "colour": "red"}, "unknown key 'colour'"),
])
def test_a_bad_lambda_table_is_a_start_up_error(table, message):
    with pytest.raises(ConfigError) as raised:
        build_authenticator({"default": "AWS_LAMBDA", "lambda": table}, api_keys=None, where="trellis.toml")
    assert any(message in p.message for p in raised.value.problems), raised.value.problems


def test_aws_lambda_without_its_table_is_a_start_up_error():
    with pytest.raises(ConfigError) as raised:
        build_authenticator({"default": "AWS_LAMBDA"}, api_keys=None, where="trellis.toml")
    assert "needs an [auth.lambda] table" in raised.value.problems[0].message
