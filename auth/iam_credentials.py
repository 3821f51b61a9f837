"""Credentials for AWS_IAM and STS: long-term keys from the IAM directory, temporary ones from their token.

Session tokens are stateless, as AWS's are: an AES-GCM-sealed JSON ``SessionClaims`` (the ``ASIA...``
key id and its secret, who the session is for, its session policy, issue and expiry times, MFA) under the
server's ``SecretBox``. Nothing is stored; a token that opens, names the key id it was signed with and has
not expired is the credential. The *current* directory decides the policies (a role's or user's changed
policies apply to live sessions, a deleted role or user ends them), as IAM does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from auth.iam import AuthorizationRequest, Policy, PolicyError, Principal, parse_policy
from auth.iam.directory import Directory, DirectoryStore, Role, compile_policies
from auth.iam.trust import Caller, evaluate_trust, parse_trust_policy
from auth.iam_authorizer import ADMINISTRATOR_ACCESS, IamPrincipal
from auth.secretbox import SealError, SecretBox
from auth.sigv4 import Credential, ExpiredTokenError

TOKEN_PREFIX = "TRLS1"  # noqa: S105 - a format marker, not a secret
_TOKEN_AAD = "sts-session-token:v1"  # noqa: S105 - a label
ADMIN_USER = "trellis-admin"
ADMIN_USER_ID = "AIDATRELLISADMIN"


@dataclass(frozen=True)
class SessionClaims:
    access_key_id: str
    secret: str = field(repr=False)
    kind: str = "user"  # "user" (GetSessionToken), "assumed-role", "federated-user"
    user: str | None = None  # the IAM user (GetSessionToken, GetFederationToken)
    role: str | None = None
    session_name: str | None = None  # role session name, or the federated user's name
    session_policy: Mapping[str, Any] | None = None
    #: GetFederationToken: a session policy is required for any permission (None = none given).
    policy_required: bool = False
    issued: int = 0
    expires: int = 0
    mfa_at: int | None = None
    chained: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    source_identity: str | None = None


class SessionTokens:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def encode(self, claims: SessionClaims) -> str:
        text = json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True)
        return self.box.seal(text.encode(), _TOKEN_AAD, TOKEN_PREFIX)

    def decode(self, token: str) -> SessionClaims | None:
        try:
            data = json.loads(self.box.open(token, _TOKEN_AAD, TOKEN_PREFIX))
            return SessionClaims(**data)
        except (SealError, ValueError, TypeError):
            return None


@lru_cache(maxsize=1024)
def _session_policy(text: str) -> Policy:
    return parse_policy(text, name="SessionPolicy")


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _epoch(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class DirectoryCredentials:
    """The ``SessionCredentialLookup`` for AWS_IAM and STS."""

    def __init__(self, store: DirectoryStore | None, tokens: SessionTokens, account: str,
                 admin: tuple[str, str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.tokens = tokens
        self.account = account
        self.admin = admin
        self.clock = clock
        self._declared_roles: dict[str, Role] = {}
        self._overlaid: tuple[Directory, Directory] | None = None

    def declare_roles(self, roles: Mapping[str, Role]) -> None:
        """Roles the server's config defines (a declared state machine's execution role, as SAM
        creates one from a template): they stand beside the directory file's and win over a role
        of the same name there, which the CLI may change but the config owns."""
        self._declared_roles = dict(roles)
        self._overlaid = None

    def directory(self) -> Directory:
        current = self.store.current() if self.store is not None else Directory()
        if not self._declared_roles:
            return current
        if self._overlaid is None or self._overlaid[0] is not current:
            self._overlaid = (current, replace(current, roles={**current.roles, **self._declared_roles}))
        return self._overlaid[1]

    # ---------------------------------------------------------------------------------- principals

    def user_principal(self, name: str, **extra: Any) -> IamPrincipal | None:
        if self.admin is not None and name == ADMIN_USER:
            return IamPrincipal(ADMIN_USER, ADMIN_USER_ID, f"arn:aws:iam::{self.account}:user/{ADMIN_USER}",
                                self.account, (ADMINISTRATOR_ACCESS,), fingerprint="admin", **extra)
        directory = self.directory()
        user = directory.users.get(name)
        if user is None:
            return None
        documents = directory.user_documents(name)
        return IamPrincipal(
            user.name, user.id, f"arn:aws:iam::{self.account}:user{user.path}{user.name}", self.account,
            compile_policies(documents), tags=dict(user.tags), fingerprint=_fingerprint(documents), **extra,
        )

    def role_arn(self, name: str) -> str | None:
        role = self.directory().roles.get(name)
        return None if role is None else f"arn:aws:iam::{self.account}:role{role.path}{role.name}"

    def role_for_arn(self, arn: str) -> Role | None:
        """The directory's role that ``arn`` names exactly (path included), in this account."""
        prefix = f"arn:aws:iam::{self.account}:role/"
        if not arn.startswith(prefix):
            return None
        role = self.directory().roles.get(arn.rsplit("/", 1)[-1])
        if role is None or f"{prefix}{role.path.lstrip('/')}{role.name}" != arn:
            return None
        return role

    def trusts(self, role: Role, action: str, caller: Caller, context: Mapping[str, Any],
               principal: IamPrincipal | None = None) -> bool:
        """Whether ``role``'s trust policy lets ``caller`` perform ``action`` (``sts:AssumeRole``, ...)."""
        try:
            trust = parse_trust_policy(role.trust_policy, name=f"role/{role.name}/trust")
        except PolicyError:
            return False
        who = principal.as_principal() if principal is not None else Principal(account=None)
        request = AuthorizationRequest(action, f"arn:aws:iam::{self.account}:role{role.path}{role.name}",
                                       context, who, self.clock())
        return evaluate_trust(trust, request, caller).allowed

    def service_session(self, role_arn: str, service: str, session_name: str) -> IamPrincipal | None:
        """The session an AWS service (``states.amazonaws.com``) works in when it assumes ``role_arn``
        for its caller, as Step Functions does for an execution: ``None`` when the directory has no
        such role or the role's trust policy does not let that service assume it."""
        role = self.role_for_arn(role_arn)
        if role is None or not self.trusts(role, "sts:AssumeRole", Caller("Service", frozenset({service})), {}):
            return None
        issued = int(self.clock().timestamp())
        return self.session_principal(SessionClaims(access_key_id="", secret="", kind="assumed-role",
                                                    role=role.name, session_name=session_name, issued=issued))

    def session_principal(self, claims: SessionClaims) -> IamPrincipal | None:
        session_policies: tuple[Policy, ...] | None = None
        if claims.session_policy is not None:
            session_policies = (_session_policy(json.dumps(claims.session_policy, sort_keys=True)),)
        elif claims.policy_required:
            session_policies = ()
        extra: dict[str, Any] = {
            "temporary": True, "token_issued_at": _epoch(claims.issued),
            "mfa_authenticated_at": _epoch(claims.mfa_at), "access_key_id": claims.access_key_id,
            "session_policies": session_policies,
        }
        if claims.kind == "user" and claims.user:
            return self.user_principal(claims.user, **extra)
        if claims.kind == "federated-user" and claims.user and claims.session_name:
            user = self.user_principal(claims.user)
            if user is None:
                return None
            return IamPrincipal(
                claims.session_name, f"{self.account}:{claims.session_name}",
                f"arn:aws:sts::{self.account}:federated-user/{claims.session_name}", self.account,
                user.policies, kind="federated-user", tags=dict(claims.tags),
                fingerprint=_fingerprint(user.fingerprint, claims.session_policy, claims.policy_required), **extra,
            )
        if claims.kind == "assumed-role" and claims.role and claims.session_name:
            directory = self.directory()
            role = directory.roles.get(claims.role)
            if role is None:
                return None
            documents = directory.role_documents(role.name)
            return IamPrincipal(
                claims.session_name, f"{role.id}:{claims.session_name}",
                f"arn:aws:sts::{self.account}:assumed-role/{role.name}/{claims.session_name}", self.account,
                compile_policies(documents), kind="assumed-role", tags={**role.tags, **claims.tags},
                principal_arn=f"arn:aws:iam::{self.account}:role{role.path}{role.name}",
                fingerprint=_fingerprint(documents, claims.session_policy, claims.tags, role.tags), **extra,
            )
        return None

    # ------------------------------------------------------------------------------------ lookups

    async def find(self, access_key_id: str) -> Credential | None:
        if self.admin is not None and access_key_id == self.admin[0]:
            return Credential(access_key_id, self.admin[1], None, self.user_principal(ADMIN_USER))
        key = self.directory().access_keys.get(access_key_id)
        if key is None or key.status != "Active":
            return None
        principal = self.user_principal(key.user, access_key_id=access_key_id)
        if principal is None:
            return None
        return Credential(access_key_id, key.secret, None, principal)

    async def find_session(self, access_key_id: str, session_token: str) -> Credential | None:
        if not access_key_id.startswith("ASIA"):
            return await self.find(access_key_id)  # a long-term key with a token: verify() refuses it
        claims = self.tokens.decode(session_token)
        if claims is None or claims.access_key_id != access_key_id:
            return None
        if self.clock().timestamp() >= claims.expires:
            raise ExpiredTokenError("The security token included in the request is expired")
        principal = self.session_principal(claims)
        if principal is None:
            return None
        return Credential(access_key_id, claims.secret, session_token, principal)
