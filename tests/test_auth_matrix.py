"""Every mode x every way a credential can be wrong: 401, no data, and nothing ran.

One API with API_KEY, OPENID_CONNECT, AMAZON_COGNITO_USER_POOLS (an external pool served by the
same test IdP) and AWS_IAM side by side, and one with AWS_LAMBDA as its default mode (a Lambda
API sends every unclaimed ``Authorization`` value to its function, so it gets its own); each bad
credential is sent through the real app and must be refused before any resolver or data source
is reached.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import serialization

from auth.base import AuthRequest
from tests.test_jwt_verifier import CLIENT, RSA_KEY, RSA_KEY_2, b64, b64json, idp, sign  # noqa: F401 - idp fixture

ADMIN = ("AKIAMATRIXADMIN00001", "matrix-secret-matrix-secret-matrix-sec00")
CALLS: list[str] = []
SCHEMA = """
type Query @aws_api_key @aws_iam @aws_oidc @aws_cognito_user_pools {
  secret: String
  staffOnly: String @aws_cognito_user_pools(cognito_groups: ["staff"])
  adminsOnly: String @aws_cognito_user_pools(cognito_groups: ["admins"])
}
"""
LAMBDA_SCHEMA = "type Query @aws_lambda { secret: String }"
QUERY = "{ secret }"


def secret(ctx):
    CALLS.append(ctx.info.field_name)
    return "s3cr3t"


def authorizer(event):
    """The Lambda API's authorizer: one good token; one that makes it fail."""
    token = event["authorizationToken"]
    if token == "tok-raise":
        raise RuntimeError("authorizer failure")
    return {"isAuthorized": token == "tok-good"}


def pool(idp) -> str:  # noqa: F811
    return idp.base + "/pool"


@pytest.fixture
async def client(make_client, tmp_path, idp):  # noqa: F811 - pytest injects the imported fixture
    config = (
        '[auth]\ndefault = "API_KEY"\nadditional = ["OPENID_CONNECT", "AMAZON_COGNITO_USER_POOLS", "AWS_IAM"]\n'
        f'[auth.openid_connect]\nissuer = "{idp.issuer}"\nclient_id = "{CLIENT}"\njwks_url = "{idp.jwks_url}"\n'
        f'[auth.cognito_user_pools]\nissuer = "{pool(idp)}"\njwks_url = "{idp.jwks_url}"\n'
        f'app_id_client_regex = "{CLIENT}"\n'
        '[auth.iam]\nregion = "eu-west-1"\n'
        + "".join(f'[resolvers."Query.{f}"]\nhandler = "tests.test_auth_matrix:secret"\n'
                  for f in ("secret", "staffOnly", "adminsOnly"))
    )
    built = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", schema=SCHEMA, config=config,
                              admin_access_key=ADMIN)
    built.idp = idp
    return built


@pytest.fixture
async def lambda_client(make_client, tmp_path):
    config = (
        '[auth]\ndefault = "AWS_LAMBDA"\n'
        '[auth.lambda]\nfunction = "tests.test_auth_matrix:authorizer"\nidentity_validation_expression = "tok-[a-z]+"\n'
        '[resolvers."Query.secret"]\nhandler = "tests.test_auth_matrix:secret"\n'
    )
    return await make_client(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}", schema=LAMBDA_SCHEMA, config=config)


def jwt_for(issuer: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "sub": "u", "aud": CLIENT, "iat": now - 5, "exp": now + 600}
    payload.update(claims)
    return sign({k: v for k, v in payload.items() if v is not None})


def cognito_jwt(idp, token_use: str | None = "id", **claims) -> str:  # noqa: F811, S107 - a claim value
    if token_use == "access":
        claims = {"aud": None, "client_id": CLIENT, **claims}
    return jwt_for(pool(idp), token_use=token_use, **claims)


def hs256_with_public_key(issuer: str, **claims) -> str:
    public = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header, payload = b64json({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}), b64json(json.loads(
        json.dumps({"iss": issuer, "sub": "u", "aud": CLIENT, "iat": int(time.time()), "exp": int(time.time()) + 600,
                    **claims})
    ))
    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def sigv4(body: str, *, key=ADMIN, region="eu-west-1", service="appsync", drop: str | None = None) -> dict:
    request = AWSRequest(method="POST", url="http://trellis.test/graphql", data=body,
                         headers={"content-type": "application/json", "host": "trellis.test"})
    SigV4Auth(Credentials(*key), service, region).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != drop}


def cases(idp) -> dict[str, tuple[dict[str, str], str]]:  # noqa: F811
    body = json.dumps({"query": QUERY})
    good_jwt = jwt_for(idp.issuer)
    now = int(time.time())
    return {
        "api_key/missing": ({}, body),
        "api_key/malformed": ({"x-api-key": "not a key"}, body),
        "api_key/wrong": ({"x-api-key": "da2-" + "x" * 26}, body),
        "oidc/malformed": ({"authorization": "Bearer abc.def"}, body),
        "oidc/expired": ({"authorization": jwt_for(idp.issuer, iat=now - 700, exp=now - 1)}, body),
        "oidc/not_yet_valid": ({"authorization": jwt_for(idp.issuer, nbf=now + 300)}, body),
        "oidc/wrong_iss": ({"authorization": jwt_for("https://other.example")}, body),
        "oidc/wrong_aud": ({"authorization": jwt_for(idp.issuer, aud="another-client")}, body),
        "oidc/missing_exp": ({"authorization": jwt_for(idp.issuer, exp=None)}, body),
        "oidc/alg_none": ({"authorization": b64json({"alg": "none", "kid": "rsa-1"}) + "."
                           + good_jwt.split(".")[1] + "."}, body),
        "oidc/hs256_with_public_key": ({"authorization": hs256_with_public_key(idp.issuer)}, body),
        "oidc/unknown_kid": ({"authorization": sign({**json.loads(_payload(good_jwt))}, RSA_KEY_2, "rsa-9")}, body),
        "oidc/other_key_same_kid": ({"authorization": sign(json.loads(_payload(good_jwt)), RSA_KEY_2, "rsa-1")}, body),
        "cognito/missing": ({"authorization": ""}, body),
        "cognito/expired": ({"authorization": cognito_jwt(idp, iat=now - 700, exp=now - 1)}, body),
        "cognito/not_yet_valid": ({"authorization": cognito_jwt(idp, nbf=now + 300)}, body),
        "cognito/wrong_iss": ({"authorization": jwt_for("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other",
                                                        token_use="id")}, body),
        "cognito/wrong_client_id_access_token": ({"authorization": cognito_jwt(idp, "access", client_id="other")},
                                                 body),
        "cognito/wrong_aud_id_token": ({"authorization": cognito_jwt(idp, aud="other")}, body),
        "cognito/access_token_aud_only": ({"authorization": cognito_jwt(idp, "access", client_id=None, aud=CLIENT)},
                                          body),
        "cognito/token_use_refresh": ({"authorization": cognito_jwt(idp, token_use="refresh")}, body),
        "cognito/token_use_missing": ({"authorization": cognito_jwt(idp, token_use=None)}, body),
        "cognito/alg_none": ({"authorization": b64json({"alg": "none", "kid": "rsa-1"}) + "."
                              + cognito_jwt(idp).split(".")[1] + "."}, body),
        "cognito/hs256_with_public_key": ({"authorization": hs256_with_public_key(pool(idp), token_use="id")}, body),
        "cognito/unknown_kid": ({"authorization": sign(json.loads(_payload(cognito_jwt(idp))), RSA_KEY_2, "rsa-9")},
                                body),
        "lambda/missing": ({}, body),
        "lambda/empty": ({"authorization": ""}, body),
        "lambda/garbage": ({"authorization": "%%% not a token %%%"}, body),
        "lambda/denied": ({"authorization": "tok-nobody"}, body),
        "lambda/function_raises": ({"authorization": "tok-raise"}, body),
        "lambda/too_long": ({"authorization": "tok-" + "a" * 2100}, body),
        "iam/tampered_body": (sigv4(body), body.replace("secret", "secret __typename")),
        "iam/wrong_secret": (sigv4(body, key=(ADMIN[0], "y" * 40)), body),
        "iam/unknown_key": (sigv4(body, key=("AKIANOBODY0000000000", ADMIN[1])), body),
        "iam/wrong_region": (sigv4(body, region="us-west-2"), body),
        "iam/wrong_service": (sigv4(body, service="execute-api"), body),
        "iam/unsigned_date": (sigv4(body, drop="x-amz-date"), body),
    }


def _payload(token: str) -> str:
    part = token.split(".")[1]
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


CASE_NAMES = [
    "api_key/missing", "api_key/malformed", "api_key/wrong", "oidc/malformed", "oidc/expired", "oidc/not_yet_valid",
    "oidc/wrong_iss", "oidc/wrong_aud", "oidc/missing_exp", "oidc/alg_none", "oidc/hs256_with_public_key",
    "oidc/unknown_kid", "oidc/other_key_same_kid",
    "cognito/missing", "cognito/expired", "cognito/not_yet_valid", "cognito/wrong_iss",
    "cognito/wrong_client_id_access_token", "cognito/wrong_aud_id_token", "cognito/access_token_aud_only",
    "cognito/token_use_refresh", "cognito/token_use_missing", "cognito/alg_none", "cognito/hs256_with_public_key",
    "cognito/unknown_kid",
    "lambda/missing", "lambda/empty", "lambda/garbage", "lambda/denied", "lambda/function_raises", "lambda/too_long",
    "iam/tampered_body", "iam/wrong_secret", "iam/unknown_key",
    "iam/wrong_region", "iam/wrong_service", "iam/unsigned_date",
]


async def _assert_refused(client, headers: dict[str, str], content: str) -> None:
    CALLS.clear()
    response = await client.http.post("/graphql", content=content,
                                      headers={"content-type": "application/json", **headers})
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["errorType"] in {"UnauthorizedException", "InvalidSignatureException",
                                              "UnrecognizedClientException", "IncompleteSignatureException",
                                              "MissingAuthenticationTokenException"}
    assert CALLS == []


@pytest.mark.parametrize("case", [c for c in CASE_NAMES if not c.startswith("lambda/")])
async def test_a_bad_credential_is_refused_with_no_data_and_nothing_run(client, case):
    headers, content = cases(client.idp)[case]
    if case.startswith("cognito/") and case not in ("cognito/missing", "cognito/wrong_iss"):
        # Refused by the user pool's own checks, not merely because no mode claimed the token.
        cognito = next(a for a in client.runtime.authenticator.authorizers if a.mode == "AMAZON_COGNITO_USER_POOLS")
        assert cognito.presents(AuthRequest("POST", "/graphql", "", headers, _no_body))
    await _assert_refused(client, headers, content)


async def _no_body() -> bytes:
    return b""


@pytest.mark.parametrize("case", [c for c in CASE_NAMES if c.startswith("lambda/")])
async def test_a_bad_lambda_token_is_refused_with_no_data_and_nothing_run(lambda_client, idp, case):  # noqa: F811
    await _assert_refused(lambda_client, *cases(idp)[case])


@pytest.mark.parametrize("skew", [301, -301])
async def test_a_signature_more_than_five_minutes_off_is_refused(client, skew):
    body = json.dumps({"query": QUERY})
    headers = sigv4(body)
    iam = next(a for a in client.runtime.authenticator.authorizers if a.mode == "AWS_IAM")
    iam.clock = lambda: datetime.now(UTC) + timedelta(seconds=skew)
    CALLS.clear()
    response = await client.http.post("/graphql", content=body, headers=headers)
    assert response.status_code == 401
    assert CALLS == []


async def test_a_revoked_or_expired_api_key_is_refused(client):
    store = client.runtime.api_keys
    key, record = await store.create("short-lived", expires_in_seconds=3600)
    assert (await client.post(QUERY, key=key)).status_code == 200
    await store.revoke(record.id)
    assert (await client.post(QUERY, key=key)).status_code == 401
    old, _ = await store.create("expired", expires_in_seconds=1)
    store._clock = lambda: time.time() + 10
    store._loaded_at = float("-inf")
    assert (await client.post(QUERY, key=old)).status_code == 401


async def test_every_mode_reads_the_field_with_a_good_credential(client):
    body = json.dumps({"query": QUERY})
    good = [
        {"x-api-key": "da2-testkeytestkeytestkeytestk"},
        {"authorization": jwt_for(client.idp.issuer)},
        {"authorization": cognito_jwt(client.idp)},
        {"authorization": "Bearer " + cognito_jwt(client.idp, "access")},
        sigv4(body),
    ]
    for headers in good:
        response = await client.http.post("/graphql", content=body,
                                          headers={"content-type": "application/json", **headers})
        assert response.json() == {"data": {"secret": "s3cr3t"}}


async def test_a_good_lambda_token_reads_the_field(lambda_client):
    CALLS.clear()
    response = await lambda_client.post(QUERY, key=None, headers={"authorization": "tok-good"})
    assert response.json() == {"data": {"secret": "s3cr3t"}}
    assert CALLS == ["secret"]


async def test_cognito_groups_decide_group_restricted_fields(client):
    CALLS.clear()
    staff = cognito_jwt(client.idp, **{"cognito:groups": ["staff"], "cognito:username": "sam"})
    response = await client.post("{ secret staffOnly adminsOnly }", key=None, headers={"authorization": staff})
    body = response.json()
    assert body.get("data") == {"secret": "s3cr3t", "staffOnly": "s3cr3t", "adminsOnly": None}, body
    [error] = body["errors"]
    assert (error["path"], error["errorType"]) == (["adminsOnly"], "Unauthorized")
    assert error["message"] == "Not Authorized to access adminsOnly on type Query"
    assert sorted(CALLS) == ["secret", "staffOnly"]  # the denied field's resolver never ran
    CALLS.clear()
    nobody = cognito_jwt(client.idp, "access")  # signed in, in no group
    body = (await client.post("{ secret staffOnly }", key=None, headers={"authorization": nobody})).json()
    assert body["data"] == {"secret": "s3cr3t", "staffOnly": None}
    assert CALLS == ["secret"]
    # Groups are a Cognito notion: an OIDC token with the same claim gets no group-restricted field.
    oidc = jwt_for(client.idp.issuer, **{"cognito:groups": ["staff"]})
    body = (await client.post("{ staffOnly }", key=None, headers={"authorization": oidc})).json()
    assert body["data"] == {"staffOnly": None}
