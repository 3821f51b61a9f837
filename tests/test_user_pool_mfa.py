"""TOTP MFA in the built-in user pool: set-up with an access token (OPTIONAL pools) or during
sign-in (MFA_SETUP on ON pools), then SOFTWARE_TOKEN_MFA challenges; codes computed here."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.userpool_support import CLIENT_ID, PASSWORD, password_auth, served_pool, sign_up_and_confirm, totp


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with served_pool(tmp_path_factory.mktemp("mfa"), mfa="OPTIONAL") as served:
        yield served


@pytest.fixture(scope="module")
def required_pool(tmp_path_factory):
    with served_pool(tmp_path_factory.mktemp("mfa-on"), mfa="ON") as served:
        yield served


def code_of(caught) -> str:
    return caught.value.response["Error"]["Code"]


def name() -> str:
    return f"mfa-{uuid.uuid4().hex[:10]}"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_user_sets_up_totp_and_then_signs_in_with_a_code(pool):
    idp = pool.client()
    username = name()
    sign_up_and_confirm(pool, idp, username)
    access = password_auth(idp, username)["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as caught:
        idp.verify_software_token(AccessToken=access, UserCode="123456")
    assert code_of(caught) == "SoftwareTokenMFANotFoundException"

    secret = idp.associate_software_token(AccessToken=access)["SecretCode"]
    assert len(secret) >= 16 and secret.isalnum()
    with pytest.raises(ClientError) as caught:
        idp.verify_software_token(AccessToken=access, UserCode=wrong(totp(secret)))
    assert code_of(caught) == "EnableSoftwareTokenMFAException"
    assert idp.verify_software_token(AccessToken=access, UserCode=totp(secret),
                                     FriendlyDeviceName="phone")["Status"] == "SUCCESS"
    user = idp.get_user(AccessToken=access)
    assert user["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert user["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"

    challenge = password_auth(idp, username)
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert "AuthenticationResult" not in challenge
    session = challenge["Session"]
    with pytest.raises(ClientError) as caught:
        idp.respond_to_auth_challenge(ClientId=CLIENT_ID, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
                                      ChallengeResponses={"USERNAME": username,
                                                          "SOFTWARE_TOKEN_MFA_CODE": wrong(totp(secret, step_offset=1))})
    assert code_of(caught) == "CodeMismatchException"
    # The code verified at set-up was used; the next step's code (within the ±1 window) is not.
    result = idp.respond_to_auth_challenge(
        ClientId=CLIENT_ID, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp(secret, step_offset=1)},
    )["AuthenticationResult"]
    assert idp.get_user(AccessToken=result["AccessToken"])["Username"] == username

    # The same code again, in a new sign-in, is refused: a code is accepted once.
    again = password_auth(idp, username)["Session"]
    with pytest.raises(ClientError) as caught:
        idp.respond_to_auth_challenge(ClientId=CLIENT_ID, ChallengeName="SOFTWARE_TOKEN_MFA", Session=again,
                                      ChallengeResponses={"USERNAME": username,
                                                          "SOFTWARE_TOKEN_MFA_CODE": totp(secret, step_offset=1)})
    assert code_of(caught) == "CodeMismatchException"
    # A finished session cannot be replayed.
    with pytest.raises(ClientError) as caught:
        idp.respond_to_auth_challenge(ClientId=CLIENT_ID, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
                                      ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": "000000"})
    assert caught.value.response["Error"]["Message"] == "Invalid session for the user, session is expired."


def test_a_user_may_turn_totp_off_again_in_an_optional_pool(pool):
    idp = pool.client()
    username = name()
    sign_up_and_confirm(pool, idp, username)
    access = password_auth(idp, username)["AuthenticationResult"]["AccessToken"]
    secret = idp.associate_software_token(AccessToken=access)["SecretCode"]
    idp.verify_software_token(AccessToken=access, UserCode=totp(secret))
    assert password_auth(idp, username)["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    idp.set_user_mfa_preference(AccessToken=access, SoftwareTokenMfaSettings={"Enabled": False,
                                                                               "PreferredMfa": False})
    assert "AuthenticationResult" in password_auth(idp, username)


def test_an_mfa_required_pool_makes_a_new_user_set_up_totp_while_signing_in(required_pool):
    pool = required_pool
    idp = pool.client()
    username = name()
    sign_up_and_confirm(pool, idp, username)
    challenge = password_auth(idp, username)
    assert challenge["ChallengeName"] == "MFA_SETUP"
    associated = idp.associate_software_token(Session=challenge["Session"])
    secret = associated["SecretCode"]
    verified = idp.verify_software_token(Session=associated["Session"], UserCode=totp(secret))
    assert verified["Status"] == "SUCCESS"
    result = idp.respond_to_auth_challenge(ClientId=CLIENT_ID, ChallengeName="MFA_SETUP",
                                           Session=verified["Session"],
                                           ChallengeResponses={"USERNAME": username})["AuthenticationResult"]
    access = result["AccessToken"]
    with pytest.raises(ClientError) as caught:
        idp.set_user_mfa_preference(AccessToken=access, SoftwareTokenMfaSettings={"Enabled": False})
    assert code_of(caught) == "InvalidParameterException"

    challenge = password_auth(idp, username, PASSWORD)
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    done = idp.respond_to_auth_challenge(
        ClientId=CLIENT_ID, ChallengeName="SOFTWARE_TOKEN_MFA", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp(secret, step_offset=1)})
    assert "IdToken" in done["AuthenticationResult"]
