"""The task runners that need the engine or Trellis's data sources: functions (Lambda), nested
executions (states:startExecution) and activities."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from datasources.base import DataSource, Invocation
from workflows.engine.records import JSON, dumps
from workflows.engine.tasks import TaskRegistry, TaskRequest
from workflows.errors import StatesError, WorkflowApiError

if TYPE_CHECKING:
    from workflows.engine.engine import WorkflowEngine

Lookup = Callable[[str], DataSource | None]


def _function_name(reference: str) -> str:
    # "name", "arn:aws:lambda:<region>:<account>:function:name[:qualifier]" or "<account>:function:name"
    parts = reference.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return reference


def _lambda_error(exc: Exception) -> StatesError:
    info = getattr(exc, "error_info", None) or {}
    error_type = str(info.get("errorType") or getattr(exc, "error_type", None) or type(exc).__name__)
    if getattr(exc, "error_type", None) == "DataSourceTimeoutError" or type(exc).__name__ == "DataSourceTimeoutError":
        return StatesError("Sandbox.Timedout", dumps({"errorMessage": str(exc), "errorType": "Sandbox.Timedout"}))
    # The function's own exception (the data source wraps it), as Lambda reports it.
    original = exc.__cause__ if exc.__cause__ is not None else exc
    cause = {"errorMessage": str(exc), "errorType": error_type,
             "stackTrace": traceback.format_exception_only(type(original), original)}
    return StatesError(error_type, dumps(cause))


class FunctionRunner:
    """Lambda-style functions: Trellis ``function`` data sources, named by FunctionName or ARN."""

    patterns = frozenset({"", "waitForTaskToken"})

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    async def run(self, request: TaskRequest) -> JSON:
        resource = request.resource
        if resource.action == "function":
            name, payload, wrapped = resource.name, request.payload, False
        else:
            if not isinstance(request.payload, Mapping) or not isinstance(request.payload.get("FunctionName"), str):
                raise StatesError("States.Runtime", "The field 'FunctionName' is required for lambda:invoke")
            name = _function_name(request.payload["FunctionName"])
            payload, wrapped = request.payload.get("Payload"), True
        source = self._lookup(name)
        if source is None or source.kind != "function":
            raise StatesError("Lambda.ResourceNotFoundException",
                              f"Function not found: arn:aws:lambda:{_region(request)}:function:{name} "
                              f"(no Trellis function data source named '{name}')")
        try:
            result = await source.invoke(Invocation(request={"operation": "Invoke", "payload": payload}))
        except Exception as exc:  # the function's own error is the task's error
            raise _lambda_error(exc) from exc
        _check_json(result, name)
        if not wrapped:
            return result
        return {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200,
                "SdkHttpMetadata": {"HttpStatusCode": 200}, "SdkResponseMetadata": {}}


def _region(request: TaskRequest) -> str:
    parts = request.execution.execution_arn.split(":")
    return ":".join(parts[3:5]) if len(parts) > 5 else ""


def _check_json(value: Any, name: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise StatesError("Lambda.Unknown", f"The function '{name}' returned a value that is not JSON: {exc}") from exc


class NestedExecutionRunner:
    """``arn:aws:states:::states:startExecution`` — a child execution; ``.sync``/``.sync:2`` wait
    for it (the child answers the parent's token when it ends), ``.waitForTaskToken`` waits for
    whoever gets the token from the child's input."""

    patterns = frozenset({"", "sync", "sync:2", "waitForTaskToken"})

    def __init__(self, engine: WorkflowEngine) -> None:
        self._engine = engine

    async def run(self, request: TaskRequest) -> JSON:
        payload = request.payload
        if not isinstance(payload, Mapping) or not isinstance(payload.get("StateMachineArn"), str):
            raise StatesError("States.Runtime", "The field 'StateMachineArn' is required for states:startExecution")
        machine = await self._engine.store.get_state_machine(payload["StateMachineArn"])
        if machine is None:
            raise StatesError("StepFunctions.StateMachineDoesNotExistException",
                              f"State Machine Does Not Exist: '{payload['StateMachineArn']}'")
        child_input = payload.get("Input", {})
        input_text = child_input if isinstance(child_input, str) else dumps(child_input)
        parent = None
        if request.resource.pattern in ("sync", "sync:2"):
            parent = {"token": request.task_token, "pattern": request.resource.pattern,
                      "execution": request.execution.execution_arn}
        name = payload.get("Name")
        try:
            execution = await self._engine.start_execution(machine, name if isinstance(name, str) else None,
                                                           input_text, parent=parent)
        except WorkflowApiError as exc:
            raise StatesError(f"StepFunctions.{exc.code}Exception", exc.message) from exc
        return {"ExecutionArn": execution.arn, "StartDate": execution.started}


class ActivityRunner:
    """Activities: the queued token row is the work item; dispatching only wakes long polls."""

    patterns = frozenset({""})

    def __init__(self, engine: WorkflowEngine) -> None:
        self._engine = engine

    async def run(self, request: TaskRequest) -> JSON:
        if await self._engine.store.get_activity(request.resource.arn) is None:
            raise StatesError("States.Runtime", f"Activity does not exist: '{request.resource.arn}'")
        self._engine.activity_queued(request.resource.arn)
        return None


def register_engine_runners(registry: TaskRegistry, engine: WorkflowEngine, lookup: Lookup) -> None:
    functions = FunctionRunner(lookup)
    registry.register("lambda", "invoke", functions)
    registry.register("lambda", "function", functions)
    registry.register("states", "startExecution", NestedExecutionRunner(engine))
    registry.register("states", "activity", ActivityRunner(engine))
