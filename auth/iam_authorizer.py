"""AWS_IAM mode: SigV4-signed requests, then IAM policies decide field by field.

A verified signature names a credential whose ``principal`` is an ``IamPrincipal``; each field
is the resource ``arn:aws:appsync:<region>:<account>:apis/<apiId>/types/<Type>/fields/<field>``
for action ``appsync:GraphQL``. Answers are cached per principal when its policies have no
conditions (a condition may look at the request: source IP, time, MFA).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auth.base import Authenticator, AuthRequest
from auth.iam import AuthorizationRequest, Decision, Policy, Principal, evaluate, parse_policy
from auth.iam.denial import encode_denial
from auth.modes import AuthMode, Identity
from auth.secretbox import SecretBox
from auth.sigv4 import Credential, CredentialLookup, SignedRequest, verify

ADMINISTRATOR_ACCESS = parse_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    name="TrellisAdministratorAccess",
)


@dataclass(frozen=True)
class IamPrincipal:
    user_name: str
    user_id: str
    arn: str
    account: str
    policies: tuple[Policy, ...]
    #: ``user``, ``assumed-role`` or ``federated-user``; the latter two are temporary (STS) credentials.
    kind: str = "user"
    tags: Mapping[str, str] = field(default_factory=dict)
    #: ``aws:PrincipalArn``: the role's ARN for a role session, else ``arn``.
    principal_arn: str | None = None
    #: Session policies (AssumeRole/GetFederationToken ``Policy``): when set, a request must be allowed by
    #: ``policies`` *and* by these (an empty tuple allows nothing).
    session_policies: tuple[Policy, ...] | None = None
    temporary: bool = False
    token_issued_at: datetime | None = None
    mfa_authenticated_at: datetime | None = None
    access_key_id: str | None = None
    #: Distinguishes principals with the same ARN but other policies (a changed directory, a session policy).
    fingerprint: str = ""

    @property
    def has_conditions(self) -> bool:
        every = (*self.policies, *(self.session_policies or ()))
        return any(statement.conditions for policy in every for statement in policy.statements)

    @property
    def cache_key(self) -> str:
        return f"{self.arn}#{self.fingerprint}" if self.fingerprint else self.arn

    def as_principal(self) -> Principal:
        """The evaluator's principal: ``aws:username`` exists only for IAM users (as on AWS)."""
        return Principal(username=self.user_name if self.kind == "user" else None, userid=self.user_id,
                         arn=self.principal_arn or self.arn, account=self.account, tags=self.tags)

    def context(self, now: datetime) -> dict[str, Any]:
        """Condition keys that describe the credential itself (MFA, token issue time, principal type)."""
        kinds = {"user": "User", "assumed-role": "AssumedRole", "federated-user": "FederatedUser"}
        values: dict[str, Any] = {"aws:PrincipalType": kinds.get(self.kind, "User")}
        if self.temporary:
            values["aws:MultiFactorAuthPresent"] = self.mfa_authenticated_at is not None
            if self.token_issued_at is not None:
                values["aws:TokenIssueTime"] = self.token_issued_at
        if self.mfa_authenticated_at is not None:
            values["aws:MultiFactorAuthAge"] = max(0, int((now - self.mfa_authenticated_at).total_seconds()))
        return values

    def decide(self, action: str, resource: str, context: Mapping[str, Any], now: datetime) -> Decision:
        """Identity policies, then (when present) session policies: allowed only if both allow."""
        request = AuthorizationRequest(action, resource, {**self.context(now), **context}, self.as_principal(), now)
        decision = evaluate(self.policies, request)
        if decision.allowed and self.session_policies is not None:
            return evaluate(self.session_policies, request)
        return decision


class StaticCredentials:
    """Access keys known at start-up (the administrator key from the environment)."""

    def __init__(self, credentials: Mapping[str, Credential]) -> None:
        self._credentials = dict(credentials)

    async def find(self, access_key_id: str) -> Credential | None:
        return self._credentials.get(access_key_id)


def administrator(access_key_id: str, secret: str, account: str) -> Credential:
    principal = IamPrincipal(
        user_name="trellis-admin", user_id="AIDATRELLISADMIN", arn=f"arn:aws:iam::{account}:user/trellis-admin",
        account=account, policies=(ADMINISTRATOR_ACCESS,),
    )
    return Credential(access_key_id, secret, None, principal)


class IamAuthorizer:
    mode = AuthMode.AWS_IAM

    def __init__(self, lookup: CredentialLookup, region: str, account: str, api_id: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lookup = lookup
        self.region = region
        self.account = account
        self.api_id = api_id
        self.clock = clock
        # Seals the reason a field was denied (``encodedAuthorizationMessage``); set with the directory.
        self.denials: SecretBox | None = None

    def presents(self, request: AuthRequest) -> bool:
        authorization = request.headers.get("authorization", "")
        return authorization.startswith("AWS4-") or "X-Amz-Algorithm=" in request.query_string

    def field_arn(self, type_name: str, field_name: str) -> str:
        return (f"arn:aws:appsync:{self.region}:{self.account}:apis/{self.api_id}"
                f"/types/{type_name}/fields/{field_name}")

    async def authenticate(self, request: AuthRequest) -> Identity:
        signed = SignedRequest(request.method, request.path, request.query_string, request.headers,
                               await request.read_body())
        verified = await verify(signed, self.lookup, now=self.clock(), expected_service="appsync",
                                allowed_regions={self.region})
        return self.identity_for(verified.credential.principal, request.source_ip)

    def identity_for(self, principal: IamPrincipal, source_ip: str | None) -> Identity:
        """The AWS_IAM identity of a verified principal: its policies decide each field."""
        context: dict[str, Any] = {"aws:SourceIp": source_ip} if source_ip else {}
        context["aws:SecureTransport"] = False

        def allowed(type_name: str, field_name: str) -> bool:
            decision = principal.decide("appsync:GraphQL", self.field_arn(type_name, field_name), context,
                                        self.clock())
            return decision.allowed

        def explain(type_name: str, field_name: str) -> str | None:
            if self.denials is None:
                return None
            resource = self.field_arn(type_name, field_name)
            decision = principal.decide("appsync:GraphQL", resource, context, self.clock())
            if decision.allowed:
                return None  # refused by the field's modes, not by IAM: there is no IAM reason to give
            matched = [{"policy": s.policy, "sid": s.sid, "effect": s.effect} for s in decision.statements]
            return encode_denial(self.denials, principal_arn=principal.arn, principal_id=principal.user_id,
                                 action="appsync:GraphQL", resource=resource,
                                 explicit_deny=decision.reason == "explicit_deny", matched=matched, context=context)

        appsync = {
            "accountId": principal.account,
            "cognitoIdentityAuthProvider": None,
            "cognitoIdentityAuthType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "sourceIp": [source_ip] if source_ip else [],
            "userArn": principal.arn,
            "username": principal.user_id,
        }
        cache_key = None if principal.has_conditions else principal.cache_key
        return Identity(AuthMode.AWS_IAM, appsync, frozenset(), field_policy=allowed, policy_cache_key=cache_key,
                        explain_denial=explain)


def iam_authorizer(authenticator: Authenticator) -> IamAuthorizer | None:
    """The API's AWS_IAM mode, when it has one."""
    return next((a for a in authenticator.authorizers if isinstance(a, IamAuthorizer)), None)
