"""STS through botocore's real ``sts`` client against a real Trellis server; the credentials it hands
out then sign GraphQL requests that IAM policies allow or deny field by field."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncIAMAuthentication

from app.cli import main
from app.server import create_app
from app.settings import load_settings
from auth.iam.denial import encode_denial
from auth.iam_setup import iam_box
from auth.totp import totp
from tests.test_jwt_verifier import CLIENT, RSA_KEY, free_port, idp, sign  # noqa: F401 - idp is a fixture

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ADMIN = ("AKIATRELLISADMIN0001", "admin-secret-admin-secret-admin-secret00")
SCHEMA = "type Query @aws_iam { catalogue: String payroll: String whoami: String }\n"
FIELD = f"arn:aws:appsync:{REGION}:{ACCOUNT}:apis/demo/types/Query/fields/"


def catalogue(ctx):
    return "products"


def payroll(ctx):
    return "salaries"


def whoami(ctx):
    return ctx.identity["userArn"]


def allow(action: str, resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource,
                                                    **extra}]}


def trust(principal: Any, action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal, "Action": action,
                                                    **extra}]}


@functools.cache
def _botocore_session() -> Any:
    return botocore.session.get_session()  # loading the service models once keeps the tests fast


@dataclass
class Trellis:
    base: str
    folder: Path
    app: Any

    def iam(self, *args: str, capsys: Any = None) -> str:
        code = main(["iam", *args, "--schema", str(self.folder / "schema.graphql")])
        out = capsys.readouterr().out if capsys is not None else ""
        assert code == 0, out
        return out

    @property
    def credentials(self) -> Any:
        return self.app.state.runtime.query_services[0].credentials

    def sts(self, key: tuple[str, ...], **config: Any) -> Any:
        session = _botocore_session()
        token = key[2] if len(key) > 2 else None
        return session.create_client("sts", endpoint_url=self.base, region_name=REGION, aws_access_key_id=key[0],
                                     aws_secret_access_key=key[1], aws_session_token=token,
                                     config=Config(**config) if config else None)

    async def call(self, key: tuple[str, ...], operation: str, **params: Any) -> dict[str, Any]:
        client = self.sts(key, parameter_validation=False)
        try:
            return await asyncio.to_thread(getattr(client, operation), **params)
        finally:
            client.close()

    async def graphql(self, query: str, key: tuple[str, ...]) -> httpx.Response:
        body = json.dumps({"query": query})
        request = AWSRequest(method="POST", url=f"{self.base}/graphql", data=body,
                             headers={"content-type": "application/json"})
        SigV4Auth(Credentials(*key), "appsync", REGION).add_auth(request)
        async with httpx.AsyncClient() as http:
            return await http.post(f"{self.base}/graphql", content=body, headers=dict(request.headers.items()))


def creds(response: dict[str, Any]) -> tuple[str, str, str]:
    c = response["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


async def error_code(awaitable: Any) -> str:
    with pytest.raises(ClientError) as caught:
        await awaitable
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
async def trellis(tmp_path, idp, monkeypatch, capsys):  # noqa: F811 - pytest injects the imported fixture
    monkeypatch.delenv("TRELLIS_SECRET", raising=False)
    monkeypatch.delenv("TRELLIS_DATA_DIR", raising=False)
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "trellis.toml").write_text(
        f'[auth]\ndefault = "AWS_IAM"\nadditional = ["OPENID_CONNECT"]\n'
        f'[auth.iam]\nregion = "{REGION}"\naccount_id = "{ACCOUNT}"\napi_id = "demo"\n'
        f'[auth.openid_connect]\nissuer = "{idp.issuer}"\nclient_id = "{CLIENT}"\njwks_url = "{idp.jwks_url}"\n'
        + "".join(f'[resolvers."Query.{f}"]\nhandler = "tests.test_sts:{f}"\n' for f in ("catalogue", "payroll",
                                                                                           "whoami"))
    )
    settings = load_settings(tmp_path / "schema.graphql", environ={},
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", admin_access_key=ADMIN)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none"))
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    t = Trellis(f"http://127.0.0.1:{port}", tmp_path, app)
    t.credentials.store.check_interval = 0  # see CLI changes at once (the server default is once a second)
    yield t
    server.should_exit = True
    await task


def write(folder: Path, name: str, document: Any) -> str:
    path = folder / name
    path.write_text(json.dumps(document))
    return str(path)


def access_key(t: Trellis, user: str, capsys: Any) -> tuple[str, str]:
    key_id, secret = t.iam("access-key", "create", user, capsys=capsys).split()
    return key_id, secret


@pytest.fixture
def people(trellis, capsys):
    """alice (group staff may assume roles and federate) and bob (no policies); roles reader and admin."""
    t, f = trellis, trellis.folder
    for name in ("alice", "bob"):
        t.iam("user", "create", name, "--tag", f"team={name}-team")
    t.iam("group", "create", "staff")
    t.iam("group", "add-user", "staff", "alice")
    t.iam("policy", "put", "--group", "staff", "--name", "sts", "--document",
          write(f, "sts.json", allow(["sts:AssumeRole", "sts:GetFederationToken", "appsync:GraphQL"])))
    t.iam("role", "create", "reader", "--trust-policy", write(f, "trust.json", trust({"AWS": ACCOUNT})),
          "--max-session-seconds", "7200")
    t.iam("policy", "put", "--role", "reader", "--name", "read", "--document",
          write(f, "read.json", allow("appsync:GraphQL", [FIELD + "catalogue", FIELD + "whoami"])))
    t.iam("policy", "create", "everything", write(f, "all.json", allow("appsync:GraphQL", FIELD + "*")))
    t.iam("role", "create", "auditor", "--trust-policy",
          write(f, "trust2.json", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"})))
    t.iam("policy", "attach", "everything", "--role", "auditor")
    capsys.readouterr()
    return {"alice": access_key(t, "alice", capsys), "bob": access_key(t, "bob", capsys)}


async def test_get_caller_identity_names_users_and_the_administrator(trellis, people):
    admin = await trellis.call(ADMIN, "get_caller_identity")
    assert admin["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/trellis-admin"
    alice = await trellis.call(people["alice"], "get_caller_identity")
    assert alice["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert alice["Account"] == ACCOUNT and alice["UserId"].startswith("AIDA")


async def test_bad_signatures_and_unknown_keys_get_aws_error_codes(trellis, people):
    assert await error_code(trellis.call((people["alice"][0], "x" * 40), "get_caller_identity")) \
        == "SignatureDoesNotMatch"
    assert await error_code(trellis.call(("AKIAUNKNOWN000000000", "x" * 40), "get_caller_identity")) \
        == "InvalidClientTokenId"


async def test_assume_role_credentials_sign_graphql_with_the_roles_policies(trellis, people):
    response = await trellis.call(people["alice"], "assume_role", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader",
                                  RoleSessionName="alice-reads")
    role_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/alice-reads"
    assert response["AssumedRoleUser"]["Arn"] == role_arn
    assert response["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    key = creds(response)
    assert key[0].startswith("ASIA")
    lifetime = response["Credentials"]["Expiration"].timestamp() - time.time()
    assert 3590 < lifetime <= 3600
    assert (await trellis.call(key, "get_caller_identity"))["Arn"] == role_arn

    body = (await trellis.graphql("{ catalogue payroll whoami }", key)).json()
    assert body["data"] == {"catalogue": "products", "payroll": None, "whoami": role_arn}
    assert body["errors"][0]["errorType"] == "Unauthorized"
    # alice herself (group policy: every field) reads payroll
    assert (await trellis.graphql("{ payroll }", people["alice"])).json()["data"] == {"payroll": "salaries"}

    # gql's AppSyncIAMAuthentication signs with the session token too
    host = trellis.base.removeprefix("http://")
    auth = AppSyncIAMAuthentication(host=host, region_name=REGION, credentials=Credentials(*key))
    async with Client(transport=AIOHTTPTransport(url=f"{trellis.base}/graphql", auth=auth)) as session:
        assert await session.execute(gql("{ catalogue }")) == {"catalogue": "products"}


async def test_assume_role_needs_both_an_identity_policy_and_the_trust_policy(trellis, people, capsys):
    reader = f"arn:aws:iam::{ACCOUNT}:role/reader"
    # bob is in the trusted account but no identity policy allows sts:AssumeRole
    assert await error_code(trellis.call(people["bob"], "assume_role", RoleArn=reader,
                                         RoleSessionName="bob")) == "AccessDenied"
    # auditor trusts only the reader role: alice's own allow is not enough
    assert await error_code(trellis.call(people["alice"], "assume_role", RoleSessionName="x1",
                                         RoleArn=f"arn:aws:iam::{ACCOUNT}:role/auditor")) == "AccessDenied"
    assert await error_code(trellis.call(people["alice"], "assume_role", RoleSessionName="x1",
                                         RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nope")) == "AccessDenied"
    # trust conditions see the caller: only team=alice-team may assume "tagged"
    trellis.iam("role", "create", "tagged", "--trust-policy", write(trellis.folder, "t3.json", trust(
        {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        Condition={"StringEquals": {"aws:PrincipalTag/team": "alice-team"}})))
    tagged = f"arn:aws:iam::{ACCOUNT}:role/tagged"
    assert (await trellis.call(people["alice"], "assume_role", RoleArn=tagged, RoleSessionName="ok"))["Credentials"]
    trellis.iam("policy", "put", "--user", "bob", "--name", "sts", "--document",
                write(trellis.folder, "b.json", allow("sts:AssumeRole")))
    assert await error_code(trellis.call(people["bob"], "assume_role", RoleArn=tagged,
                                         RoleSessionName="bob")) == "AccessDenied"


async def test_duration_seconds_runs_from_900_to_the_roles_maximum_and_chains_cap_at_an_hour(trellis, people):
    reader = f"arn:aws:iam::{ACCOUNT}:role/reader"
    alice = people["alice"]
    for seconds in (899, 7201):
        assert await error_code(trellis.call(alice, "assume_role", RoleArn=reader, RoleSessionName="s1",
                                             DurationSeconds=seconds)) == "ValidationError"
    short = await trellis.call(alice, "assume_role", RoleArn=reader, RoleSessionName="s1", DurationSeconds=900)
    assert 890 < short["Credentials"]["Expiration"].timestamp() - time.time() <= 900
    long = await trellis.call(alice, "assume_role", RoleArn=reader, RoleSessionName="s1", DurationSeconds=7200)
    session = creds(long)

    # role chaining: reader's session assumes auditor; more than an hour is refused
    trellis.iam("policy", "put", "--role", "reader", "--name", "chain", "--document",
                write(trellis.folder, "c.json", allow("sts:AssumeRole")))
    auditor = f"arn:aws:iam::{ACCOUNT}:role/auditor"
    assert await error_code(trellis.call(session, "assume_role", RoleArn=auditor, RoleSessionName="chained",
                                         DurationSeconds=3601)) == "ValidationError"
    chained = await trellis.call(session, "assume_role", RoleArn=auditor, RoleSessionName="chained")
    assert chained["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/auditor/chained"
    body = (await trellis.graphql("{ payroll }", creds(chained))).json()
    assert body["data"] == {"payroll": "salaries"}


async def test_a_session_policy_narrows_the_role(trellis, people):
    auditor_session = await trellis.call(
        ADMIN, "assume_role", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader", RoleSessionName="narrow",
        Policy=json.dumps(allow("appsync:GraphQL", FIELD + "whoami")), PolicyArns=[])
    body = (await trellis.graphql("{ catalogue whoami }", creds(auditor_session))).json()
    assert body["data"]["catalogue"] is None and body["data"]["whoami"].endswith("/reader/narrow")
    assert await error_code(trellis.call(ADMIN, "assume_role", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader",
                                         RoleSessionName="bad", Policy="{not json")) == "MalformedPolicyDocument"


async def test_temporary_credentials_are_rejected_once_expired(trellis, people):
    response = await trellis.call(people["alice"], "assume_role", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader",
                                  RoleSessionName="brief", DurationSeconds=900)
    key = creds(response)
    assert (await trellis.graphql("{ catalogue }", key)).status_code == 200
    lookup = trellis.credentials
    real = lookup.clock
    lookup.clock = lambda: real() + timedelta(seconds=901)
    expired = await trellis.graphql("{ catalogue }", key)
    assert expired.status_code == 401
    assert expired.json()["errors"][0]["errorType"] == "ExpiredTokenException"
    assert await error_code(trellis.call(key, "get_caller_identity")) == "ExpiredToken"
    # a tampered token is not a credential at all
    forged = (key[0], key[1], key[2][:-4] + ("AAAA" if not key[2].endswith("AAAA") else "BBBB"))
    lookup.clock = real
    assert await error_code(trellis.call(forged, "get_caller_identity")) == "InvalidClientTokenId"


async def test_get_session_token_with_totp_sets_multi_factor_auth_present(trellis, people, capsys):
    t = trellis
    serial, secret, uri = t.iam("mfa", "enable", "alice", capsys=capsys).split()
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/alice" and uri.startswith("otpauth://totp/")
    # payroll only with MFA; the "mfa" role only for MFA sessions
    t.iam("policy", "put", "--user", "alice", "--name", "mfa-payroll", "--document", write(t.folder, "m.json", {
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "appsync:GraphQL",
                                                "Resource": FIELD + "payroll",
                                                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}))
    t.iam("role", "create", "mfa", "--trust-policy", write(t.folder, "tm.json", trust(
        {"AWS": ACCOUNT}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})))
    mfa_role = f"arn:aws:iam::{ACCOUNT}:role/mfa"
    alice = people["alice"]
    # a long-term key has no aws:MultiFactorAuthPresent at all: BoolIfExists denies it too (as AWS documents)
    assert (await t.graphql("{ payroll }", alice)).json()["data"] == {"payroll": None}

    plain = creds(await t.call(alice, "get_session_token", DurationSeconds=900))
    assert (await t.graphql("{ payroll }", plain)).json()["data"] == {"payroll": None}
    assert await error_code(t.call(plain, "assume_role", RoleArn=mfa_role, RoleSessionName="m1")) == "AccessDenied"
    assert await error_code(t.call(alice, "get_session_token", SerialNumber=serial,
                                   TokenCode="000000" if totp(secret, time.time()) != "000000" else "111111")) \
        == "AccessDenied"

    code = totp(secret, time.time())
    strong = creds(await t.call(alice, "get_session_token", SerialNumber=serial, TokenCode=code))
    assert (await t.call(strong, "get_caller_identity"))["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert (await t.graphql("{ payroll }", strong)).json()["data"] == {"payroll": "salaries"}
    assert (await t.call(strong, "assume_role", RoleArn=mfa_role, RoleSessionName="m1"))["Credentials"]
    # the same code is accepted once
    assert await error_code(t.call(alice, "get_session_token", SerialNumber=serial, TokenCode=code)) \
        == "AccessDenied"
    # session credentials cannot mint more session credentials
    assert await error_code(t.call(strong, "get_session_token")) == "AccessDenied"


async def test_get_federation_token_gives_the_intersection_of_user_and_session_policy(trellis, people):
    alice = people["alice"]
    fed = await trellis.call(alice, "get_federation_token", Name="partner",
                             Policy=json.dumps(allow("appsync:GraphQL", FIELD + "catalogue")))
    assert fed["FederatedUser"] == {"FederatedUserId": f"{ACCOUNT}:partner",
                                    "Arn": f"arn:aws:sts::{ACCOUNT}:federated-user/partner"}
    key = creds(fed)
    assert (await trellis.call(key, "get_caller_identity"))["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/partner"
    body = (await trellis.graphql("{ catalogue payroll }", key)).json()
    assert body["data"] == {"catalogue": "products", "payroll": None}
    bare = creds(await trellis.call(alice, "get_federation_token", Name="nobody"))
    assert (await trellis.graphql("{ catalogue }", bare)).json()["data"] == {"catalogue": None}
    assert await error_code(trellis.call(people["bob"], "get_federation_token", Name="x2")) == "AccessDenied"
    assert await error_code(trellis.call(key, "assume_role", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader",
                                         RoleSessionName="f1")) == "AccessDenied"


async def test_assume_role_with_web_identity_checks_the_token_and_the_trust_conditions(trellis, people, idp):  # noqa: F811
    provider = idp.issuer.removeprefix("http://")
    trellis.iam("role", "create", "web", "--trust-policy", write(trellis.folder, "tw.json", trust(
        {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"}, "sts:AssumeRoleWithWebIdentity",
        Condition={"StringEquals": {f"{provider}:aud": CLIENT, f"{provider}:sub": "user-1"}})))
    trellis.iam("policy", "attach", "everything", "--role", "web")
    now = int(time.time())

    def token(**claims: Any) -> str:
        payload = {"iss": idp.issuer, "sub": "user-1", "aud": CLIENT, "iat": now - 5, "exp": now + 600, **claims}
        return sign(payload, RSA_KEY, "rsa-1")

    anonymous = ("", "")  # AssumeRoleWithWebIdentity is unsigned; botocore sends no Authorization
    web = f"arn:aws:iam::{ACCOUNT}:role/web"
    response = await trellis.call(anonymous, "assume_role_with_web_identity", RoleArn=web, RoleSessionName="web1",
                                  WebIdentityToken=token())
    assert response["SubjectFromWebIdentityToken"] == "user-1"
    assert response["Audience"] == CLIENT and response["Provider"] == idp.issuer
    assert (await trellis.graphql("{ payroll }", creds(response))).json()["data"] == {"payroll": "salaries"}
    assert await error_code(trellis.call(anonymous, "assume_role_with_web_identity", RoleArn=web,
                                         RoleSessionName="web1", WebIdentityToken=token(sub="user-2"))) \
        == "AccessDenied"
    assert await error_code(trellis.call(anonymous, "assume_role_with_web_identity", RoleArn=web,
                                         RoleSessionName="web1", WebIdentityToken=token()[:-6] + "AAAAAA")) \
        == "InvalidIdentityToken"


async def test_a_field_iam_denies_carries_a_reason_only_sts_decodes(trellis, people):
    body = (await trellis.graphql("{ payroll }", people["bob"])).json()  # bob has no policy for payroll
    assert body["data"] == {"payroll": None}
    error = body["errors"][0]
    assert error["errorType"] == "Unauthorized"
    encoded = error["errorInfo"]["encodedAuthorizationMessage"]
    assert "payroll" not in encoded  # sealed: the caller cannot read the reason itself
    decoded = json.loads((await trellis.call(ADMIN, "decode_authorization_message",
                                             EncodedMessage=encoded))["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["resource"] == FIELD + "payroll"
    assert decoded["context"]["principal"]["arn"].endswith(":user/bob")


async def test_decode_authorization_message_needs_permission(trellis, people):
    box = iam_box(trellis.folder / ".trellis", None)
    encoded = encode_denial(box, principal_arn=f"arn:aws:iam::{ACCOUNT}:user/bob", principal_id="AIDABOB",
                            action="appsync:GraphQL", resource=FIELD + "payroll", explicit_deny=False)
    decoded = json.loads((await trellis.call(ADMIN, "decode_authorization_message",
                                             EncodedMessage=encoded))["DecodedMessage"])
    assert decoded["allowed"] is False
    assert decoded["context"]["action"] == "appsync:GraphQL" and decoded["context"]["resource"] == FIELD + "payroll"
    assert await error_code(trellis.call(people["bob"], "decode_authorization_message",
                                         EncodedMessage=encoded)) == "AccessDenied"
    assert await error_code(trellis.call(ADMIN, "decode_authorization_message", EncodedMessage="garbage")) \
        == "InvalidAuthorizationMessageException"


async def test_cli_changes_apply_to_the_running_server(trellis, people):
    alice = people["alice"]
    assert (await trellis.graphql("{ catalogue }", alice)).status_code == 200
    trellis.iam("access-key", "deactivate", alice[0])
    assert await error_code(trellis.call(alice, "get_caller_identity")) == "InvalidClientTokenId"
    assert (await trellis.graphql("{ catalogue }", alice)).status_code == 401
    trellis.iam("access-key", "activate", alice[0])
    trellis.iam("group", "remove-user", "staff", "alice")
    body = (await trellis.graphql("{ catalogue }", alice)).json()
    assert body["data"] == {"catalogue": None}


async def test_policies_see_the_callers_name_tags_and_type(trellis, people):
    # payroll for IAM users whose team tag is "<their user name>-team"; never for role sessions
    trellis.iam("policy", "put", "--user", "bob", "--name", "own-team", "--document", write(trellis.folder, "v.json", {
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "appsync:GraphQL", "Resource": FIELD + "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "${aws:username}-team",
                                           "aws:PrincipalType": "User"}}}]}))
    body = (await trellis.graphql("{ payroll whoami }", people["bob"])).json()
    assert body["data"] == {"payroll": "salaries", "whoami": f"arn:aws:iam::{ACCOUNT}:user/bob"}
    trellis.iam("user", "delete", "bob")
    assert (await trellis.graphql("{ payroll }", people["bob"])).status_code == 401


async def test_session_tags_need_sts_tag_session_and_become_principal_tags(trellis, people):
    reader = f"arn:aws:iam::{ACCOUNT}:role/reader"
    tags = [{"Key": "project", "Value": "apollo"}]
    assert await error_code(trellis.call(ADMIN, "assume_role", RoleArn=reader, RoleSessionName="t1",
                                         Tags=tags)) == "AccessDenied"
    trellis.iam("role", "create", "taggable", "--trust-policy", write(trellis.folder, "tt.json", trust(
        {"AWS": ACCOUNT}, ["sts:AssumeRole", "sts:TagSession"])))
    trellis.iam("policy", "put", "--role", "taggable", "--name", "p", "--document", write(trellis.folder, "tp.json",
        allow("appsync:GraphQL", FIELD + "*", Condition={"StringEquals": {"aws:PrincipalTag/project": "apollo"}})))
    taggable = f"arn:aws:iam::{ACCOUNT}:role/taggable"
    tagged = creds(await trellis.call(ADMIN, "assume_role", RoleArn=taggable, RoleSessionName="t2", Tags=tags))
    plain = creds(await trellis.call(ADMIN, "assume_role", RoleArn=taggable, RoleSessionName="t3"))
    assert (await trellis.graphql("{ payroll }", tagged)).json()["data"] == {"payroll": "salaries"}
    assert (await trellis.graphql("{ payroll }", plain)).json()["data"] == {"payroll": None}
