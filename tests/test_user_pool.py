"""The built-in user pool through a real botocore ``cognito-idp`` client against a served Trellis:
sign-up and confirmation, password sign-in, refresh, global sign-out, forgot password, tokens."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from botocore.exceptions import ClientError

from tests.userpool_support import (
    CLIENT_ID,
    PASSWORD,
    POOL_ID,
    password_auth,
    served_pool,
    sign_up_and_confirm,
)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with served_pool(tmp_path_factory.mktemp("pool")) as served:
        yield served


@pytest.fixture(scope="module")
def idp(pool):
    return pool.client()


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def name() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def test_sign_up_sends_a_code_and_only_a_confirmed_user_can_sign_in(pool, idp):
    username = name()
    answer = idp.sign_up(ClientId=CLIENT_ID, Username=username, Password=PASSWORD,
                         UserAttributes=[{"Name": "email", "Value": "alice@example.com"}])
    assert answer["UserConfirmed"] is False
    assert uuid.UUID(answer["UserSub"])
    assert answer["CodeDeliveryDetails"] == {"Destination": "a***@e***", "DeliveryMedium": "EMAIL",
                                             "AttributeName": "email"}
    message = pool.sender.messages[-1]
    assert (message.username, message.destination, message.medium) == (username, "alice@example.com", "EMAIL")

    with pytest.raises(ClientError) as caught:
        password_auth(idp, username)
    assert error_code(caught) == ("UserNotConfirmedException", "User is not confirmed.")
    resent = idp.resend_confirmation_code(ClientId=CLIENT_ID, Username=username)
    assert resent["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert [m.purpose for m in pool.sender.messages if m.username == username] == ["SignUp",
                                                                                   "ResendConfirmationCode"]
    code = pool.sender.last(username, "ResendConfirmationCode")
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ClientError) as caught:
        idp.confirm_sign_up(ClientId=CLIENT_ID, Username=username, ConfirmationCode=wrong)
    assert error_code(caught)[0] == "CodeMismatchException"
    idp.confirm_sign_up(ClientId=CLIENT_ID, Username=username, ConfirmationCode=code)
    with pytest.raises(ClientError) as caught:
        idp.confirm_sign_up(ClientId=CLIENT_ID, Username=username, ConfirmationCode=code)
    assert error_code(caught) == ("NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED")

    result = password_auth(idp, username)["AuthenticationResult"]
    assert result["TokenType"] == "Bearer"
    assert result["ExpiresIn"] == 3600
    user = idp.get_user(AccessToken=result["AccessToken"])
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert user["Username"] == username
    assert attributes == {"sub": answer["UserSub"], "email": "alice@example.com", "email_verified": "true"}


def test_tokens_are_shaped_like_cognitos_and_verify_against_the_published_jwks(pool, idp):
    username = name()
    sub = sign_up_and_confirm(pool, idp, username)
    result = password_auth(idp, username)["AuthenticationResult"]
    jwks = httpx.get(f"{pool.base}/{POOL_ID}/.well-known/jwks.json").json()
    assert [k["alg"] for k in jwks["keys"]] == ["RS256"]
    discovery = httpx.get(f"{pool.issuer}/.well-known/openid-configuration").json()
    assert discovery["jwks_uri"] == f"{pool.issuer}/.well-known/jwks.json"
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}

    def check(token: str) -> dict:
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256"
        return jwt.decode(token, keys[header["kid"]].key, algorithms=["RS256"], options={"verify_aud": False},
                          issuer=pool.issuer)

    id_claims, access = check(result["IdToken"]), check(result["AccessToken"])
    now = time.time()
    assert id_claims["token_use"] == "id"
    assert id_claims["aud"] == CLIENT_ID
    assert id_claims["sub"] == sub
    assert id_claims["cognito:username"] == username
    assert id_claims["email"] == f"{username}@example.com"
    assert id_claims["email_verified"] is True
    assert id_claims["exp"] - id_claims["iat"] == 3600
    assert abs(id_claims["auth_time"] - now) < 60
    assert access["token_use"] == "access"
    assert access["client_id"] == CLIENT_ID
    assert access["scope"] == "aws.cognito.signin.user.admin"
    assert access["username"] == username
    assert access["origin_jti"] == id_claims["origin_jti"]
    assert access["jti"] != id_claims["jti"]
    assert "cognito:groups" not in access  # no groups yet
    assert result["RefreshToken"].count(".") == 0  # opaque


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    with pytest.raises(ClientError) as wrong_password:
        password_auth(idp, username, "Wr0ng-Password!")
    with pytest.raises(ClientError) as unknown_user:
        password_auth(idp, name(), PASSWORD)
    assert error_code(wrong_password) == error_code(unknown_user) == (
        "NotAuthorizedException", "Incorrect username or password.")


def test_repeated_wrong_passwords_lock_the_username_out_even_for_the_right_one(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    for _ in range(5):
        with pytest.raises(ClientError) as caught:
            password_auth(idp, username, "Wr0ng-Password!")
        assert error_code(caught)[1] == "Incorrect username or password."
    with pytest.raises(ClientError) as caught:
        password_auth(idp, username, PASSWORD)
    assert error_code(caught) == ("NotAuthorizedException", "Password attempts exceeded")


def test_sign_up_enforces_the_password_policy_unique_names_and_the_client_id(pool, idp):
    username = name()
    for weak, reason in [("Sh0rt!", "Password not long enough"), ("alllower1!", "uppercase"),
                         ("NoDigits!!", "numeric"), ("NoSymbols11", "symbol")]:
        with pytest.raises(ClientError) as caught:
            idp.sign_up(ClientId=CLIENT_ID, Username=username, Password=weak)
        code, message = error_code(caught)
        assert code == "InvalidPasswordException"
        assert reason in message
    idp.sign_up(ClientId=CLIENT_ID, Username=username, Password=PASSWORD)
    with pytest.raises(ClientError) as caught:
        idp.sign_up(ClientId=CLIENT_ID, Username=username.upper(), Password=PASSWORD)
    assert error_code(caught) == ("UsernameExistsException", "User already exists")
    with pytest.raises(ClientError) as caught:
        idp.sign_up(ClientId="someotherclient", Username=name(), Password=PASSWORD)
    assert error_code(caught)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        idp.sign_up(ClientId=CLIENT_ID, Username=name(), Password=PASSWORD,
                    UserAttributes=[{"Name": "email_verified", "Value": "true"}])
    assert error_code(caught)[0] == "InvalidParameterException"


def test_refresh_token_auth_issues_new_tokens_in_the_same_session(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    first = password_auth(idp, username)["AuthenticationResult"]
    refreshed = idp.initiate_auth(ClientId=CLIENT_ID, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]})["AuthenticationResult"]
    assert "RefreshToken" not in refreshed
    old, new = (jwt.decode(t, options={"verify_signature": False}) for t in (first["AccessToken"],
                                                                              refreshed["AccessToken"]))
    assert new["origin_jti"] == old["origin_jti"] and new["jti"] != old["jti"]
    assert idp.get_user(AccessToken=refreshed["AccessToken"])["Username"] == username
    with pytest.raises(ClientError) as caught:
        idp.initiate_auth(ClientId=CLIENT_ID, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": first["RefreshToken"] + "x"})
    assert error_code(caught) == ("NotAuthorizedException", "Invalid Refresh Token")


def test_global_sign_out_revokes_refresh_and_access_tokens(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    one = password_auth(idp, username)["AuthenticationResult"]
    two = password_auth(idp, username)["AuthenticationResult"]
    idp.global_sign_out(AccessToken=one["AccessToken"])
    for tokens in (one, two):
        with pytest.raises(ClientError) as caught:
            idp.get_user(AccessToken=tokens["AccessToken"])
        assert error_code(caught) == ("NotAuthorizedException", "Access Token has been revoked")
        with pytest.raises(ClientError) as caught:
            idp.initiate_auth(ClientId=CLIENT_ID, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
        assert error_code(caught) == ("NotAuthorizedException", "Refresh Token has been revoked")
    fresh = password_auth(idp, username)["AuthenticationResult"]
    assert idp.get_user(AccessToken=fresh["AccessToken"])["Username"] == username


def test_an_id_token_is_not_an_access_token_for_the_pool_api(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    result = password_auth(idp, username)["AuthenticationResult"]
    with pytest.raises(ClientError) as caught:
        idp.get_user(AccessToken=result["IdToken"])
    assert error_code(caught) == ("NotAuthorizedException", "Invalid Access Token")


def test_forgot_password_resets_with_the_delivered_code(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username, email="bob@example.org")
    answer = idp.forgot_password(ClientId=CLIENT_ID, Username=username)
    assert answer["CodeDeliveryDetails"] == {"Destination": "b***@e***", "DeliveryMedium": "EMAIL",
                                             "AttributeName": "email"}
    code = pool.sender.last(username, "ForgotPassword")
    with pytest.raises(ClientError) as caught:
        idp.confirm_forgot_password(ClientId=CLIENT_ID, Username=username, ConfirmationCode=code, Password="weak")
    assert error_code(caught)[0] == "InvalidPasswordException"
    new_password = "N3w-Password!"
    idp.confirm_forgot_password(ClientId=CLIENT_ID, Username=username, ConfirmationCode=code, Password=new_password)
    with pytest.raises(ClientError) as caught:  # a code works once
        idp.confirm_forgot_password(ClientId=CLIENT_ID, Username=username, ConfirmationCode=code,
                                    Password="Other-Passw0rd!")
    assert error_code(caught)[0] == "ExpiredCodeException"
    with pytest.raises(ClientError):
        password_auth(idp, username, PASSWORD)
    assert "AuthenticationResult" in password_auth(idp, username, new_password)


def test_forgot_password_guesses_are_limited_and_unknown_users_are_not_revealed(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    idp.forgot_password(ClientId=CLIENT_ID, Username=username)
    code = pool.sender.last(username, "ForgotPassword")
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != code]
    codes = []
    for guess in wrong[:5]:
        with pytest.raises(ClientError) as caught:
            idp.confirm_forgot_password(ClientId=CLIENT_ID, Username=username, ConfirmationCode=guess,
                                        Password="N3w-Password!")
        codes.append(error_code(caught)[0])
    assert codes == ["CodeMismatchException"] * 4 + ["LimitExceededException"]
    with pytest.raises(ClientError) as caught:  # even the right code, once the limit is hit
        idp.confirm_forgot_password(ClientId=CLIENT_ID, Username=username, ConfirmationCode=code,
                                    Password="N3w-Password!")
    assert error_code(caught)[0] == "LimitExceededException"

    unknown = idp.forgot_password(ClientId=CLIENT_ID, Username=name())
    assert set(unknown["CodeDeliveryDetails"]) == {"Destination", "DeliveryMedium", "AttributeName"}
    with pytest.raises(ClientError) as caught:
        idp.confirm_forgot_password(ClientId=CLIENT_ID, Username=name(), ConfirmationCode="123456",
                                    Password="N3w-Password!")
    assert error_code(caught)[0] == "CodeMismatchException"


def test_change_password_needs_the_previous_one(pool, idp):
    username = name()
    sign_up_and_confirm(pool, idp, username)
    token = password_auth(idp, username)["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as caught:
        idp.change_password(AccessToken=token, PreviousPassword="Wr0ng-Password!", ProposedPassword="N3w-Pass!")
    assert error_code(caught)[0] == "NotAuthorizedException"
    idp.change_password(AccessToken=token, PreviousPassword=PASSWORD, ProposedPassword="N3w-Passw0rd!")
    assert "AuthenticationResult" in password_auth(idp, username, "N3w-Passw0rd!")


def test_a_malformed_request_is_an_invalid_parameter_not_a_server_error(pool):
    response = httpx.post(pool.base, content=b'{"ClientId": 5, "Username": ["x"]}', headers={
        "x-amz-target": "AWSCognitoIdentityProviderService.SignUp",
        "content-type": "application/x-amz-json-1.1"})
    assert response.status_code == 400
    assert response.json()["__type"] == "InvalidParameterException"
    response = httpx.post(pool.base, content=b"not json", headers={
        "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth"})
    assert response.json()["__type"] == "InvalidParameterException"


def test_parallel_guesses_cannot_get_more_than_their_share_of_attempts(pool, idp):
    from concurrent.futures import ThreadPoolExecutor

    username = name()
    sign_up_and_confirm(pool, idp, username)
    idp.forgot_password(ClientId=CLIENT_ID, Username=username)
    code = pool.sender.last(username, "ForgotPassword")
    guesses = [f"{n:06d}" for n in range(20) if f"{n:06d}" != code][:16]

    def confirm(guess: str) -> str:
        try:
            pool.client().confirm_forgot_password(ClientId=CLIENT_ID, Username=username, ConfirmationCode=guess,
                                                  Password="N3w-Password!")
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        return "accepted"

    def sign_in(_: int) -> str:
        try:
            password_auth(pool.client(), username, "Wr0ng-Password!")
        except ClientError as exc:
            return exc.response["Error"]["Message"]
        return "signed in"

    with ThreadPoolExecutor(16) as threads:
        codes = sorted(threads.map(confirm, guesses))
        sign_ins = list(threads.map(sign_in, range(16)))
    assert codes.count("CodeMismatchException") == 4
    assert codes.count("LimitExceededException") == 12
    assert sign_ins.count("Incorrect username or password.") == 5
    assert sign_ins.count("Password attempts exceeded") == 11


def test_forgot_password_needs_a_verified_address(pool, idp):
    username = name()
    idp.sign_up(ClientId=CLIENT_ID, Username=username, Password=PASSWORD)
    idp.confirm_sign_up(ClientId=CLIENT_ID, Username=username, ConfirmationCode=pool.sender.last(username, "SignUp"))
    with pytest.raises(ClientError) as caught:
        idp.forgot_password(ClientId=CLIENT_ID, Username=username)
    assert error_code(caught)[0] == "InvalidParameterException"
