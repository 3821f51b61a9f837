"""Account operations an app calls with its client id: SignUp, ConfirmSignUp, ResendConfirmationCode,
ForgotPassword, ConfirmForgotPassword, ChangePassword.

User existence is not revealed where Cognito's PreventUserExistenceErrors hides it: ForgotPassword
and ResendConfirmationCode for an unknown user answer as if a code was sent, and confirming a code
for an unknown user is a ``CodeMismatchException``. (SignUp necessarily says a name is taken.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from auth.userpool.errors import CognitoError, code_mismatch, invalid_parameter, not_authorized
from auth.userpool.params import Params
from auth.userpool.pool import RESET_CODE_SECONDS, SIGN_UP_CODE_SECONDS, UserPool, mask
from auth.userpool.store import DuplicateError, UserRecord

STANDARD_ATTRIBUTES = frozenset({
    "address", "birthdate", "email", "family_name", "gender", "given_name", "locale", "middle_name", "name",
    "nickname", "phone_number", "picture", "preferred_username", "profile", "zoneinfo", "updated_at", "website",
})
VERIFIED_FLAGS = frozenset({"email_verified", "phone_number_verified"})


def check_client(pool: UserPool, params: Params) -> None:
    client_id = params.required("ClientId", max_length=128)
    if client_id != pool.config.client_id:
        raise CognitoError("ResourceNotFoundException", f"User pool client {client_id} does not exist.")


def check_attributes(attributes: dict[str, str], *, admin: bool) -> None:
    for name in attributes:
        allowed = name in STANDARD_ATTRIBUTES or name.startswith("custom:") or (admin and name in VERIFIED_FLAGS)
        if not allowed:
            raise invalid_parameter(f"Attribute does not exist in the schema or cannot be written: {name}")


async def check_password(pool: UserPool, password: str) -> str:
    problem = pool.policy.problem(password)
    if problem is not None:
        raise CognitoError("InvalidPasswordException", problem)
    return await pool.hasher.hash(password)


def simulated_delivery(username: str) -> dict[str, Any]:
    """What an unknown user's ForgotPassword answers: a plausible, fixed-shape delivery."""
    return {"CodeDeliveryDetails": {"Destination": mask(f"{username[:1] or 'x'}@x"), "DeliveryMedium": "EMAIL",
                                    "AttributeName": "email"}}


async def sign_up(pool: UserPool, params: Params) -> dict[str, Any]:
    check_client(pool, params)
    username = params.required("Username", max_length=128, no_space=True)
    password = params.required("Password", max_length=256, no_space=True)
    attributes = params.attributes("UserAttributes")
    check_attributes(attributes, admin=False)
    password_hash = await check_password(pool, password)
    user = pool.new_user(username, attributes, "UNCONFIRMED", password_hash)
    try:
        await pool.store.create_user(user)
    except DuplicateError as exc:
        raise CognitoError("UsernameExistsException", "User already exists") from exc
    details = await pool.send_code(user, "SignUp", "confirm", SIGN_UP_CODE_SECONDS)
    answer: dict[str, Any] = {"UserConfirmed": False, "UserSub": user.sub}
    if details:
        answer["CodeDeliveryDetails"] = details
    return answer


async def _user_for_code(pool: UserPool, params: Params) -> UserRecord:
    check_client(pool, params)
    user = await pool.store.user(params.required("Username", max_length=128))
    code = params.required("ConfirmationCode", max_length=2048, no_space=True)
    if user is None:
        raise code_mismatch()
    params.raw["ConfirmationCode"] = code
    return user


def verified_after_confirm(pool: UserPool, user: UserRecord) -> dict[str, str]:
    attributes = dict(user.attributes)
    for name in pool.config.auto_verified_attributes:
        if attributes.get(name):
            attributes[f"{name}_verified"] = "true"
    return attributes


async def confirm_sign_up(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user_for_code(pool, params)
    if user.status != "UNCONFIRMED":
        raise not_authorized(f"User cannot be confirmed. Current status is {user.status}")
    await pool.check_code(user, "confirm", params.raw["ConfirmationCode"])
    confirmed = replace(user, status="CONFIRMED", attributes=verified_after_confirm(pool, user))
    await pool.store.save_user(confirmed, pool.now())
    return {}


async def resend_confirmation_code(pool: UserPool, params: Params) -> dict[str, Any]:
    check_client(pool, params)
    username = params.required("Username", max_length=128)
    user = await pool.store.user(username)
    if user is None:
        return simulated_delivery(username)
    if user.status != "UNCONFIRMED":
        raise invalid_parameter("User is already confirmed.")
    details = await pool.send_code(user, "ResendConfirmationCode", "confirm", SIGN_UP_CODE_SECONDS)
    return {"CodeDeliveryDetails": details} if details else {}


async def forgot_password(pool: UserPool, params: Params) -> dict[str, Any]:
    check_client(pool, params)
    username = params.required("Username", max_length=128)
    user = await pool.store.user(username)
    if user is None:
        return simulated_delivery(username)
    if not user.enabled:
        raise not_authorized("User is disabled.")
    if user.status == "FORCE_CHANGE_PASSWORD":
        raise not_authorized("User password cannot be reset in the current state.")
    where = pool.delivery(user)
    if where is None or user.attributes.get(f"{where[2]}_verified") != "true":
        raise invalid_parameter(
            "Cannot reset password for the user as there is no registered/verified email or phone_number")
    details = await pool.send_code(user, "ForgotPassword", "reset", RESET_CODE_SECONDS)
    return {"CodeDeliveryDetails": details}


async def confirm_forgot_password(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user_for_code(pool, params)
    password = params.required("Password", max_length=256, no_space=True)
    problem = pool.policy.problem(password)  # before the code is spent on it
    if problem is not None:
        raise CognitoError("InvalidPasswordException", problem)
    await pool.check_code(user, "reset", params.raw["ConfirmationCode"])
    password_hash = await pool.hasher.hash(password)
    status = "CONFIRMED" if user.status in {"FORCE_CHANGE_PASSWORD", "RESET_REQUIRED"} else user.status
    await pool.store.save_user(replace(user, password_hash=password_hash, status=status), pool.now())
    await pool.store.clear_failures(pool.login_key(user.username))
    return {}


async def change_password(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await pool.access_token_user(params.required("AccessToken", max_length=16384))
    previous = params.required("PreviousPassword", max_length=256)
    proposed = params.required("ProposedPassword", max_length=256, no_space=True)
    key = pool.login_key(user.username)
    await pool.attempt(key)
    if not await pool.hasher.verify(previous, user.password_hash):
        raise not_authorized()
    await pool.succeeded(key)
    password_hash = await check_password(pool, proposed)
    await pool.store.save_user(replace(user, password_hash=password_hash), pool.now())
    return {}
