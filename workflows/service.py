"""The Step Functions API operations as plain async functions over request and response dicts.

``call(api, "StartExecution", request)`` runs one operation; every failure is a
``WorkflowApiError`` carrying AWS's exception name (``code``) and message. The web adapter
(``app.stepfunctions``) checks SigV4 and IAM first, asking ``resource_of`` which ARN an operation
acts on; nothing here knows about HTTP.

State machines, executions and activities live in the engine's store; tags, logging and tracing
configuration live in the state machine's ``options``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows import service_lookup as lookup
from workflows.engine.engine import WorkflowEngine
from workflows.engine.records import JSON, StateMachine
from workflows.errors import DefinitionError, WorkflowApiError
from workflows.language import validation
from workflows.service_activities import (
    MAX_CAUSE_LENGTH,
    MAX_ERROR_LENGTH,
    create_activity,
    delete_activity,
    describe_activity_op,
    get_activity_task,
    list_activities,
    send_task_failure,
    send_task_heartbeat,
    send_task_success,
)
from workflows.service_map_runs import describe_map_run, list_map_runs
from workflows.service_params import (
    EXECUTION_STATUSES,
    Request,
    arn_kind,
    check_name,
    check_role_arn,
    decode_token,
    encode_token,
    page,
    parse_input,
)
from workflows.service_redrive import redrive_execution
from workflows.service_shapes import (
    describe_execution,
    describe_state_machine,
    describe_state_machine_for_execution,
    execution_list_item,
    history_event,
    state_machine_list_item,
    sync_execution,
)
from workflows.service_tags import list_tags_for_resource, tag_map, tag_resource, untag_resource, write_options
from workflows.service_test_state import test_state

MACHINE_TYPES = ("STANDARD", "EXPRESS")
SERVICE_PRINCIPAL = "states.amazonaws.com"  # who assumes a state machine's execution role
MAX_DEFINITION_LENGTH = 1048576
ACTIVITY_POLL_SECONDS = 60.0


@dataclass
class StepFunctionsApi:
    """What the operations share: the engine, and Express executions started asynchronously
    (StartExecution on an EXPRESS machine), which run in memory until they end."""

    engine: WorkflowEngine
    activity_poll_seconds: float = ACTIVITY_POLL_SECONDS
    _express: set[asyncio.Task[Any]] = field(default_factory=set)

    async def close(self) -> None:
        for job in list(self._express):
            job.cancel()
        for job in list(self._express):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job


Operation = Callable[[StepFunctionsApi, Request], Awaitable[dict[str, JSON]]]


# -- state machines ------------------------------------------------------------------------------------

def _check_definition(api: StepFunctionsApi, definition: str, machine_type: str) -> None:
    try:
        validation.load(definition, api.engine.registry.supports, machine_type)
    except DefinitionError as exc:
        raise WorkflowApiError("InvalidDefinition", validation.invalid_definition_message(exc.problems)) from None


def _options(request: Request, base: Mapping[str, JSON] | None = None) -> dict[str, JSON]:
    options: dict[str, JSON] = dict(base or {})
    for name in ("loggingConfiguration", "tracingConfiguration"):
        value = request.get(name)
        if value is not None:
            if not isinstance(value, Mapping):
                raise WorkflowApiError("ValidationException", f"{name} must be an object")
            options[name] = dict(value)
    return options


async def create_state_machine(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    name = check_name(request.required("name"))
    definition = request.required("definition", max_length=MAX_DEFINITION_LENGTH)
    role_arn = check_role_arn(request.required("roleArn"))
    machine_type = request.choice("type", MACHINE_TYPES) or "STANDARD"
    options = _options(request)
    existing = await api.engine.store.get_state_machine_by_name(name)
    if existing is not None:
        return _idempotent_create(existing, definition, role_arn, machine_type)
    _check_definition(api, definition, machine_type)
    options["tags"] = tag_map(request.get("tags"))
    now = api.engine.clock.now()
    machine = StateMachine(arn=api.engine.arn("stateMachine", name), name=name, type=machine_type,
                           definition=definition, role_arn=role_arn, status="ACTIVE", created=now, updated=now,
                           revision_id=uuid.uuid4().hex, options=options)
    stored = await api.engine.store.create_state_machine(machine)
    if stored is not machine:  # created by a concurrent request meanwhile
        return _idempotent_create(stored, definition, role_arn, machine_type)
    return {"stateMachineArn": machine.arn, "creationDate": machine.created}


def _idempotent_create(existing: StateMachine, definition: str, role_arn: str, machine_type: str) -> dict[str, JSON]:
    """CreateStateMachine is idempotent for the same name, definition text, role and type."""
    if (existing.definition, existing.role_arn, existing.type) != (definition, role_arn, machine_type):
        raise WorkflowApiError("StateMachineAlreadyExists", f"State Machine Already Exists: '{existing.arn}'")
    return {"stateMachineArn": existing.arn, "creationDate": existing.created}


async def describe_state_machine_op(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    return describe_state_machine(await lookup.state_machine(api.engine.store, request.required("stateMachineArn")))


async def update_state_machine(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    machine = await lookup.state_machine(api.engine.store, request.required("stateMachineArn"))
    definition = request.string("definition", max_length=MAX_DEFINITION_LENGTH)
    role_arn = request.string("roleArn")
    if all(request.get(name) is None for name in
           ("definition", "roleArn", "loggingConfiguration", "tracingConfiguration")):
        raise WorkflowApiError("MissingRequiredParameter", "Either the definition, the role ARN, the "
                               "LoggingConfiguration, or the TracingConfiguration must be specified")
    if role_arn is not None:
        check_role_arn(role_arn)
    if definition is not None:
        _check_definition(api, definition, machine.type)
    now = api.engine.clock.now()
    revision = uuid.uuid4().hex
    updated = await api.engine.store.update_state_machine(machine.arn, definition, role_arn, now, revision)
    if updated is None:
        raise WorkflowApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{machine.arn}'")
    options = _options(request, machine.options)
    if options != dict(machine.options):
        await write_options(api, machine.arn, options)
    return {"updateDate": now, "revisionId": revision}


async def delete_state_machine(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    arn = request.required("stateMachineArn")
    arn_kind(arn, "stateMachine")
    # Running executions keep their own copy of the definition and run to their end.
    await api.engine.store.delete_state_machine(arn)
    return {}


async def list_state_machines(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    size = request.page_size()
    after = decode_token(request.string("nextToken"))
    rows = await api.engine.store.list_state_machines(after, size + 1)
    return page(rows, size, "stateMachines", state_machine_list_item)


# -- executions ----------------------------------------------------------------------------------------

async def start_execution(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    machine = await lookup.state_machine(api.engine.store, request.required("stateMachineArn"))
    input_text = parse_input(request.json_text("input"))
    name = request.string("name")
    if name is not None:
        check_name(name)
    if machine.type == "EXPRESS":
        return _start_express(api, machine, name, input_text)
    execution = await api.engine.start_execution(machine, name, input_text)
    return {"executionArn": execution.arn, "startDate": execution.started}


def _start_express(api: StepFunctionsApi, machine: StateMachine, name: str | None, input_text: str) -> dict[str, JSON]:
    """An asynchronous Express execution: it runs in memory and, as on AWS, cannot be described."""
    name = name or str(uuid.uuid4())
    arn = api.engine.arn("express", machine.name, name, str(uuid.uuid4()))
    job = asyncio.create_task(api.engine.run_express(machine, name, input_text))
    api._express.add(job)
    job.add_done_callback(api._express.discard)
    return {"executionArn": arn, "startDate": api.engine.clock.now()}


async def start_sync_execution(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    machine = await lookup.state_machine(api.engine.store, request.required("stateMachineArn"))
    if machine.type != "EXPRESS":
        raise WorkflowApiError("StateMachineTypeNotSupported",
                               "This operation is not supported by this type of state machine")
    input_text = parse_input(request.json_text("input"))
    name = request.string("name")
    if name is not None:
        check_name(name)
    ran = await api.engine.run_express(machine, name, input_text)
    return sync_execution(ran.execution)


async def describe_execution_op(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    return describe_execution(await lookup.execution(api.engine.store, request.required("executionArn")))


async def stop_execution(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    execution = await lookup.execution(api.engine.store, request.required("executionArn"))
    error = request.string("error", max_length=MAX_ERROR_LENGTH)
    cause = request.string("cause", max_length=MAX_CAUSE_LENGTH)
    stopped = await api.engine.stop_execution(execution.arn, error, cause)
    return {"stopDate": stopped}


async def list_executions(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    size = request.page_size()
    status = request.choice("statusFilter", EXECUTION_STATUSES)
    after = decode_token(request.string("nextToken"), max_length=3096)
    map_run_arn = request.string("mapRunArn")
    if (map_run_arn is None) == (request.get("stateMachineArn") is None):
        raise WorkflowApiError("ValidationException", "Exactly one of stateMachineArn and mapRunArn is required")
    if map_run_arn is not None:
        arn_kind(map_run_arn, "mapRun")
        rows = await api.engine.store.list_executions("", status, after, size + 1, map_run_arn=map_run_arn)
    else:
        machine = await lookup.state_machine(api.engine.store, request.required("stateMachineArn"))
        if machine.type != "STANDARD":
            raise WorkflowApiError("StateMachineTypeNotSupported",
                                   "This operation is not supported by this type of state machine")
        rows = await api.engine.store.list_executions(machine.arn, status, after, size + 1)
    answer: dict[str, JSON] = {"executions": [execution_list_item(row) for row in rows[:size]]}
    if len(rows) > size:
        last = rows[size - 1]
        answer["nextToken"] = encode_token(f"{last.started!r}/{last.arn}")
    return answer


async def get_execution_history(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    execution = await lookup.execution(api.engine.store, request.required("executionArn"))
    size = request.page_size()
    reverse = request.boolean("reverseOrder")
    include_data = request.get("includeExecutionData") is not False
    after = decode_token(request.string("nextToken"))
    if after is not None and not after.isdigit():
        raise WorkflowApiError("InvalidToken", "Invalid Token: 'Invalid token'")
    rows = await api.engine.store.history(execution.arn, reverse, None if after is None else int(after), size + 1)
    answer: dict[str, JSON] = {"events": [history_event(row, include_data) for row in rows[:size]]}
    if len(rows) > size:
        answer["nextToken"] = encode_token(str(rows[size - 1].id))
    return answer


async def describe_state_machine_for_execution_op(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    execution = await lookup.execution(api.engine.store, request.required("executionArn"))
    machine = await api.engine.store.get_state_machine(execution.state_machine_arn)
    return describe_state_machine_for_execution(execution, machine)


async def redrive_execution_op(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    execution = await lookup.execution(api.engine.store, request.required("executionArn"))
    return {"redriveDate": await redrive_execution(api.engine, execution)}


# -- definitions -----------------------------------------------------------------------------------------

async def validate_state_machine_definition(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    definition = request.required("definition", max_length=MAX_DEFINITION_LENGTH)
    machine_type = request.choice("type", MACHINE_TYPES) or "STANDARD"
    severity = request.choice("severity", ("ERROR", "WARNING")) or "ERROR"
    limit = request.integer("maxResults", 0, 100) or 100
    parsed, findings = validation.parse(definition)
    if not findings:
        findings = validation.validate(parsed, api.engine.registry.supports, machine_type)
    shown = [f for f in findings if f.severity == "ERROR" or severity == "WARNING"]
    diagnostics: list[JSON] = []
    for finding in shown[:limit]:
        diagnostic = {"severity": finding.severity, "code": finding.code, "message": finding.message}
        if finding.location:
            diagnostic["location"] = finding.location
        diagnostics.append(diagnostic)
    failed = any(f.severity == "ERROR" for f in findings)
    return {"result": "FAIL" if failed else "OK", "diagnostics": diagnostics, "truncated": len(shown) > limit}


async def test_state_op(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    return await test_state(api.engine, request)


OPERATIONS: dict[str, Operation] = {
    "CreateStateMachine": create_state_machine,
    "DescribeStateMachine": describe_state_machine_op,
    "UpdateStateMachine": update_state_machine,
    "DeleteStateMachine": delete_state_machine,
    "ListStateMachines": list_state_machines,
    "StartExecution": start_execution,
    "StartSyncExecution": start_sync_execution,
    "DescribeExecution": describe_execution_op,
    "StopExecution": stop_execution,
    "ListExecutions": list_executions,
    "GetExecutionHistory": get_execution_history,
    "DescribeStateMachineForExecution": describe_state_machine_for_execution_op,
    "RedriveExecution": redrive_execution_op,
    "CreateActivity": create_activity,
    "DeleteActivity": delete_activity,
    "DescribeActivity": describe_activity_op,
    "ListActivities": list_activities,
    "GetActivityTask": get_activity_task,
    "SendTaskSuccess": send_task_success,
    "SendTaskFailure": send_task_failure,
    "SendTaskHeartbeat": send_task_heartbeat,
    "ValidateStateMachineDefinition": validate_state_machine_definition,
    "TestState": test_state_op,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
    "DescribeMapRun": describe_map_run,
    "ListMapRuns": list_map_runs,
}

# The request member naming the resource an operation acts on (IAM's resource); the rest act on "*"
# or, for the create operations, on the ARN the new resource will have.
_RESOURCE_MEMBERS = {
    "DescribeStateMachine": "stateMachineArn", "UpdateStateMachine": "stateMachineArn",
    "DeleteStateMachine": "stateMachineArn", "StartExecution": "stateMachineArn",
    "StartSyncExecution": "stateMachineArn", "ListExecutions": "stateMachineArn",
    "DescribeExecution": "executionArn", "StopExecution": "executionArn", "GetExecutionHistory": "executionArn",
    "DescribeStateMachineForExecution": "executionArn", "RedriveExecution": "executionArn",
    "DeleteActivity": "activityArn", "DescribeActivity": "activityArn", "GetActivityTask": "activityArn",
    "TagResource": "resourceArn", "UntagResource": "resourceArn", "ListTagsForResource": "resourceArn",
    "DescribeMapRun": "mapRunArn", "ListMapRuns": "executionArn",
}


def resource_of(api: StepFunctionsApi, operation: str, request: Mapping[str, Any]) -> str:
    """The ARN IAM authorizes ``states:<operation>`` on."""
    member = _RESOURCE_MEMBERS.get(operation)
    if operation == "ListExecutions" and request.get("stateMachineArn") is None:
        member = "mapRunArn"  # a Map Run's iterations
    if member is not None:
        value = request.get(member)
        return value if isinstance(value, str) and value else "*"
    name = request.get("name")
    if operation == "CreateStateMachine" and isinstance(name, str):
        return api.engine.arn("stateMachine", name)
    if operation == "CreateActivity" and isinstance(name, str):
        return api.engine.arn("activity", name)
    return "*"


async def call(api: StepFunctionsApi, operation: str, request: Mapping[str, Any]) -> dict[str, JSON]:
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise WorkflowApiError("UnknownOperationException", f"Operation {operation} is not supported.")
    return await handler(api, Request(request))
