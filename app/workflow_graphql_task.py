"""``arn:aws:states:::trellis:graphql`` — a Task that runs a GraphQL query or mutation on this API
as the execution's IAM role, the way a Step Functions workflow calls AppSync::

    "Resource": "arn:aws:states:::trellis:graphql",
    "Parameters": {
      "Query": "mutation ($id: ID!) { updateOrder(input: {id: $id, status: PICKING}) { id status } }",
      "Variables": {"id.$": "$.orderId"},
      "OperationName": "..."        # optional
    }

**Who calls.** AWS_IAM, as the session Step Functions gets when it assumes the state machine's role
(``arn:aws:sts::<account>:assumed-role/<role>/<execution name>``): the role must exist in the IAM
directory and trust ``states.amazonaws.com``, and its policies decide ``appsync:GraphQL`` on each
field, exactly as for a client signing with that role. The API must accept AWS_IAM. Nothing
bypasses auth: a workflow can do no more than its role could over HTTP.

**What it does.** The operation runs through the same executor, resolvers and field rules as an
HTTP request; a mutation publishes to subscriptions as when a client sends it, so subscribers see
what workflows change.

**Result and errors.** The task's result is the response, ``{"data": ...}``. A response with
errors fails the task: ``Error`` is the first error's ``errorType`` (as a Lambda task's is the
function's), else ``Trellis.GraphQLError``; ``Cause`` is the response as JSON. A role that cannot be
used fails it with ``UnauthorizedException`` (AppSync's answer to a credential it refuses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import OperationType

from app.error_format import format_error
from app.execution import GraphQLRequest
from app.operation import execute_operation
from auth.iam_setup import directory_credentials
from auth.modes import Identity
from resolvers.context import RequestInfo
from workflows.engine.records import JSON
from workflows.engine.tasks import TaskRegistry, TaskRequest, string_field
from workflows.errors import StatesError
from workflows.service import SERVICE_PRINCIPAL

if TYPE_CHECKING:
    from app.runtime import Runtime

GRAPHQL_ERROR = "Trellis.GraphQLError"
UNAUTHORIZED = "UnauthorizedException"
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")


def _runtime_error(state: str, detail: str) -> StatesError:
    return StatesError("States.Runtime", f"An error occurred while executing the state '{state}'. {detail}")


class GraphQLTaskRunner:
    patterns = frozenset({""})

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def run(self, request: TaskRequest) -> JSON:
        payload = request.payload
        query = string_field(payload, "Query", request.state_name)
        assert isinstance(payload, Mapping)  # string_field has checked
        variables = payload.get("Variables")
        operation_name = payload.get("OperationName")
        if variables is not None and not isinstance(variables, Mapping):
            raise _runtime_error(request.state_name, "The field 'Variables' must be an object.")
        if operation_name is not None and not isinstance(operation_name, str):
            raise _runtime_error(request.state_name, "The field 'OperationName' must be a string.")
        identity = self._identity(request)
        executor = self._runtime.executor
        prepared = executor.prepare(query)
        if prepared.document is None:
            raise self._failure({"errors": [format_error(e) for e in prepared.errors]})
        kind = executor.operation_type(prepared, operation_name)
        if kind is None:
            raise StatesError(GRAPHQL_ERROR, "Could not determine which operation to run: give a valid OperationName")
        if kind is OperationType.SUBSCRIPTION:
            raise StatesError(GRAPHQL_ERROR, "A workflow can run queries and mutations, not subscriptions")
        graphql_request = GraphQLRequest(query, dict(variables) if variables is not None else None, operation_name)
        result = await execute_operation(self._runtime, prepared, graphql_request, RequestInfo(headers={}), identity)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [format_error(e) for e in result.errors]
            raise self._failure(body)
        return body

    def _identity(self, request: TaskRequest) -> Identity:
        found = directory_credentials(self._runtime.authenticator)
        if found is None:
            raise StatesError(UNAUTHORIZED, "The GraphQL API does not accept AWS_IAM, the mode a workflow's "
                                            "role calls it with")
        execution = request.execution
        session_name = _SESSION_NAME_UNSAFE.sub("-", execution.name)[:64]
        iam, credentials = found
        principal = credentials.service_session(execution.role_arn, SERVICE_PRINCIPAL, session_name)
        if principal is None:
            raise StatesError(UNAUTHORIZED, f"The role {execution.role_arn} is not in the IAM directory or does "
                                            f"not let {SERVICE_PRINCIPAL} assume it")
        return iam.identity_for(principal, None)

    @staticmethod
    def _failure(body: Mapping[str, Any]) -> StatesError:
        first = body["errors"][0] if body.get("errors") else {}
        error_type = first.get("errorType") if isinstance(first, Mapping) else None
        if not isinstance(error_type, str) or not error_type or error_type.startswith("States."):
            error_type = GRAPHQL_ERROR  # States.* names are the engine's own
        return StatesError(error_type, json.dumps(body, separators=(",", ":"), default=str))


def register_graphql_runner(registry: TaskRegistry, runtime: Runtime) -> None:
    registry.register("trellis", "graphql", GraphQLTaskRunner(runtime))
