"""STS over AWS's query protocol (API version 2011-06-15), as botocore's ``sts`` client speaks it.

Operations: ``AssumeRole``, ``AssumeRoleWithWebIdentity`` (unsigned; the token is verified by the API's
OIDC / user-pool verifiers), ``GetSessionToken`` (optionally with TOTP MFA), ``GetFederationToken``,
``GetCallerIdentity`` and ``DecodeAuthorizationMessage``. Signed calls are verified with SigV4 for
service ``sts``. Credentials are stateless sealed tokens (``auth.iam_credentials``); responses are the
``<Op>Response><Op>Result>`` XML botocore's query parser reads; errors are ``ErrorResponse`` XML with
AWS's codes (AccessDenied, ValidationError, ExpiredToken, InvalidClientTokenId, SignatureDoesNotMatch,
InvalidIdentityToken, MalformedPolicyDocument, ...).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from app.aws_endpoint import query_error
from auth.iam import PolicyError, parse_policy
from auth.iam.denial import decode_denial
from auth.iam.directory import Role, new_id, new_secret
from auth.iam.trust import Caller
from auth.iam_authorizer import IamPrincipal
from auth.iam_credentials import DirectoryCredentials, SessionClaims
from auth.jwt_authorizer import unverified_issuer
from auth.jwt_verifier import ExpiredTokenError as JwtExpiredError
from auth.jwt_verifier import JwtVerifier, TokenError, VerifiedToken
from auth.secretbox import SealError, SecretBox
from auth.sigv4 import SignatureError, SignedRequest, verify
from auth.totp import TotpVerifier

API_VERSION = "2011-06-15"
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
MIN_DURATION = 900
CHAINED_MAX = 3600
USER_SESSION_MAX = 129600
USER_SESSION_DEFAULT = 43200
_SESSION_NAME_RE = re.compile(r"[\w+=,.@-]{2,64}")
_FEDERATED_NAME_RE = re.compile(r"[\w+=,.@-]{2,32}")


class StsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _validation(message: str) -> StsError:
    return StsError("ValidationError", message)


# ------------------------------------------------------------------------ authorization messages


# ----------------------------------------------------------------------------------------- XML


def _xml(value: Any) -> str:
    if isinstance(value, Mapping):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _respond(action: str, result: Mapping[str, Any]) -> Response:
    body = (f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{_xml(result)}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
    return Response(body, media_type="text/xml")


@dataclass(frozen=True)
class _Call:
    params: Mapping[str, str]
    context: Mapping[str, Any]  # request-level condition keys (aws:SourceIp, ...)
    caller: IamPrincipal | None  # None for unsigned calls


class StsService:
    api_version = API_VERSION

    def __init__(self, credentials: DirectoryCredentials, box: SecretBox, region: str,
                 web_identity: Sequence[tuple[str, JwtVerifier]] = (),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.credentials = credentials
        self.box = box
        self.region = region
        self.account = credentials.account
        self.web_identity = list(web_identity)
        self.clock = clock  # request-signature time; issuing and expiry use credentials.clock
        self.totp = TotpVerifier()
        self._signed: dict[str, Callable[[_Call], Awaitable[Mapping[str, Any]]]] = {
            "AssumeRole": self._assume_role,
            "GetSessionToken": self._get_session_token,
            "GetFederationToken": self._get_federation_token,
            "GetCallerIdentity": self._get_caller_identity,
            "DecodeAuthorizationMessage": self._decode_authorization_message,
        }

    async def handle_query(self, action: str, params: Mapping[str, str], request: Request, body: bytes) -> Response:
        client = request.client
        context: dict[str, Any] = {"aws:SecureTransport": request.url.scheme == "https"}
        if client is not None:
            context["aws:SourceIp"] = client.host
        try:
            if action == "AssumeRoleWithWebIdentity":
                result = await self._assume_role_with_web_identity(_Call(params, context, None))
            elif action in self._signed:
                caller = await self._authenticate(request, body)
                result = await self._signed[action](_Call(params, context, caller))
            else:
                return query_error("InvalidAction", f"Could not find operation {action} for version {API_VERSION}")
        except SignatureError as exc:
            status = 400 if exc.code == "ExpiredToken" else 403
            return query_error(exc.code, exc.message, status)
        except StsError as exc:
            return query_error(exc.code, exc.message, exc.status)
        return _respond(action, result)

    async def _authenticate(self, request: Request, body: bytes) -> IamPrincipal:
        signed = SignedRequest(request.method, request.scope.get("raw_path") or request.url.path.encode(),
                               request.scope.get("query_string", b""), request.headers.raw, body)
        verified = await verify(signed, self.credentials, now=self.clock(), expected_service="sts",
                                allowed_regions={self.region, "us-east-1"})
        principal: IamPrincipal = verified.credential.principal
        return principal

    # ----------------------------------------------------------------------------------- helpers

    def _now(self) -> datetime:
        return self.credentials.clock()

    def _duration(self, params: Mapping[str, str], default: int, maximum: int, too_long: str) -> int:
        raw = params.get("DurationSeconds")
        if raw is None:
            return min(default, maximum)
        if not raw.isdigit():
            raise _validation(f"Value '{raw}' at 'durationSeconds' failed to satisfy constraint: "
                              "Member must be a whole number")
        seconds = int(raw)
        if seconds < MIN_DURATION:
            raise _validation(f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to "
                              f"satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}")
        if seconds > maximum:
            raise _validation(too_long)
        return seconds

    def _session_policy(self, params: Mapping[str, str]) -> dict[str, Any] | None:
        """``Policy`` plus ``PolicyArns.member.N.arn`` (managed policies), merged into one document."""
        statements: list[Any] = []
        given = False
        if "Policy" in params:
            given = True
            try:
                document = json.loads(params["Policy"])
                parse_policy(document, name="SessionPolicy")
            except (ValueError, PolicyError) as exc:
                raise StsError("MalformedPolicyDocument", f"The policy is not valid: {exc}") from None
            raw = document["Statement"]
            statements.extend(raw if isinstance(raw, list) else [raw])
        directory = self.credentials.directory()
        index = 1
        while f"PolicyArns.member.{index}.arn" in params:
            given = True
            arn = params[f"PolicyArns.member.{index}.arn"]
            name = arn.rsplit("/", 1)[-1]
            managed = directory.policies.get(name)
            if not arn.startswith(f"arn:aws:iam::{self.account}:policy/") or managed is None:
                raise StsError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.", 404)
            raw = managed.document["Statement"]
            statements.extend(raw if isinstance(raw, list) else [raw])
            index += 1
        return {"Version": "2012-10-17", "Statement": statements} if given else None

    @staticmethod
    def _tags(params: Mapping[str, str]) -> dict[str, str]:
        tags: dict[str, str] = {}
        index = 1
        while f"Tags.member.{index}.Key" in params:
            tags[params[f"Tags.member.{index}.Key"]] = params.get(f"Tags.member.{index}.Value", "")
            index += 1
        return tags

    def _mfa(self, call: _Call, caller: IamPrincipal) -> datetime | None:
        """A fresh MFA authentication (SerialNumber + TokenCode), else the caller's own, else None."""
        serial, code = call.params.get("SerialNumber"), call.params.get("TokenCode")
        if serial is None and code is None:
            return caller.mfa_authenticated_at
        if serial is None or code is None:
            raise _validation("SerialNumber and TokenCode must be given together")
        user = self.credentials.directory().users.get(caller.user_name) if caller.kind == "user" else None
        now = self._now()
        if (user is None or user.mfa_serial != serial or user.mfa_secret is None
                or not self.totp.verify(serial, user.mfa_secret, code, now.timestamp())):
            raise StsError("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.",
                           403)
        return now

    def _issue(self, claims: dict[str, Any], seconds: int) -> tuple[SessionClaims, dict[str, Any]]:
        now = self._now()
        issued = int(now.timestamp())
        session = SessionClaims(access_key_id=new_id("ASIA"), secret=new_secret(), issued=issued,
                                expires=issued + seconds, **claims)
        credentials = {
            "AccessKeyId": session.access_key_id,
            "SecretAccessKey": session.secret,
            "SessionToken": self.credentials.tokens.encode(session),
            "Expiration": datetime.fromtimestamp(session.expires, UTC),
        }
        return session, credentials

    def _denied(self, caller_arn: str, action: str, resource: str) -> StsError:
        return StsError("AccessDenied", f"User: {caller_arn} is not authorized to perform: {action} "
                                        f"on resource: {resource}", 403)

    def _session_name(self, params: Mapping[str, str]) -> str:
        name = params.get("RoleSessionName", "")
        if not _SESSION_NAME_RE.fullmatch(name):
            raise _validation(f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy "
                              r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*")
        return name

    def _role_result(self, role: Role, session: SessionClaims, credentials: dict[str, Any],
                     policy: Mapping[str, Any] | None) -> dict[str, Any]:
        result: dict[str, Any] = {
            "Credentials": credentials,
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role.id}:{session.session_name}",
                "Arn": f"arn:aws:sts::{self.account}:assumed-role/{role.name}/{session.session_name}",
            },
        }
        if policy is not None:
            result["PackedPolicySize"] = min(100, len(json.dumps(policy, separators=(",", ":"))) * 100 // 2048)
        return result

    # -------------------------------------------------------------------------------- operations

    async def _assume_role(self, call: _Call) -> Mapping[str, Any]:
        caller = call.caller
        assert caller is not None
        params = call.params
        role_arn = params.get("RoleArn", "")
        if not role_arn:
            raise _validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
                              "Member must not be null")
        session_name = self._session_name(params)
        if caller.kind == "federated-user":
            raise self._denied(caller.arn, "sts:AssumeRole", role_arn)
        now = self._now()
        if not caller.decide("sts:AssumeRole", role_arn, call.context, now).allowed:
            raise self._denied(caller.arn, "sts:AssumeRole", role_arn)
        role = self.credentials.role_for_arn(role_arn)
        if role is None:
            raise self._denied(caller.arn, "sts:AssumeRole", role_arn)
        chained = caller.kind == "assumed-role"
        mfa_at = self._mfa(call, caller)
        tags = self._tags(params)
        trust_context: dict[str, Any] = {**caller.context(now), **call.context,
                                         "sts:RoleSessionName": session_name,
                                         "aws:MultiFactorAuthPresent": mfa_at is not None}
        if mfa_at is not None:
            trust_context["aws:MultiFactorAuthAge"] = int((now - mfa_at).total_seconds())
        if "ExternalId" in params:
            trust_context["sts:ExternalId"] = params["ExternalId"]
        for key, value in tags.items():
            trust_context[f"aws:RequestTag/{key}"] = value
        if tags:
            trust_context["aws:TagKeys"] = list(tags)
        who = Caller("AWS", frozenset({caller.arn, caller.principal_arn or caller.arn}), caller.account)
        if not self.credentials.trusts(role, "sts:AssumeRole", who, trust_context, caller) or (
                tags and not self.credentials.trusts(role, "sts:TagSession", who, trust_context, caller)):
            raise self._denied(caller.arn, "sts:AssumeRole", role_arn)
        if chained:
            seconds = self._duration(params, CHAINED_MAX, CHAINED_MAX,
                                     "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                                     "assumed by role chaining.")
        else:
            seconds = self._duration(params, 3600, role.max_session_duration,
                                     "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        policy = self._session_policy(params)
        session, credentials = self._issue({
            "kind": "assumed-role", "role": role.name, "session_name": session_name, "session_policy": policy,
            "mfa_at": int(mfa_at.timestamp()) if mfa_at else None, "chained": chained, "tags": tags,
            "user": caller.user_name if caller.kind == "user" else None,
        }, seconds)
        return self._role_result(role, session, credentials, policy)

    async def _assume_role_with_web_identity(self, call: _Call) -> Mapping[str, Any]:
        params = call.params
        token = params.get("WebIdentityToken", "")
        role_arn = params.get("RoleArn", "")
        session_name = self._session_name(params)
        issuer = unverified_issuer(token) if token else None
        verifier = next((v for iss, v in self.web_identity if iss == issuer), None)
        if verifier is None:
            raise StsError("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer}")
        try:
            verified: VerifiedToken = await verifier.verify(token)
        except JwtExpiredError:
            raise StsError("ExpiredTokenException", "Token expired: the web identity token has expired.") from None
        except TokenError as exc:
            raise StsError("InvalidIdentityToken", f"The web identity token is not valid: {exc.message}") from None
        provider = verified.issuer.split("://", 1)[-1].rstrip("/")
        audience = verified.claims.get("aud", verified.claims.get("client_id"))
        role = self.credentials.role_for_arn(role_arn)
        context: dict[str, Any] = {**call.context, f"{provider}:sub": verified.sub,
                                   "sts:RoleSessionName": session_name,
                                   "aws:FederatedProvider": f"arn:aws:iam::{self.account}:oidc-provider/{provider}"}
        if isinstance(audience, str | list):
            context[f"{provider}:aud"] = audience
        who = Caller("Federated", frozenset({verified.issuer, provider}))
        if role is None or not self.credentials.trusts(role, "sts:AssumeRoleWithWebIdentity", who, context):
            raise StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        seconds = self._duration(params, 3600, role.max_session_duration,
                                 "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        policy = self._session_policy(params)
        session, credentials = self._issue({
            "kind": "assumed-role", "role": role.name, "session_name": session_name, "session_policy": policy,
            "source_identity": verified.sub,
        }, seconds)
        result = self._role_result(role, session, credentials, policy)
        result["SubjectFromWebIdentityToken"] = verified.sub
        result["Provider"] = verified.issuer
        result["Audience"] = audience if isinstance(audience, str) else (audience or [None])[0]
        return result

    async def _get_session_token(self, call: _Call) -> Mapping[str, Any]:
        caller = call.caller
        assert caller is not None
        if caller.temporary or caller.kind != "user":
            raise StsError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        mfa_at = self._mfa(call, caller)
        seconds = self._duration(call.params, USER_SESSION_DEFAULT, USER_SESSION_MAX,
                                 f"DurationSeconds must be at most {USER_SESSION_MAX} seconds.")
        _, credentials = self._issue({
            "kind": "user", "user": caller.user_name, "mfa_at": int(mfa_at.timestamp()) if mfa_at else None,
        }, seconds)
        return {"Credentials": credentials}

    async def _get_federation_token(self, call: _Call) -> Mapping[str, Any]:
        caller = call.caller
        assert caller is not None
        name = call.params.get("Name", "")
        if not _FEDERATED_NAME_RE.fullmatch(name):
            raise _validation(f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
                              r"Member must have length between 2 and 32 and match [\w+=,.@-]*")
        if caller.temporary or caller.kind != "user":
            raise StsError("AccessDenied", "Cannot call GetFederationToken with session credentials", 403)
        arn = f"arn:aws:sts::{self.account}:federated-user/{name}"
        if not caller.decide("sts:GetFederationToken", arn, call.context, self._now()).allowed:
            raise self._denied(caller.arn, "sts:GetFederationToken", arn)
        seconds = self._duration(call.params, USER_SESSION_DEFAULT, USER_SESSION_MAX,
                                 f"DurationSeconds must be at most {USER_SESSION_MAX} seconds.")
        policy = self._session_policy(call.params)
        _, credentials = self._issue({
            "kind": "federated-user", "user": caller.user_name, "session_name": name, "session_policy": policy,
            "policy_required": True, "tags": self._tags(call.params),
        }, seconds)
        result: dict[str, Any] = {
            "Credentials": credentials,
            "FederatedUser": {"FederatedUserId": f"{self.account}:{name}", "Arn": arn},
        }
        if policy is not None:
            result["PackedPolicySize"] = min(100, len(json.dumps(policy, separators=(",", ":"))) * 100 // 2048)
        return result

    async def _get_caller_identity(self, call: _Call) -> Mapping[str, Any]:
        caller = call.caller
        assert caller is not None
        return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}

    async def _decode_authorization_message(self, call: _Call) -> Mapping[str, Any]:
        caller = call.caller
        assert caller is not None
        if not caller.decide("sts:DecodeAuthorizationMessage", "*", call.context, self._now()).allowed:
            raise self._denied(caller.arn, "sts:DecodeAuthorizationMessage", "*")
        try:
            decoded = decode_denial(self.box, call.params.get("EncodedMessage", ""))
        except SealError:
            raise StsError("InvalidAuthorizationMessageException",
                           "The encoded authorization message is not valid.") from None
        return {"DecodedMessage": decoded}

