"""Signing in and what a signed-in user does: InitiateAuth (USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH),
RespondToAuthChallenge (NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, MFA_SETUP), TOTP set-up
(AssociateSoftwareToken, VerifySoftwareToken, SetUserMFAPreference), GetUser, GlobalSignOut.

A wrong password and an unknown user get the same ``NotAuthorizedException`` after the same work
(an unknown user's attempt is checked against a dummy hash). After ``MAX_LOGIN_FAILURES`` wrong
passwords or MFA codes in a row a username is locked out for a while (``Password attempts
exceeded``), known user or not.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from auth import totp
from auth.userpool.accounts import check_client, check_password
from auth.userpool.errors import (
    INVALID_SESSION,
    CognitoError,
    invalid_parameter,
    not_authorized,
)
from auth.userpool.params import Params
from auth.userpool.pool import MAX_CHALLENGE_ATTEMPTS, UserPool
from auth.userpool.store import UserRecord, username_key

_REFRESH_FLOWS = {"REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"}


def _challenge(name: str, session: str, parameters: dict[str, str]) -> dict[str, Any]:
    return {"ChallengeName": name, "Session": session, "ChallengeParameters": parameters}


def _result(tokens: dict[str, Any]) -> dict[str, Any]:
    return {"ChallengeParameters": {}, "AuthenticationResult": tokens}


async def _second_factor(pool: UserPool, user: UserRecord) -> dict[str, Any]:
    """After the password (and any new password): MFA if the pool and the user call for it, else tokens."""
    if pool.config.mfa != "OFF" and user.mfa_enabled:
        session = await pool.new_challenge(user, "SOFTWARE_TOKEN_MFA")
        return _challenge("SOFTWARE_TOKEN_MFA", session, {"USER_ID_FOR_SRP": user.username})
    if pool.config.mfa == "ON":
        session = await pool.new_challenge(user, "MFA_SETUP")
        return _challenge("MFA_SETUP", session, {"MFAS_CAN_SETUP": '["SOFTWARE_TOKEN_MFA"]'})
    return _result(await pool.sign_in(user))


async def initiate_auth(pool: UserPool, params: Params) -> dict[str, Any]:
    check_client(pool, params)
    flow = params.required("AuthFlow", max_length=64)
    auth = params.string_map("AuthParameters")
    if flow in _REFRESH_FLOWS:
        refresh = auth.get("REFRESH_TOKEN")
        if not refresh:
            raise invalid_parameter("Missing required parameter REFRESH_TOKEN")
        return _result(await pool.refresh(refresh))
    if flow != "USER_PASSWORD_AUTH":
        raise invalid_parameter(f"{flow} flow not enabled for this client")
    username, password = auth.get("USERNAME"), auth.get("PASSWORD")
    if not username:
        raise invalid_parameter("Missing required parameter USERNAME")
    if not password:
        raise invalid_parameter("Missing required parameter PASSWORD")
    key = pool.login_key(username)
    await pool.attempt(key)
    user = await pool.store.user(username)
    if not await pool.hasher.verify(password, user.password_hash if user else None) or user is None:
        raise not_authorized()
    await pool.succeeded(key)
    if not user.enabled:
        raise not_authorized("User is disabled.")
    if user.status == "UNCONFIRMED":
        raise CognitoError("UserNotConfirmedException", "User is not confirmed.")
    if user.status == "FORCE_CHANGE_PASSWORD":
        session = await pool.new_challenge(user, "NEW_PASSWORD_REQUIRED")
        visible = {k: v for k, v in user.attributes.items() if k != "sub"}
        return _challenge("NEW_PASSWORD_REQUIRED", session, {
            "USER_ID_FOR_SRP": user.username, "requiredAttributes": "[]", "userAttributes": json.dumps(visible),
        })
    return await _second_factor(pool, user)


async def respond_to_auth_challenge(pool: UserPool, params: Params) -> dict[str, Any]:
    check_client(pool, params)
    name = params.required("ChallengeName", max_length=64)
    session = params.string("Session", min_length=20, max_length=4096)
    responses = params.string_map("ChallengeResponses")
    if name not in {"SOFTWARE_TOKEN_MFA", "NEW_PASSWORD_REQUIRED", "MFA_SETUP"}:
        raise invalid_parameter(f"Challenge {name} is not supported.")
    pending, user = await pool.challenge(session, name)
    username = responses.get("USERNAME")
    if not username:
        raise invalid_parameter("Missing required parameter USERNAME")
    if username_key(username) != username_key(user.username) and username != user.sub:
        raise not_authorized(INVALID_SESSION)
    if name == "NEW_PASSWORD_REQUIRED":
        new_password = responses.get("NEW_PASSWORD")
        if not new_password:
            raise invalid_parameter("Missing required parameter NEW_PASSWORD")
        password_hash = await check_password(pool, new_password)
        user = await pool.store.save_user(replace(user, password_hash=password_hash, status="CONFIRMED"), pool.now())
        await pool.end_challenge(pending)
        return await _second_factor(pool, user)
    if name == "MFA_SETUP":
        if not pending.data.get("verified"):
            raise invalid_parameter("The software token has not been verified for this session.")
        await pool.end_challenge(pending)
        return _result(await pool.sign_in(user))
    code = responses.get("SOFTWARE_TOKEN_MFA_CODE")
    if not code:
        raise invalid_parameter("Missing required parameter SOFTWARE_TOKEN_MFA_CODE")
    key = pool.login_key(user.username)
    await pool.attempt(key)
    secret = pool.sealer.open(user.mfa_secret, user.sub).decode() if user.mfa_secret else None
    step = totp.matching_step(secret, code, pool.clock(), user.totp_last_step) if secret else None
    if step is None:
        attempts = pending.attempts + 1
        if attempts >= MAX_CHALLENGE_ATTEMPTS:
            await pool.end_challenge(pending)
        else:
            await pool.store.update_challenge(pending.digest, attempts=attempts)
        raise CognitoError("CodeMismatchException", "Invalid code received for user")
    await pool.succeeded(key)
    user = await pool.store.save_user(replace(user, totp_last_step=step), pool.now())
    await pool.end_challenge(pending)
    return _result(await pool.sign_in(user))


# ---------------------------------------------------------------------------------------- TOTP set-up


async def associate_software_token(pool: UserPool, params: Params) -> dict[str, Any]:
    access_token = params.string("AccessToken", max_length=16384)
    session = params.string("Session", min_length=20, max_length=4096)
    secret = totp.new_secret()
    if access_token:
        user = await pool.access_token_user(access_token)
        sealed = pool.sealer.seal(secret.encode(), user.sub)
        await pool.store.save_user(replace(user, mfa_pending=sealed), pool.now())
        return {"SecretCode": secret}
    if not session:
        raise invalid_parameter("AccessToken or Session is required.")
    pending, user = await pool.challenge(session, "MFA_SETUP")
    await pool.store.update_challenge(pending.digest, data={"secret": pool.sealer.seal(secret.encode(), user.sub)})
    return {"SecretCode": secret, "Session": session}


async def verify_software_token(pool: UserPool, params: Params) -> dict[str, Any]:
    access_token = params.string("AccessToken", max_length=16384)
    session = params.string("Session", min_length=20, max_length=4096)
    code = params.required("UserCode", max_length=6, min_length=6)
    if access_token:
        user = await pool.access_token_user(access_token)
        if user.mfa_pending is None:
            raise CognitoError("SoftwareTokenMFANotFoundException",
                               "Software Token MFA has not been enabled by the user.")
        step = await _check_setup_code(pool, user, user.mfa_pending, code)
        await pool.store.save_user(replace(user, mfa_secret=user.mfa_pending, mfa_pending=None, mfa_enabled=True,
                                           totp_last_step=step), pool.now())
        return {"Status": "SUCCESS"}
    if not session:
        raise invalid_parameter("AccessToken or Session is required.")
    pending, user = await pool.challenge(session, "MFA_SETUP")
    sealed = pending.data.get("secret")
    if not isinstance(sealed, str):
        raise CognitoError("SoftwareTokenMFANotFoundException", "Software Token MFA has not been enabled by the user.")
    matched = await _check_setup_code(pool, user, sealed, code)
    await pool.store.save_user(replace(user, mfa_secret=sealed, mfa_pending=None, mfa_enabled=True,
                                       totp_last_step=matched), pool.now())
    await pool.store.update_challenge(pending.digest, data={"verified": True})
    return {"Status": "SUCCESS", "Session": session}


async def _check_setup_code(pool: UserPool, user: UserRecord, sealed: str, code: str) -> int:
    key = f"totp-setup:{user.sub}"
    await pool.attempt(key)
    step = totp.matching_step(pool.sealer.open(sealed, user.sub).decode(), code, pool.clock(), None)
    if step is None:
        raise CognitoError("EnableSoftwareTokenMFAException", "Code mismatch and fail enable Software Token MFA")
    await pool.succeeded(key)
    return step


async def set_user_mfa_preference(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await pool.access_token_user(params.required("AccessToken", max_length=16384))
    settings = params.object("SoftwareTokenMfaSettings")
    enabled = settings.get("Enabled")
    if enabled is None:
        return {}
    if not isinstance(enabled, bool):
        raise invalid_parameter("SoftwareTokenMfaSettings.Enabled must be a boolean.")
    if enabled and user.mfa_secret is None:
        raise invalid_parameter("User has not verified software token mfa")
    if not enabled and pool.config.mfa == "ON":
        raise invalid_parameter("MFA is required for this user pool; software token MFA cannot be disabled.")
    await pool.store.save_user(replace(user, mfa_enabled=enabled), pool.now())
    return {}


# ---------------------------------------------------------------------------------- signed-in user


async def get_user(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await pool.access_token_user(params.required("AccessToken", max_length=16384))
    return {"Username": user.username, "UserAttributes": pool.attribute_list(user), **pool.mfa_settings(user)}


async def global_sign_out(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await pool.access_token_user(params.required("AccessToken", max_length=16384))
    await pool.store.revoke_sessions(user.sub)
    return {}
