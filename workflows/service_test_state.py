"""TestState: run one state with an input through the interpreter's ``advance``, nothing persisted.

The definition is either a single state (``{"Type": "Pass", ...}``) or a whole state machine with
``stateName`` naming the state. A Task calls its resource's runner for real (request/response
only: callback and job patterns need a running execution), a Wait does not wait. The answer says
``SUCCEEDED`` (with ``nextState`` unless the state ends), ``FAILED``, ``RETRIABLE`` (a Retrier
would retry) or ``CAUGHT_ERROR`` (a Catcher took over); ``inspectionLevel`` DEBUG and TRACE add the
JSONPath processing stages as ``inspectionData``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workflows.engine.records import JSON, dumps
from workflows.engine.tasks import TaskRequest, parse_resource
from workflows.errors import DefinitionError, StatesError, WorkflowApiError
from workflows.language import templates, validation
from workflows.language.context_object import context_object
from workflows.language.env import Env
from workflows.language.interpreter import (
    Cursor,
    Ended,
    ExecutionInfo,
    Failed,
    Invoke,
    Moved,
    Outcome,
    Resumed,
    Sleep,
    Suspended,
    advance,
)

if TYPE_CHECKING:
    from workflows.engine.engine import WorkflowEngine
    from workflows.service_params import Request

SINGLE_STATE_NAME = "TestState"
INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
MAX_STEPS = 20  # a Wait or a retry backoff resumes at once; this bounds a definition that loops


class _Recorded:
    """The history ``advance`` writes: kept only to see whether an error was raised and caught."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any] | None]] = []

    def append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        self.events.append((event_type, details))
        return len(self.events)

    def last_error(self) -> tuple[str | None, str | None] | None:
        for event_type, details in reversed(self.events):
            if not details:
                continue
            for key, body in details.items():
                failure = key.endswith(("FailedEventDetails", "TimedOutEventDetails"))
                if failure and isinstance(body, Mapping) and event_type != "ExecutionFailed":
                    return body.get("error"), body.get("cause")
        return None


def _machine_and_state(request: Request) -> tuple[dict[str, JSON], str]:
    definition_text = request.required("definition", max_length=1048576)
    try:
        definition = json.loads(definition_text)
    except ValueError as exc:
        raise WorkflowApiError("InvalidDefinition", f"Invalid State Machine Definition: '{exc}'") from None
    if not isinstance(definition, dict):
        raise WorkflowApiError("InvalidDefinition", "Invalid State Machine Definition: 'not a JSON object'")
    state_name = request.string("stateName")
    if "States" in definition:
        machine = definition
        if state_name is None:
            state_name = str(definition.get("StartAt"))
    else:
        state_name = SINGLE_STATE_NAME
        machine = {"StartAt": state_name, "States": {state_name: definition}}
        if "QueryLanguage" in definition:
            machine["QueryLanguage"] = definition["QueryLanguage"]
    states = machine.get("States")
    if not isinstance(states, Mapping) or not isinstance(states.get(state_name), Mapping):
        raise WorkflowApiError("ValidationException", "State not found in definition")
    if "States" not in definition:
        # A lone state need not lead anywhere real: give its transitions somewhere to go.
        _stub_targets(machine, states[state_name])
    return machine, state_name


def _stub_targets(machine: dict[str, JSON], state: Mapping[str, JSON]) -> None:
    targets = [state.get("Next"), state.get("Default")]
    for rule in state.get("Choices") or []:
        if isinstance(rule, Mapping):
            targets.append(rule.get("Next"))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, Mapping):
            targets.append(catcher.get("Next"))
    for target in targets:
        if isinstance(target, str) and target not in machine["States"]:
            machine["States"][target] = {"Type": "Succeed"}


def _parsed(request: Request, name: str, default: JSON) -> JSON:
    text = request.json_text(name)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        code = "InvalidExecutionInput" if name == "input" else "ValidationException"
        raise WorkflowApiError(code, f"Invalid {name}: '{exc}'") from None


async def test_state(engine: WorkflowEngine, request: Request) -> dict[str, JSON]:
    machine, state_name = _machine_and_state(request)
    try:
        validation.load(json.dumps(machine), engine.registry.supports)
    except DefinitionError as exc:  # the definition as a whole must validate
        raise WorkflowApiError("InvalidDefinition", validation.invalid_definition_message(exc.problems)) from None
    level = request.choice("inspectionLevel", INSPECTION_LEVELS) or "INFO"
    state_input = _parsed(request, "input", {})
    variables = _parsed(request, "variables", {})
    if not isinstance(variables, dict):
        raise WorkflowApiError("ValidationException", "variables must be a JSON object")
    name = f"TestState-{uuid.uuid4().hex[:12]}"
    info = ExecutionInfo(execution_arn=engine.arn("execution", name, name), name=name, input=state_input,
                         start_time=engine.clock.now(),
                         role_arn=request.string("roleArn") or f"arn:aws:iam::{engine.options.account_id}:role/{name}",
                         state_machine_arn=engine.arn("stateMachine", name), state_machine_name=name)
    cursor = Cursor(scope=(), state=state_name, input=state_input, variables=(variables,))
    history = _Recorded()
    task_result: list[JSON] = []
    outcome, status = await _run(engine, machine, cursor, info, history, task_result)
    answer: dict[str, JSON] = {"status": status}
    if isinstance(outcome, Moved):
        answer["nextState"] = outcome.cursor.state
        answer["output"] = dumps(outcome.cursor.input)
    elif isinstance(outcome, Ended):
        answer["output"] = dumps(outcome.output)
    error = outcome if isinstance(outcome, Failed) else None
    caught = history.last_error() if status in ("CAUGHT_ERROR", "RETRIABLE") else None
    if error is not None:
        _put_error(answer, error.error, error.cause)
    elif caught is not None:
        _put_error(answer, *caught)
    if level != "INFO":
        answer["inspectionData"] = _inspection(machine["States"][state_name], machine, info, state_name,
                                               state_input, task_result, outcome)
    return answer


def _put_error(answer: dict[str, JSON], error: str | None, cause: str | None) -> None:
    if error is not None:
        answer["error"] = error
    if cause is not None:
        answer["cause"] = cause


async def _run(engine: WorkflowEngine, machine: dict[str, JSON], cursor: Cursor, info: ExecutionInfo,
               history: _Recorded, task_result: list[JSON]) -> tuple[Outcome, str]:
    resume: Resumed | None = None
    failed_once = False
    for _ in range(MAX_STEPS):
        outcome = advance(machine, cursor, info, history, engine.clock.now(), resume)
        if isinstance(outcome, Failed):
            return outcome, "FAILED"
        if isinstance(outcome, Moved | Ended):
            caught = history.last_error() is not None
            return outcome, "CAUGHT_ERROR" if caught else "SUCCEEDED"
        assert isinstance(outcome, Suspended)
        cursor = outcome.cursor
        effect = outcome.effect
        if isinstance(effect, Sleep):
            if failed_once:
                return outcome, "RETRIABLE"
            resume = Resumed()
        elif isinstance(effect, Invoke):
            resume = await _invoke(engine, effect, info, cursor.state)
            failed_once = resume.failed
            if not resume.failed:
                task_result.append(resume.result)
        else:
            raise WorkflowApiError("ValidationException",
                                   f"State type '{machine['States'][cursor.state].get('Type')}' is not supported "
                                   "by TestState")
    raise WorkflowApiError("ValidationException", "The state did not finish")


async def _invoke(engine: WorkflowEngine, invoke: Invoke, info: ExecutionInfo, state_name: str) -> Resumed:
    resource = parse_resource(invoke.resource)
    runner = engine.registry.runner_for(resource) if resource is not None else None
    if resource is None or runner is None:
        return Resumed(error="States.Runtime", cause=engine.registry.problem(invoke.resource))
    if resource.waits_for_token:
        raise WorkflowApiError("ValidationException", "TestState does not support activities or the "
                               f"'{resource.pattern or 'activity'}' integration pattern")
    request = TaskRequest(resource=resource, payload=invoke.payload, execution=info, state_name=state_name,
                          task_token=None, heartbeat_seconds=invoke.heartbeat_seconds)
    try:
        if invoke.timeout_seconds is not None:
            result = await asyncio.wait_for(runner.run(request), invoke.timeout_seconds)
        else:
            result = await runner.run(request)
    except TimeoutError:
        return Resumed(error="States.Timeout")
    except StatesError as exc:
        return Resumed(error=exc.error, cause=exc.cause, failure=True)
    return Resumed(result=result)


def _inspection(state: Mapping[str, JSON], machine: Mapping[str, JSON], info: ExecutionInfo, name: str,
                state_input: JSON, task_result: list[JSON], outcome: Outcome) -> dict[str, JSON]:
    """The JSONPath stages AWS shows at DEBUG (JSONata states show their input only)."""
    data: dict[str, JSON] = {"input": dumps(state_input)}
    language = state.get("QueryLanguage", machine.get("QueryLanguage", "JSONPath"))
    if language == "JSONata":
        return data
    kind = state.get("Type")
    context = context_object(info, name, str(kind), info.start_time)
    try:
        env = Env(input=state_input, context=context)
        if kind == "Pass" and "Result" in state:
            result: JSON = state["Result"]
        else:
            effective = templates.input_path(state.get("InputPath", "$"), env)
            data["afterInputPath"] = dumps(effective)
            if kind not in ("Pass", "Task"):
                return data
            parameters = effective
            if "Parameters" in state:
                parameters = templates.payload(state["Parameters"], Env(input=effective, context=context),
                                               "Parameters")
            data["afterParameters"] = dumps(parameters)
            if kind == "Pass":
                result = parameters
            elif task_result:
                result = task_result[-1]
            else:
                return data
        if kind == "Task" or "Result" in state:
            data["result"] = dumps(result)
        if "ResultSelector" in state:
            result = templates.payload(state["ResultSelector"], Env(input=result, context=context), "ResultSelector")
        data["afterResultSelector"] = dumps(result)
        if isinstance(outcome, Moved | Ended):
            combined = templates.result_path(state.get("ResultPath", "$"), state_input, result)
            data["afterResultPath"] = dumps(combined)
    except StatesError:
        pass  # the stage that failed is where the data stops, as on AWS
    return data
