"""Admin calls of the built-in user pool: SigV4-signed (service cognito-idp) and IAM-authorised,
driven by botocore; the ``trellis user-pool`` command; keys that survive a restart."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from app.cli import main
from auth.iam import parse_policy
from auth.iam_authorizer import IamPrincipal, StaticCredentials, administrator
from auth.sigv4 import Credential
from auth.userpool.admin import AdminGate
from tests.server_process import free_port, trellis_server
from tests.userpool_support import (
    ADMIN,
    BOTOCORE,
    CLIENT_ID,
    PASSWORD,
    POOL_ID,
    REGION,
    SCHEMA,
    config,
    password_auth,
    served_pool,
    sign_up_and_confirm,
)

READER = ("AKIATRELLISPOOLREADER", "pool-reader-secret-pool-reader-secret-00")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with served_pool(tmp_path_factory.mktemp("admin")) as served:
        yield served


@pytest.fixture(scope="module")
def admin(pool):
    return pool.client(signed_with=ADMIN)


def code_of(caught) -> str:
    return caught.value.response["Error"]["Code"]


def name() -> str:
    return f"adm-{uuid.uuid4().hex[:10]}"


def test_an_unsigned_or_badly_signed_admin_call_is_refused(pool):
    with pytest.raises(ClientError) as caught:
        pool.client().admin_get_user(UserPoolId=POOL_ID, Username="anyone")
    assert code_of(caught) == "MissingAuthenticationTokenException"
    with pytest.raises(ClientError) as caught:
        pool.client(signed_with=(ADMIN[0], "not-the-secret")).admin_get_user(UserPoolId=POOL_ID, Username="anyone")
    assert code_of(caught) == "InvalidSignatureException"
    with pytest.raises(ClientError) as caught:
        pool.client(signed_with=("AKIAUNKNOWNKEY000000", "x" * 40)).admin_get_user(UserPoolId=POOL_ID,
                                                                                   Username="anyone")
    assert code_of(caught) == "UnrecognizedClientException"
    with pytest.raises(ClientError) as caught:
        pool.client(signed_with=ADMIN, region="us-west-2").admin_get_user(UserPoolId=POOL_ID, Username="anyone")
    assert code_of(caught) == "InvalidSignatureException"


def test_iam_policies_decide_which_admin_calls_a_key_may_make(pool, admin):
    reader_policy = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cognito-idp:AdminGet*", "Resource": f"arn:aws:cognito-idp:*:*:userpool/{POOL_ID}"},
    ]}, name="reader")
    principal = IamPrincipal("reader", "AIDAREADER", "arn:aws:iam::123456789012:user/reader", "123456789012",
                             (reader_policy,))
    service = next(s for s in pool.runtime.json_services if s.target_prefix == "AWSCognitoIdentityProviderService")
    original = service.gate
    service.gate = AdminGate(StaticCredentials({
        ADMIN[0]: administrator(ADMIN[0], ADMIN[1], "123456789012"),
        READER[0]: Credential(READER[0], READER[1], None, principal),
    }), REGION)
    try:
        username = name()
        admin.admin_create_user(UserPoolId=POOL_ID, Username=username, MessageAction="SUPPRESS")
        reader = pool.client(signed_with=READER)
        assert reader.admin_get_user(UserPoolId=POOL_ID, Username=username)["Username"] == username
        with pytest.raises(ClientError) as caught:
            reader.admin_delete_user(UserPoolId=POOL_ID, Username=username)
        assert code_of(caught) == "AccessDeniedException"
        assert "cognito-idp:AdminDeleteUser" in caught.value.response["Error"]["Message"]
    finally:
        service.gate = original


def test_the_administrator_manages_users_and_groups(pool, admin):
    idp = pool.client()
    username = name()
    created = admin.admin_create_user(UserPoolId=POOL_ID, Username=username, TemporaryPassword="Temp-Passw0rd!",
                                      UserAttributes=[{"Name": "email", "Value": "carol@example.com"},
                                                      {"Name": "email_verified", "Value": "true"}])["User"]
    assert created["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert created["Enabled"] is True
    assert {a["Name"] for a in created["Attributes"]} == {"sub", "email", "email_verified"}
    assert created["UserCreateDate"].year >= 2024  # botocore parsed the timestamp
    invitation = pool.sender.messages[-1]
    assert (invitation.purpose, invitation.username, invitation.code) == ("AdminCreateUser", username,
                                                                          "Temp-Passw0rd!")
    with pytest.raises(ClientError) as caught:
        admin.admin_create_user(UserPoolId=POOL_ID, Username=username, MessageAction="SUPPRESS")
    assert code_of(caught) == "UsernameExistsException"

    group = f"staff-{uuid.uuid4().hex[:6]}"
    made = admin.create_group(UserPoolId=POOL_ID, GroupName=group, Description="Staff", Precedence=1)["Group"]
    assert (made["GroupName"], made["UserPoolId"], made["Precedence"]) == (group, POOL_ID, 1)
    with pytest.raises(ClientError) as caught:
        admin.create_group(UserPoolId=POOL_ID, GroupName=group)
    assert code_of(caught) == "GroupExistsException"
    with pytest.raises(ClientError) as caught:
        admin.admin_add_user_to_group(UserPoolId=POOL_ID, Username=username, GroupName="no-such-group")
    assert code_of(caught) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        admin.admin_add_user_to_group(UserPoolId=POOL_ID, Username=name(), GroupName=group)
    assert code_of(caught) == "UserNotFoundException"
    admin.admin_add_user_to_group(UserPoolId=POOL_ID, Username=username, GroupName=group)
    assert [u["Username"] for u in admin.list_users_in_group(UserPoolId=POOL_ID, GroupName=group)["Users"]] == [
        username]
    assert [g["GroupName"] for g in admin.admin_list_groups_for_user(UserPoolId=POOL_ID, Username=username)[
        "Groups"]] == [group]

    # First sign-in: the temporary password asks for a new one.
    challenge = password_auth(idp, username, "Temp-Passw0rd!")
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert json.loads(challenge["ChallengeParameters"]["userAttributes"])["email"] == "carol@example.com"
    result = idp.respond_to_auth_challenge(
        ClientId=CLIENT_ID, ChallengeName="NEW_PASSWORD_REQUIRED", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": PASSWORD})["AuthenticationResult"]
    assert jwt.decode(result["IdToken"], options={"verify_signature": False})["cognito:groups"] == [group]
    assert admin.admin_get_user(UserPoolId=POOL_ID, Username=username)["UserStatus"] == "CONFIRMED"

    admin.admin_remove_user_from_group(UserPoolId=POOL_ID, Username=username, GroupName=group)
    assert admin.list_users_in_group(UserPoolId=POOL_ID, GroupName=group)["Users"] == []
    admin.admin_set_user_password(UserPoolId=POOL_ID, Username=username, Password="An0ther-Pass!", Permanent=True)
    assert "AuthenticationResult" in password_auth(idp, username, "An0ther-Pass!")
    admin.admin_delete_user(UserPoolId=POOL_ID, Username=username)
    with pytest.raises(ClientError) as caught:
        admin.admin_get_user(UserPoolId=POOL_ID, Username=username)
    assert code_of(caught) == "UserNotFoundException"
    with pytest.raises(ClientError) as caught:
        idp.get_user(AccessToken=result["AccessToken"])
    assert code_of(caught) == "NotAuthorizedException"  # the deleted user's sessions went with it


def test_admin_confirm_sign_up_and_a_wrong_pool_id(pool, admin):
    idp = pool.client()
    username = name()
    idp.sign_up(ClientId=CLIENT_ID, Username=username, Password=PASSWORD)
    admin.admin_confirm_sign_up(UserPoolId=POOL_ID, Username=username)
    assert "AuthenticationResult" in password_auth(idp, username)
    with pytest.raises(ClientError) as caught:
        admin.admin_get_user(UserPoolId="eu-west-1_Other", Username=username)
    assert code_of(caught) == "ResourceNotFoundException"
    users = admin.list_users(UserPoolId=POOL_ID)["Users"]
    assert username in {u["Username"] for u in users}
    admin.admin_disable_user(UserPoolId=POOL_ID, Username=username)
    with pytest.raises(ClientError) as caught:
        password_auth(idp, username)
    assert caught.value.response["Error"]["Message"] == "User is disabled."
    admin.admin_enable_user(UserPoolId=POOL_ID, Username=username)
    assert "AuthenticationResult" in password_auth(idp, username)


def test_tokens_survive_a_restart_and_the_signing_key_is_sealed_at_rest(tmp_path):
    folder = tmp_path / "restart"
    port = free_port()
    with served_pool(folder, port=port) as first:
        idp = first.client()
        sign_up_and_confirm(first, idp, "persistent")
        token = password_auth(idp, "persistent")["AuthenticationResult"]["AccessToken"]
        kid = first.runtime.user_pool.keys.kid
    with served_pool(folder, port=port) as second:  # same database and issuer, fresh process state
        assert second.runtime.user_pool.keys.kid == kid
        assert second.client().get_user(AccessToken=token)["Username"] == "persistent"
        stored = second.runtime.database.sync_engine.connect()
        try:
            sealed = stored.exec_driver_sql("SELECT private_key FROM trellis_userpool_keys").scalar()
        finally:
            stored.close()
        assert "PRIVATE KEY" not in sealed


def test_the_cli_creates_users_puts_them_in_groups_and_lists_them(tmp_path, capsys):
    (tmp_path / "schema.graphql").write_text("type Query { a: String }")
    (tmp_path / "trellis.toml").write_text(config())
    schema = ["--schema", str(tmp_path / "schema.graphql")]
    assert main(["user-pool", "create-user", "dave", "--group", "staff", "--email", "dave@example.com", *schema]) == 0
    temporary = capsys.readouterr().out.strip()
    assert len(temporary) >= 16
    assert main(["user-pool", "create-user", "erin", "--password", "Erin-Passw0rd!", *schema]) == 0
    assert capsys.readouterr().out == ""
    assert main(["user-pool", "add-to-group", "erin", "drivers", *schema]) == 0
    assert main(["user-pool", "create-user", "erin", *schema]) == 1
    assert main(["user-pool", "add-to-group", "nobody", "drivers", *schema]) == 1
    capsys.readouterr()
    assert main(["user-pool", "list-users", *schema]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [row[:3] for row in rows] == [["dave", "FORCE_CHANGE_PASSWORD", "staff"], ["erin", "CONFIRMED", "drivers"]]


def test_with_aws_iam_among_the_modes_admin_calls_use_the_iam_credential_lookup(tmp_path):
    with served_pool(tmp_path / "iam", with_iam=True) as pool:
        iam = next(a for a in pool.runtime.authenticator.authorizers if a.mode.value == "AWS_IAM")
        assert not isinstance(iam.lookup, StaticCredentials)  # the IAM directory's lookup
        admin = pool.client(signed_with=ADMIN)
        made = admin.admin_create_user(UserPoolId=POOL_ID, Username="via-iam", MessageAction="SUPPRESS")
        assert made["User"]["UserStatus"] == "FORCE_CHANGE_PASSWORD"
        with pytest.raises(ClientError) as caught:
            pool.client(signed_with=("AKIAUNKNOWNKEY000000", "x" * 40)).admin_get_user(UserPoolId=POOL_ID,
                                                                                       Username="via-iam")
        assert code_of(caught) == "UnrecognizedClientException"
        # Temporary credentials from Trellis's STS sign admin calls too.
        sts = BOTOCORE.create_client("sts", endpoint_url=pool.base, region_name=REGION,
                                      aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1])
        temporary = sts.get_session_token()["Credentials"]
        session_admin = BOTOCORE.create_client(
            "cognito-idp", endpoint_url=pool.base, region_name=REGION,
            aws_access_key_id=temporary["AccessKeyId"], aws_secret_access_key=temporary["SecretAccessKey"],
            aws_session_token=temporary["SessionToken"])
        assert session_admin.admin_get_user(UserPoolId=POOL_ID, Username="via-iam")["Username"] == "via-iam"


def test_trellis_serve_writes_codes_to_its_log_by_default(tmp_path):
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "trellis.toml").write_text(config())
    with trellis_server(tmp_path / ".trellis", schema=tmp_path / "schema.graphql") as (base, process):
        idp = BOTOCORE.create_client("cognito-idp", endpoint_url=base, region_name=REGION,
                                     config=Config(signature_version=UNSIGNED))
        idp.sign_up(ClientId=CLIENT_ID, Username="logged", Password=PASSWORD,
                    UserAttributes=[{"Name": "email", "Value": "logged@example.com"}])
        line = ""
        while "code for logged" not in line:
            line = process.stdout.readline().decode()
            assert line, "the server exited without logging the code"
        idp.confirm_sign_up(ClientId=CLIENT_ID, Username="logged", ConfirmationCode=line.strip().rsplit(" ", 1)[1])
        assert "AuthenticationResult" in password_auth(idp, "logged")
