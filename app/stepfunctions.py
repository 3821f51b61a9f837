"""The Step Functions API on Trellis's port: botocore's ``stepfunctions`` client, awsJson1_0.

``X-Amz-Target: AWSStepFunctions.<Operation>`` at ``POST /``; every call is SigV4-signed for
service ``states`` and the caller's IAM policies must allow ``states:<Operation>`` on the state
machine, execution or activity ARN the call acts on (``*`` for the list and definition calls).
Auth fails closed: an unsigned, badly signed or unauthorised request gets AWS's 4xx error and never
reaches ``workflows.service``. Answers are ``application/x-amz-json-1.0``; timestamps are epoch
seconds (JSON numbers), as botocore parses them; errors are ``{"__type", "message"}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.service_gate import GateRefusal, ServiceGate
from auth.sigv4 import CredentialLookup
from workflows.errors import WorkflowApiError
from workflows.service import SERVICE_PRINCIPAL, StepFunctionsApi, call, resource_of

log = logging.getLogger("trellis.stepfunctions")
CONTENT_TYPE = "application/x-amz-json-1.0"
SIGNING_SERVICE = "states"


def error_response(code: str, message: str, status: int = 400) -> Response:
    return JSONResponse({"__type": code, "message": message}, status_code=status, media_type=CONTENT_TYPE)


_PASSES_ROLE = frozenset({"CreateStateMachine", "UpdateStateMachine", "TestState"})  # the calls that take roleArn


class StatesGate:
    """SigV4 for service ``states`` in the engine's region, then IAM ``states:<Operation>``."""

    def __init__(self, lookup: CredentialLookup, region: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gate = ServiceGate(lookup, region, SIGNING_SERVICE, clock)

    async def check(self, operation: str, resource: str, request: Request, body: bytes,
                    passes_role: str | None = None) -> None:
        """``passes_role``: the role a CreateStateMachine, UpdateStateMachine or TestState runs with, which
        the caller must also be allowed to pass (``iam:PassRole``), as on AWS."""
        try:
            caller = await self.gate.check(operation, resource, request, body)
            if passes_role is not None:
                self.gate.check_pass_role(caller, passes_role, SERVICE_PRINCIPAL)
        except GateRefusal as refusal:
            raise WorkflowApiError(refusal.code, refusal.message, 403 if refusal.signature else 400) from refusal


class StepFunctionsService:
    target_prefix = "AWSStepFunctions"

    def __init__(self, api: StepFunctionsApi, gate: StatesGate) -> None:
        self.api = api
        self.gate = gate

    async def handle_json(self, operation: str, request: Request, body: bytes) -> Response:
        try:
            members, problem = _members(body)
            # The signature and policy first, so an unauthenticated caller learns nothing else.
            role = members.get("roleArn") if operation in _PASSES_ROLE else None
            await self.gate.check(operation, resource_of(self.api, operation, members), request, body,
                                  passes_role=role if isinstance(role, str) else None)
            if problem is not None:
                raise problem
            answer = await call(self.api, operation, members)
        except WorkflowApiError as exc:
            return error_response(exc.code, exc.message, exc.status)
        except Exception:
            log.exception("Step Functions %s failed", operation)
            return error_response("InternalFailure", "The request processing has failed because of an unknown "
                                  "error, exception or failure.", 500)
        return JSONResponse(answer, media_type=CONTENT_TYPE)


def _members(body: bytes) -> tuple[dict[str, Any], WorkflowApiError | None]:
    try:
        members = json.loads(body or b"{}")
    except ValueError:
        members = None
    if not isinstance(members, dict):
        return {}, WorkflowApiError("SerializationException", "Start of structure or map found where not expected.")
    return members, None
