"""The pool's wire API: botocore's ``cognito-idp`` JSON protocol at ``POST /``.

``X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>``; answers are
``application/x-amz-json-1.1`` in the shapes of botocore's service model, errors
``{"__type": <code>, "message": ...}``. Public operations (those botocore sends unsigned) take the
app client id or a token; admin operations go through ``AdminGate`` first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.aws_endpoint import json_error
from auth.userpool import accounts, admin, sessions
from auth.userpool.admin import AdminGate
from auth.userpool.errors import CognitoError
from auth.userpool.params import Params
from auth.userpool.pool import UserPool

log = logging.getLogger("trellis.userpool")
Operation = Callable[[UserPool, Params], Awaitable[dict[str, Any]]]

PUBLIC: dict[str, Operation] = {
    "SignUp": accounts.sign_up,
    "ConfirmSignUp": accounts.confirm_sign_up,
    "ResendConfirmationCode": accounts.resend_confirmation_code,
    "ForgotPassword": accounts.forgot_password,
    "ConfirmForgotPassword": accounts.confirm_forgot_password,
    "ChangePassword": accounts.change_password,
    "InitiateAuth": sessions.initiate_auth,
    "RespondToAuthChallenge": sessions.respond_to_auth_challenge,
    "AssociateSoftwareToken": sessions.associate_software_token,
    "VerifySoftwareToken": sessions.verify_software_token,
    "SetUserMFAPreference": sessions.set_user_mfa_preference,
    "GetUser": sessions.get_user,
    "GlobalSignOut": sessions.global_sign_out,
}
ADMIN: dict[str, Operation] = {
    "AdminCreateUser": admin.admin_create_user,
    "AdminGetUser": admin.admin_get_user,
    "AdminDeleteUser": admin.admin_delete_user,
    "AdminSetUserPassword": admin.admin_set_user_password,
    "AdminConfirmSignUp": admin.admin_confirm_sign_up,
    "AdminDisableUser": partial(admin.admin_set_enabled, enabled=False),
    "AdminEnableUser": partial(admin.admin_set_enabled, enabled=True),
    "AdminUserGlobalSignOut": admin.admin_user_global_sign_out,
    "AdminAddUserToGroup": admin.admin_add_user_to_group,
    "AdminRemoveUserFromGroup": admin.admin_remove_user_from_group,
    "AdminListGroupsForUser": admin.admin_list_groups_for_user,
    "CreateGroup": admin.create_group,
    "ListUsersInGroup": admin.list_users_in_group,
    "ListUsers": admin.list_users,
}


class UserPoolService:
    target_prefix = "AWSCognitoIdentityProviderService"

    def __init__(self, pool: UserPool, gate: AdminGate) -> None:
        self.pool = pool
        self.gate = gate

    async def handle_json(self, operation: str, request: Request, body: bytes) -> Response:
        try:
            if operation in PUBLIC:
                answer = await PUBLIC[operation](self.pool, Params(body))
            elif operation in ADMIN:
                await self.gate.check(operation, self.pool.config.arn, request, body)
                answer = await ADMIN[operation](self.pool, Params(body))
            else:
                return json_error("UnknownOperationException", f"Operation {operation} is not supported.")
        except CognitoError as exc:
            return json_error(exc.code, exc.message, exc.status)
        except Exception:
            log.exception("user pool %s failed", operation)
            return json_error("InternalErrorException", "Internal server error.", 500)
        return JSONResponse(answer, media_type="application/x-amz-json-1.1")
