"""The Admin* calls (and group management): SigV4-signed with service ``cognito-idp``, then IAM.

The signature is verified with ``auth.sigv4.verify`` against the API's AWS_IAM credential lookup
(or, when the API has no AWS_IAM mode, the ``TRELLIS_ADMIN_*`` key alone); the caller's policies
must then allow ``cognito-idp:<Operation>`` on the pool's ARN. A missing or bad signature answers
with AWS's signature error codes (``MissingAuthenticationTokenException``,
``UnrecognizedClientException``, ``InvalidSignatureException``...), a denial with
``AccessDeniedException``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from auth.service_gate import GateRefusal, ServiceGate
from auth.sigv4 import CredentialLookup
from auth.userpool.accounts import check_attributes, check_password, verified_after_confirm
from auth.userpool.errors import CognitoError, invalid_parameter, not_authorized, user_not_found
from auth.userpool.params import Params
from auth.userpool.pool import UserPool
from auth.userpool.sender import CodeMessage
from auth.userpool.store import DuplicateError, GroupRecord, UserRecord


class AdminGate:
    """Who may call the admin operations: a SigV4 signature, then IAM policy."""

    def __init__(self, lookup: CredentialLookup, region: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gate = ServiceGate(lookup, region, "cognito-idp", clock)

    async def check(self, operation: str, resource: str, request: Request, body: bytes) -> None:
        try:
            await self.gate.check(operation, resource, request, body)
        except GateRefusal as refusal:
            if refusal.signature:
                raise CognitoError(refusal.code, refusal.message, 403) from refusal
            raise CognitoError(refusal.code, refusal.message) from refusal


def _check_pool(pool: UserPool, params: Params) -> None:
    pool_id = params.required("UserPoolId", max_length=55)
    if pool_id != pool.config.pool_id:
        raise CognitoError("ResourceNotFoundException", f"User pool {pool_id} does not exist.")


async def _user(pool: UserPool, params: Params) -> UserRecord:
    _check_pool(pool, params)
    user = await pool.store.user(params.required("Username", max_length=128))
    if user is None:
        raise user_not_found()
    return user


async def _group(pool: UserPool, params: Params) -> GroupRecord:
    group = await pool.store.group(params.required("GroupName", max_length=128))
    if group is None:
        raise CognitoError("ResourceNotFoundException", "Group not found.")
    return group


def _page(params: Params, token_name: str) -> tuple[int, int]:
    limit = params.integer("Limit", 0, 60) or 60
    token = params.string(token_name, max_length=64) or "0"
    if not token.isdigit():
        raise invalid_parameter(f"Invalid {token_name}.")
    return int(token), limit


def _next(items: list[Any], offset: int, limit: int, token_name: str) -> dict[str, str]:
    return {token_name: str(offset + limit)} if len(items) == limit else {}


async def admin_create_user(pool: UserPool, params: Params) -> dict[str, Any]:
    _check_pool(pool, params)
    username = params.required("Username", max_length=128, no_space=True)
    attributes = params.attributes("UserAttributes")
    check_attributes(attributes, admin=True)
    action = params.string("MessageAction", max_length=16)
    if action not in (None, "RESEND", "SUPPRESS"):
        raise invalid_parameter("MessageAction must be RESEND or SUPPRESS.")
    temporary = params.string("TemporaryPassword", max_length=256, no_space=True) or pool.policy.generate()
    password_hash = await check_password(pool, temporary)
    existing = await pool.store.user(username)
    if action == "RESEND":
        if existing is None:
            raise user_not_found()
        if existing.status != "FORCE_CHANGE_PASSWORD":
            raise CognitoError("UnsupportedUserStateException", "Resend not possible. " + existing.username +
                               f" status is not FORCE_CHANGE_PASSWORD (it is {existing.status}).")
        user = await pool.store.save_user(replace(existing, password_hash=password_hash), pool.now())
    else:
        user = pool.new_user(username, attributes, "FORCE_CHANGE_PASSWORD", password_hash)
        try:
            await pool.store.create_user(user)
        except DuplicateError as exc:
            raise CognitoError("UsernameExistsException", "User account already exists") from exc
    if action != "SUPPRESS":
        where = pool.delivery(user)
        await pool.sender.send(CodeMessage("AdminCreateUser", user.username, temporary,
                                           where[0] if where else None, where[1] if where else None))
    return {"User": pool.user_type(user)}


async def admin_get_user(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    shape = pool.user_type(user)
    shape["UserAttributes"] = shape.pop("Attributes")
    return {**shape, **pool.mfa_settings(user)}


async def admin_delete_user(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    await pool.store.delete_user(user.sub)
    return {}


async def admin_set_user_password(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    password_hash = await check_password(pool, params.required("Password", max_length=256, no_space=True))
    status = "CONFIRMED" if params.boolean("Permanent") else "FORCE_CHANGE_PASSWORD"
    await pool.store.save_user(replace(user, password_hash=password_hash, status=status), pool.now())
    await pool.store.clear_failures(pool.login_key(user.username))
    return {}


async def admin_confirm_sign_up(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    if user.status != "UNCONFIRMED":
        raise not_authorized(f"User cannot be confirmed. Current status is {user.status}")
    await pool.store.save_user(replace(user, status="CONFIRMED", attributes=verified_after_confirm(pool, user)),
                               pool.now())
    return {}


async def admin_set_enabled(pool: UserPool, params: Params, enabled: bool) -> dict[str, Any]:
    user = await _user(pool, params)
    await pool.store.save_user(replace(user, enabled=enabled), pool.now())
    if not enabled:
        await pool.store.revoke_sessions(user.sub)
    return {}


async def admin_user_global_sign_out(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    await pool.store.revoke_sessions(user.sub)
    return {}


async def admin_add_user_to_group(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    group = await _group(pool, params)
    await pool.store.add_member(group.name, user.sub)
    return {}


async def admin_remove_user_from_group(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    group = await _group(pool, params)
    await pool.store.remove_member(group.name, user.sub)
    return {}


async def admin_list_groups_for_user(pool: UserPool, params: Params) -> dict[str, Any]:
    user = await _user(pool, params)
    offset, limit = _page(params, "NextToken")
    groups = (await pool.store.groups_of(user.sub))[offset : offset + limit]
    return {"Groups": [pool.group_type(g) for g in groups], **_next(groups, offset, limit, "NextToken")}


async def create_group(pool: UserPool, params: Params) -> dict[str, Any]:
    _check_pool(pool, params)
    now = pool.now()
    group = GroupRecord(params.required("GroupName", max_length=128, no_space=True),
                        params.string("Description", max_length=2048, min_length=0),
                        params.integer("Precedence", 0, 2**31 - 1), params.string("RoleArn", max_length=2048),
                        now, now)
    try:
        await pool.store.create_group(group)
    except DuplicateError as exc:
        raise CognitoError("GroupExistsException", f"A group with the name {group.name} already exists.") from exc
    return {"Group": pool.group_type(group)}


async def list_users_in_group(pool: UserPool, params: Params) -> dict[str, Any]:
    _check_pool(pool, params)
    group = await _group(pool, params)
    offset, limit = _page(params, "NextToken")
    users = await pool.store.members(group.name, offset, limit)
    return {"Users": [pool.user_type(u) for u in users], **_next(users, offset, limit, "NextToken")}


async def list_users(pool: UserPool, params: Params) -> dict[str, Any]:
    _check_pool(pool, params)
    if params.string("Filter", max_length=256, min_length=0):
        raise invalid_parameter("Filter is not supported by Trellis's user pool.")
    offset, limit = _page(params, "PaginationToken")
    users = await pool.store.list_users(offset, limit)
    return {"Users": [pool.user_type(u) for u in users], **_next(users, offset, limit, "PaginationToken")}
