"""The IAM directory file, its sealed secrets and reloads, trust policies, TOTP, session tokens, the CLI."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.session
import pytest
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncIAMAuthentication

from app.cli import main
from auth.iam import AuthorizationRequest, PolicyError, Principal
from auth.iam.directory import AccessKey, Directory, DirectoryError, DirectoryFile, DirectoryStore, User
from auth.iam.trust import Caller, evaluate_trust, parse_trust_policy
from auth.iam_credentials import DirectoryCredentials, SessionClaims, SessionTokens
from auth.secretbox import SecretBox, load_box
from auth.sigv4 import ExpiredTokenError
from auth.totp import TotpVerifier, hotp, totp
from tests.server_process import REPO, trellis_server

ACCOUNT = "123456789012"
BOX = SecretBox.from_secret(b"test-secret")


def directory_with_alice() -> Directory:
    d = Directory()
    d.users["alice"] = User("alice", "AIDAALICE", mfa_serial=f"arn:aws:iam::{ACCOUNT}:mfa/alice",
                            mfa_secret="JBSWY3DPEHPK3PXP")
    d.access_keys["AKIAALICE"] = AccessKey("AKIAALICE", "alice-secret-value", "alice")
    return d


def test_the_file_is_private_and_holds_no_plaintext_secrets(tmp_path):
    file = DirectoryFile(tmp_path / "iam.json", BOX)
    file.save(directory_with_alice())
    text = (tmp_path / "iam.json").read_text()
    assert "alice-secret-value" not in text and "JBSWY3DPEHPK3PXP" not in text
    assert stat.S_IMODE((tmp_path / "iam.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["iam.json"]  # the temp file was renamed into place
    loaded = file.load()
    assert loaded.access_keys["AKIAALICE"].secret == "alice-secret-value"
    assert loaded.users["alice"].mfa_secret == "JBSWY3DPEHPK3PXP"


def test_secrets_do_not_open_under_another_key_or_on_another_record(tmp_path):
    DirectoryFile(tmp_path / "iam.json", BOX).save(directory_with_alice())
    with pytest.raises(DirectoryError, match="does not open"):
        DirectoryFile(tmp_path / "iam.json", SecretBox.from_secret(b"other")).load()
    data = json.loads((tmp_path / "iam.json").read_text())
    data["access_keys"]["AKIAOTHER"] = {**data["access_keys"]["AKIAALICE"]}  # a sealed secret copied to a new key
    (tmp_path / "iam.json").write_text(json.dumps(data))
    with pytest.raises(DirectoryError, match="does not open"):
        DirectoryFile(tmp_path / "iam.json", BOX).load()


def test_without_trellis_secret_a_private_key_file_is_made_once(tmp_path):
    box = load_box(tmp_path, None)
    key_file = tmp_path / "iam.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = box.seal(b"x", "aad")
    assert load_box(tmp_path, None).open(sealed, "aad") == b"x"
    assert load_box(tmp_path, b"env-secret").open(load_box(tmp_path, b"env-secret").seal(b"y", "a"), "a") == b"y"


def test_the_store_rereads_a_changed_file_at_most_once_per_interval(tmp_path):
    file = DirectoryFile(tmp_path / "iam.json", BOX)
    now = [0.0]
    store = DirectoryStore(file, clock=lambda: now[0])
    assert store.current().users == {}
    file.save(directory_with_alice())
    assert store.current().users == {}  # checked less than a second ago
    now[0] = 1.5
    assert set(store.current().users) == {"alice"}
    (tmp_path / "iam.json").write_text("{broken")
    now[0] = 3.0
    assert set(store.current().users) == {"alice"}  # a bad file keeps the last good view


def test_trust_policies_match_principals_and_conditions():
    trust = parse_trust_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"sts:ExternalId": "42"}}},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/mallory"}, "Action": "sts:*"},
        {"Effect": "Allow", "Principal": {"Federated": "idp.example.com"},
         "Action": "sts:AssumeRoleWithWebIdentity"},
    ]})

    def decide(ids: set[str], context: dict, action: str = "sts:AssumeRole", kind: str = "AWS") -> bool:
        request = AuthorizationRequest(action, f"arn:aws:iam::{ACCOUNT}:role/r", context, Principal())
        return evaluate_trust(trust, request, Caller(kind, frozenset(ids), ACCOUNT if kind == "AWS" else None)).allowed

    alice = {f"arn:aws:iam::{ACCOUNT}:user/alice"}
    assert decide(alice, {"sts:ExternalId": "42"})
    assert not decide(alice, {})
    assert not decide({f"arn:aws:iam::{ACCOUNT}:user/mallory"}, {"sts:ExternalId": "42"})
    other_account = evaluate_trust(trust, AuthorizationRequest("sts:AssumeRole", "r", {"sts:ExternalId": "42"}),
                                   Caller("AWS", frozenset({"arn:aws:iam::999999999999:user/x"}), "999999999999"))
    assert not other_account.allowed
    assert decide({"idp.example.com"}, {}, "sts:AssumeRoleWithWebIdentity", "Federated")
    assert not decide({"other.example.com"}, {}, "sts:AssumeRoleWithWebIdentity", "Federated")
    with pytest.raises(PolicyError, match="Principal"):
        parse_trust_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]})


def test_totp_follows_rfc_6238_and_accepts_a_code_once():
    rfc_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert hotp(rfc_secret, 59 // 30, digits=8) == "94287082"  # RFC 6238 appendix B, SHA-1, T=59
    assert hotp(rfc_secret, 1111111109 // 30, digits=8) == "07081804"
    verifier = TotpVerifier()
    at = 1_800_000_000.0
    assert not verifier.verify("dev", rfc_secret, totp(rfc_secret, at - 90), at)  # three steps old
    assert verifier.verify("dev", rfc_secret, totp(rfc_secret, at - 30), at)  # one step of drift
    assert not verifier.verify("dev", rfc_secret, totp(rfc_secret, at - 30), at)  # reused
    assert verifier.verify("dev", rfc_secret, totp(rfc_secret, at), at)
    assert not verifier.verify("dev", rfc_secret, "12345", at)


async def test_session_tokens_are_sealed_bound_to_their_key_and_expire_on_the_clock():
    tokens = SessionTokens(BOX)
    d = directory_with_alice()

    class Fixed:
        def current(self) -> Directory:
            return d

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookup = DirectoryCredentials(Fixed(), tokens, ACCOUNT, clock=lambda: now[0])  # type: ignore[arg-type]
    issued = int(now[0].timestamp())
    claims = SessionClaims("ASIAALICE", "temp-secret", kind="user", user="alice", issued=issued,
                           expires=issued + 900)
    token = tokens.encode(claims)
    assert "temp-secret" not in token
    credential = await lookup.find_session("ASIAALICE", token)
    assert credential is not None and credential.secret_access_key == "temp-secret"
    assert credential.principal.arn == f"arn:aws:iam::{ACCOUNT}:user/alice" and credential.principal.temporary
    assert await lookup.find_session("ASIAOTHER", token) is None  # a token names its own key id
    assert await lookup.find_session("ASIAALICE", token[:-2] + "xx") is None
    now[0] += timedelta(seconds=900)
    with pytest.raises(ExpiredTokenError):
        await lookup.find_session("ASIAALICE", token)
    d.access_keys["AKIAALICE"] = AccessKey("AKIAALICE", "alice-secret-value", "alice", "Inactive")
    assert await lookup.find("AKIAALICE") is None


# ------------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("TRELLIS_SECRET", raising=False)
    monkeypatch.delenv("TRELLIS_DATA_DIR", raising=False)
    (tmp_path / "schema.graphql").write_text("type Query @aws_iam { catalogue: String payroll: String }\n")
    (tmp_path / "trellis.toml").write_text(
        f'[auth]\ndefault = "AWS_IAM"\n[auth.iam]\nregion = "eu-west-1"\naccount_id = "{ACCOUNT}"\n'
        'api_id = "demo"\ndirectory = "config/iam.json"\n'
        '[resolvers."Query.catalogue"]\nhandler = "tests.test_sts:catalogue"\n'
        '[resolvers."Query.payroll"]\nhandler = "tests.test_sts:payroll"\n'
    )
    return tmp_path


def iam(project: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["iam", *args, "--schema", str(project / "schema.graphql")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_manages_users_keys_and_reports_errors(project, capsys):
    assert iam(project, capsys, "user", "create", "alice")[0] == 0
    code, _, err = iam(project, capsys, "user", "create", "alice")
    assert code == 1 and "already exists" in err
    code, _, err = iam(project, capsys, "user", "create", "no spaces")
    assert code == 1 and "must be 1-64 characters" in err
    code, _, err = iam(project, capsys, "group", "add-user", "nogroup", "alice")
    assert code == 1 and "no group named 'nogroup'" in err
    (project / "bad.json").write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}')
    code, _, err = iam(project, capsys, "policy", "put", "--user", "alice", "--name", "p", "--document",
                       str(project / "bad.json"))
    assert code == 1 and "Effect" in err
    code, out, _ = iam(project, capsys, "access-key", "create", "alice")
    key_id, secret = out.split()
    assert code == 0 and key_id.startswith("AKIA") and len(secret) == 40
    listing = iam(project, capsys, "access-key", "list")[1]
    assert key_id in listing and secret not in listing and "Active" in listing
    assert iam(project, capsys, "access-key", "deactivate", key_id)[0] == 0
    assert "Inactive" in iam(project, capsys, "access-key", "list", "alice")[1]
    assert iam(project, capsys, "access-key", "delete", "AKIANOPE")[0] == 1
    stored = project / "config" / "iam.json"  # [auth.iam] directory, relative to the config file
    assert stored.exists() and secret not in stored.read_text()
    assert iam(project, capsys, "user", "delete", "alice")[0] == 0
    assert iam(project, capsys, "access-key", "list")[1].strip() == ""


def test_cli_made_identities_drive_sts_against_a_served_trellis(project, capsys):
    (project / "trust.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))
    (project / "assume.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}]}))
    (project / "catalogue.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "appsync:GraphQL",
         "Resource": f"arn:aws:appsync:eu-west-1:{ACCOUNT}:apis/demo/types/Query/fields/catalogue"}]}))
    for args in (("user", "create", "carol"), ("policy", "create", "assume", str(project / "assume.json")),
                 ("policy", "attach", "assume", "--user", "carol"),
                 ("role", "create", "shop", "--trust-policy", str(project / "trust.json")),
                 ("policy", "put", "--role", "shop", "--name", "cat", "--document", str(project / "catalogue.json"))):
        assert iam(project, capsys, *args)[0] == 0, args
    key_id, secret = iam(project, capsys, "access-key", "create", "carol")[1].split()

    with trellis_server(project / ".trellis", schema=project / "schema.graphql") as (base, _process):
        sts = botocore.session.get_session().create_client(
            "sts", endpoint_url=base, region_name="eu-west-1", aws_access_key_id=key_id,
            aws_secret_access_key=secret)
        role = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/shop", RoleSessionName="carol-shop")
        sts.close()
        c = role["Credentials"]
        credentials = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        auth = AppSyncIAMAuthentication(host=base.removeprefix("http://"), region_name="eu-west-1",
                                        credentials=credentials)
        import asyncio

        async def query() -> dict:
            async with Client(transport=AIOHTTPTransport(url=f"{base}/graphql", auth=auth)) as session:
                result: dict = await session.execute(gql("{ catalogue }"))
                return result

        assert asyncio.run(query()) == {"catalogue": "products"}


def test_trellis_iam_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "app.cli", "iam", "--help"], cwd=REPO, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0
    for command in ("user", "group", "role", "policy", "access-key", "mfa"):
        assert command in result.stdout


def test_a_directory_sealed_under_another_key_is_a_start_up_error(project, capsys):
    assert iam(project, capsys, "user", "create", "dave")[0] == 0
    assert iam(project, capsys, "access-key", "create", "dave")[0] == 0
    (project / ".trellis" / "iam.key").write_text("00" * 32)
    code = main(["check", "--schema", str(project / "schema.graphql")])
    assert code == 2
    assert "does not open" in capsys.readouterr().err
