"""The gate in front of Trellis's AWS-style APIs (user-pool admin calls, Step Functions, SQS): a
SigV4 signature for the API's signing service and region, then IAM policy allowing
``<service>:<action>`` on the resource. Each API maps a ``GateRefusal`` to its own error shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from auth.iam_authorizer import IamPrincipal
from auth.sigv4 import Credential, CredentialLookup, SignatureError, SignedRequest, verify


class GateRefusal(Exception):
    """``signature``: the request is not signed by a known credential (AWS's signature error codes);
    otherwise IAM denied it (``AccessDeniedException``)."""

    def __init__(self, code: str, message: str, *, signature: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.signature = signature


@dataclass(frozen=True)
class Caller:
    credential: Credential
    context: dict[str, Any] = field(default_factory=dict)  # the request's condition keys

    @property
    def principal_id(self) -> str:
        return str(getattr(self.credential.principal, "user_id", "") or self.credential.access_key_id)


class ServiceGate:
    def __init__(self, lookup: CredentialLookup, region: str, service: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lookup = lookup
        self.region = region
        self.service = service
        self.clock = clock

    async def check(self, action: str, resource: str, request: Request, body: bytes) -> Caller:
        signed = SignedRequest(request.method, request.scope.get("raw_path") or request.url.path.encode(),
                               request.scope.get("query_string", b""), request.headers.raw, body)
        try:
            verified = await verify(signed, self.lookup, now=self.clock(), expected_service=self.service,
                                    allowed_regions={self.region})
        except SignatureError as exc:
            raise GateRefusal(exc.code, exc.message, signature=True) from exc
        context: dict[str, Any] = {"aws:SecureTransport": request.url.scheme == "https"}
        if request.client is not None:
            context["aws:SourceIp"] = request.client.host
        caller = Caller(verified.credential, context)
        self._require(caller, f"{self.service}:{action}", resource, {})
        return caller

    def check_pass_role(self, caller: Caller, role_arn: str, passed_to: str) -> None:
        """AWS's guard on handing a role to a service (a state machine's execution role): the caller's
        policies must allow ``iam:PassRole`` on it, with ``iam:PassedToService`` set to ``passed_to``.
        Without it, anyone who may create a state machine could act as any role the service may assume."""
        self._require(caller, "iam:PassRole", role_arn, {"iam:PassedToService": passed_to})

    def _require(self, caller: Caller, iam_action: str, resource: str, extra: dict[str, Any]) -> None:
        principal = caller.credential.principal
        allowed = isinstance(principal, IamPrincipal) and principal.decide(
            iam_action, resource, {**caller.context, **extra}, self.clock()).allowed
        if not allowed:
            arn = getattr(principal, "arn", "unknown")
            raise GateRefusal("AccessDeniedException",
                              f"User: {arn} is not authorized to perform: {iam_action} on resource: {resource} "
                              f"because no identity-based policy allows the {iam_action} action", signature=False)
