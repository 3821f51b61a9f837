"""The resource an operation names, or AWS's "does not exist" error for it."""

from __future__ import annotations

from workflows.engine.records import Activity, Execution, StateMachine
from workflows.engine.store import ExecutionStore
from workflows.errors import WorkflowApiError
from workflows.service_params import arn_kind


async def state_machine(store: ExecutionStore, arn: str) -> StateMachine:
    arn_kind(arn, "stateMachine")
    machine = await store.get_state_machine(arn)
    if machine is None:
        raise WorkflowApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
    return machine


async def execution(store: ExecutionStore, arn: str) -> Execution:
    arn_kind(arn, "execution")
    found = await store.get_execution(arn)
    if found is None:
        raise WorkflowApiError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    return found


async def activity(store: ExecutionStore, arn: str) -> Activity:
    arn_kind(arn, "activity")
    found = await store.get_activity(arn)
    if found is None:
        raise WorkflowApiError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
    return found
