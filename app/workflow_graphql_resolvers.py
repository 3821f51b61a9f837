"""The resolvers of the workflow fields (``app/workflows.graphql``) and the ``workflows`` data source.

Reads go to the execution store; writes go through the Step Functions API's own operations
(``workflows.service``), so names, inputs, outputs and tokens are checked exactly as
StartExecution, SendTaskSuccess, ... check them. A ``WorkflowApiError`` reaches the client in
AppSync's error shape with AWS's error name as ``errorType``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema

from app.errors import TrellisError
from datasources.base import Invocation
from workflows import service
from workflows.clock import iso8601
from workflows.engine.engine import WorkflowEngine
from workflows.engine.records import Execution, HistoryEvent, StateMachine, dumps
from workflows.errors import WorkflowApiError
from workflows.service import StepFunctionsApi
from workflows.service_params import arn_kind

DEFAULT_PAGE = 100
MAX_PAGE = 1000
WORKFLOWS_DATASOURCE = "workflows"


# -- shapes -----------------------------------------------------------------------------------------


def date_text(epoch: float | None) -> str | None:
    """AWSDateTime as AWS writes history timestamps: milliseconds, ``Z``."""
    return None if epoch is None else iso8601(epoch)


def machine_shape(machine: StateMachine) -> dict[str, Any]:
    return {"stateMachineArn": machine.arn, "name": machine.name, "type": machine.type, "status": machine.status,
            "definition": machine.definition, "roleArn": machine.role_arn, "description": machine.description or None,
            "revisionId": machine.revision_id or None, "creationDate": date_text(machine.created),
            "updateDate": date_text(machine.updated)}


def execution_shape(execution: Execution) -> dict[str, Any]:
    return {"executionArn": execution.arn, "stateMachineArn": execution.state_machine_arn,
            "stateMachineName": execution.state_machine_arn.rsplit(":", 1)[-1], "name": execution.name,
            "status": execution.status, "input": execution.input, "output": execution.output,
            "error": execution.error, "cause": execution.cause, "startDate": date_text(execution.started),
            "stopDate": date_text(execution.stopped), "redriveCount": execution.redrive_count}


def event_shape(execution_arn: str, event: HistoryEvent) -> dict[str, Any]:
    return {"executionArn": execution_arn, "id": event.id, "previousEventId": event.previous_id,
            "type": event.type, "timestamp": date_text(event.timestamp),
            "details": dict(event.details) if event.details else None}


# -- paging -----------------------------------------------------------------------------------------


def _page_size(limit: int | None) -> int:
    if limit is None or limit == 0:
        return DEFAULT_PAGE
    if limit < 0 or limit > MAX_PAGE:
        bound = "less than or equal to 1000" if limit > MAX_PAGE else "greater than or equal to 0"
        raise TrellisError(f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
                           f"Member must have value {bound}", error_type="ValidationException")
    return limit


def _encode_token(after: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _decode_token(token: str | None) -> Any:
    if token is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid_token() from None


# -- resolvers --------------------------------------------------------------------------------------

EngineLookup = Callable[[], WorkflowEngine | None]


class WorkflowResolvers:
    """The field resolvers; ``engine()`` is the running ``WorkflowEngine`` (None when not started)."""

    def __init__(self, engine: EngineLookup) -> None:
        self._engine = engine
        self._api: StepFunctionsApi | None = None

    def engine(self) -> WorkflowEngine:
        engine = self._engine()
        if engine is None:
            raise TrellisError("Workflows are not running on this server", error_type="ServiceUnavailable")
        return engine

    async def machine(self, name_or_arn: str) -> StateMachine:
        engine = self.engine()
        if name_or_arn.startswith("arn:"):
            arn_kind(name_or_arn, "stateMachine")
            found = await engine.store.get_state_machine(name_or_arn)
            arn = name_or_arn
        else:
            found = await engine.store.get_state_machine_by_name(name_or_arn)
            arn = engine.arn("stateMachine", name_or_arn)
        if found is None:
            raise WorkflowApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return found

    async def existing_execution(self, arn: str) -> Execution:
        arn_kind(arn, "execution")
        found = await self.engine().store.get_execution(arn)
        if found is None:
            raise WorkflowApiError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return found

    # Query (each takes the field's arguments as GraphQL names them)

    async def state_machines(self, args: Mapping[str, Any]) -> dict[str, Any]:
        size = _page_size(args.get("limit"))
        rows = await self.engine().store.list_state_machines(_decode_token(args.get("nextToken")), size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return {"items": [machine_shape(m) for m in rows],
                "nextToken": _encode_token(rows[-1].arn) if more else None}

    async def state_machine(self, args: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return machine_shape(await self.machine(args["name"]))
        except WorkflowApiError as exc:
            if exc.code == "StateMachineDoesNotExist":
                return None  # a GraphQL "get": absent is null, not an error
            raise

    async def execution(self, args: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return execution_shape(await self.existing_execution(args["executionArn"]))
        except WorkflowApiError as exc:
            if exc.code == "ExecutionDoesNotExist":
                return None
            raise

    async def executions(self, args: Mapping[str, Any]) -> dict[str, Any]:
        size = _page_size(args.get("limit"))
        machine = await self.machine(args["stateMachine"])
        after = _decode_token(args.get("nextToken"))
        if after is not None and not isinstance(after, str):
            raise _invalid_token()
        try:
            rows = await self.engine().store.list_executions(machine.arn, args.get("status"), after, size + 1)
        except ValueError:
            raise _invalid_token() from None
        more = len(rows) > size
        rows = rows[:size]
        token = _encode_token(f"{rows[-1].started!r}/{rows[-1].arn}") if more else None
        return {"items": [execution_shape(e) for e in rows], "nextToken": token}

    async def execution_history(self, args: Mapping[str, Any]) -> dict[str, Any]:
        size = _page_size(args.get("limit"))
        execution = await self.existing_execution(args["executionArn"])
        after = _decode_token(args.get("nextToken"))
        if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
            raise _invalid_token()
        rows = await self.engine().store.history(execution.arn, bool(args.get("reverseOrder")), after, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return {"events": [event_shape(execution.arn, e) for e in rows],
                "nextToken": _encode_token(rows[-1].id) if more else None}

    # Mutation: through the Step Functions API's own operations, so names, inputs, outputs and
    # tokens are checked exactly as StartExecution, SendTaskSuccess, ... check them.

    def api(self) -> StepFunctionsApi:
        engine = self.engine()
        if self._api is None or self._api.engine is not engine:
            self._api = StepFunctionsApi(engine)
        return self._api

    async def start_execution(self, args: Mapping[str, Any]) -> dict[str, Any]:
        machine = await self.machine(args["stateMachine"])
        if machine.type != "STANDARD":  # an Express execution could not be described afterwards
            raise WorkflowApiError("StateMachineTypeNotSupported",
                                   "This operation is not supported by this type of state machine")
        value = args.get("input")
        request: dict[str, Any] = {"stateMachineArn": machine.arn, "input": "{}" if value is None else dumps(value)}
        if args.get("name") is not None:
            request["name"] = args["name"]
        started = await service.call(self.api(), "StartExecution", request)
        return execution_shape(await self.existing_execution(str(started["executionArn"])))

    async def stop_execution(self, args: Mapping[str, Any]) -> dict[str, Any]:
        request = {key: args[key] for key in ("executionArn", "error", "cause") if args.get(key) is not None}
        stopped = await service.call(self.api(), "StopExecution", request)
        return {"executionArn": args["executionArn"], "stopDate": date_text(float(stopped["stopDate"]))}

    async def send_task_success(self, args: Mapping[str, Any]) -> bool:
        await service.call(self.api(), "SendTaskSuccess", {"taskToken": args["taskToken"],
                                                           "output": dumps(args["output"])})
        return True

    async def send_task_failure(self, args: Mapping[str, Any]) -> bool:
        request = {key: args[key] for key in ("taskToken", "error", "cause") if args.get(key) is not None}
        await service.call(self.api(), "SendTaskFailure", request)
        return True


def _invalid_token() -> TrellisError:
    return TrellisError("Invalid Token: 'Invalid token'", error_type="InvalidToken")


def _api_errors(resolve: Callable[[Mapping[str, Any]], Awaitable[Any]]) -> Callable[..., Any]:
    """A graphql-core resolver; a ``WorkflowApiError`` reaches the client as AppSync's error with
    AWS's name as errorType."""

    async def wrapped(_source: Any, _info: Any, **arguments: Any) -> Any:
        try:
            return await resolve(arguments)
        except WorkflowApiError as exc:
            raise TrellisError(exc.message, error_type=exc.code) from exc

    return wrapped


def bind_workflow_resolvers(schema: GraphQLSchema, engine: EngineLookup) -> WorkflowResolvers:
    resolvers = WorkflowResolvers(engine)
    roots = {"Query": schema.query_type, "Mutation": schema.mutation_type}
    fields: dict[tuple[str, str], Callable[[Mapping[str, Any]], Awaitable[Any]]] = {
        ("Query", "stateMachines"): resolvers.state_machines,
        ("Query", "stateMachine"): resolvers.state_machine,
        ("Query", "execution"): resolvers.execution,
        ("Query", "executions"): resolvers.executions,
        ("Query", "executionHistory"): resolvers.execution_history,
        ("Mutation", "startExecution"): resolvers.start_execution,
        ("Mutation", "stopExecution"): resolvers.stop_execution,
        ("Mutation", "sendTaskSuccess"): resolvers.send_task_success,
        ("Mutation", "sendTaskFailure"): resolvers.send_task_failure,
    }
    for (root, name), resolve in fields.items():
        root_type = roots[root]
        if isinstance(root_type, GraphQLObjectType) and name in root_type.fields:
            root_type.fields[name].resolve = _api_errors(resolve)
    return resolvers


# -- the ``workflows`` data source --------------------------------------------------------------------


class WorkflowsDataSource:
    """How resolvers reach the engine (as AppSync resolvers reach Step Functions through a data
    source): ``ctx.datasource("workflows").invoke(Invocation(request={"operation": ..., ...}))``.

    Operations take the GraphQL fields' argument names and answer with their shapes:
    ``StartExecution`` (stateMachine, input, name), ``DescribeExecution`` (executionArn),
    ``StopExecution`` (executionArn, error, cause), ``SendTaskSuccess`` (taskToken, output),
    ``SendTaskFailure`` (taskToken, error, cause)."""

    kind = "workflows"

    def __init__(self, name: str, resolvers: WorkflowResolvers) -> None:
        self.name = name
        self._operations: dict[str, Callable[[Mapping[str, Any]], Awaitable[Any]]] = {
            "StartExecution": resolvers.start_execution,
            "DescribeExecution": resolvers.execution,
            "StopExecution": resolvers.stop_execution,
            "SendTaskSuccess": resolvers.send_task_success,
            "SendTaskFailure": resolvers.send_task_failure,
        }

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def invoke(self, invocation: Invocation) -> Any:
        request = invocation.request
        operation = request.get("operation") if isinstance(request, Mapping) else None
        handler = self._operations.get(str(operation))
        if handler is None:
            known = ", ".join(self._operations)
            raise TrellisError(f"data source {self.name!r}: unknown operation {operation!r} (known: {known})",
                               error_type="ValidationError")
        assert isinstance(request, Mapping)
        try:
            return await handler(request)
        except WorkflowApiError as exc:
            raise TrellisError(exc.message, error_type=exc.code) from exc
        except KeyError as exc:
            raise TrellisError(f"data source {self.name!r}: {operation} needs {exc.args[0]!r}",
                               error_type="ValidationError") from exc
