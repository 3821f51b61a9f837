"""Who may call Trellis's AWS-style APIs (user-pool admin calls, Step Functions, SQS): the AWS_IAM
authorizer's credentials at the time of the request (users, roles, STS sessions — the directory may
change while the server runs), else the ``TRELLIS_ADMIN_*`` key alone; with neither, nobody."""

from __future__ import annotations

from typing import Any

from auth.base import Authenticator
from auth.iam_authorizer import StaticCredentials, administrator, iam_authorizer
from auth.sigv4 import Credential, CredentialLookup


class ServiceCredentials:
    def __init__(self, authenticator: Authenticator, fallback: CredentialLookup) -> None:
        self._authenticator = authenticator
        self._fallback = fallback

    def _current(self) -> Any:
        iam = iam_authorizer(self._authenticator)
        return iam.lookup if iam is not None else self._fallback

    async def find(self, access_key_id: str) -> Credential | None:
        credential: Credential | None = await self._current().find(access_key_id)
        return credential

    async def find_session(self, access_key_id: str, session_token: str) -> Credential | None:
        """STS session credentials, when the current lookup resolves them from their token."""
        current = self._current()
        find_session = getattr(current, "find_session", None)
        # Without it, a long-term key's credential is returned and verify() refuses the stray token.
        credential: Credential | None = await (find_session(access_key_id, session_token) if find_session
                                               else current.find(access_key_id))
        return credential


def service_credentials(authenticator: Authenticator, admin_key: tuple[str, str] | None,
                        account_id: str) -> ServiceCredentials:
    admin = {admin_key[0]: administrator(admin_key[0], admin_key[1], account_id)} if admin_key else {}
    return ServiceCredentials(authenticator, StaticCredentials(admin))
