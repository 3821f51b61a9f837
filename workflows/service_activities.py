"""The activity operations (CreateActivity ... GetActivityTask) and the task-token answers
(SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat) that workers and callback integrations send."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from workflows import service_lookup as lookup
from workflows.engine.records import JSON, Activity
from workflows.errors import WorkflowApiError
from workflows.service_params import MAX_DATA_LENGTH, Request, arn_kind, check_name, decode_token, page
from workflows.service_shapes import describe_activity

if TYPE_CHECKING:
    from workflows.service import StepFunctionsApi

MAX_TOKEN_LENGTH = 2048
MAX_CAUSE_LENGTH = 32768
MAX_ERROR_LENGTH = 256


async def create_activity(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    name = check_name(request.required("name"))
    activity = Activity(arn=api.engine.arn("activity", name), name=name, created=api.engine.clock.now())
    stored = await api.engine.store.create_activity(activity)  # idempotent: an existing one is returned
    return {"activityArn": stored.arn, "creationDate": stored.created}


async def delete_activity(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    arn = request.required("activityArn")
    arn_kind(arn, "activity")
    await api.engine.store.delete_activity(arn)
    return {}


async def describe_activity_op(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    return describe_activity(await lookup.activity(api.engine.store, request.required("activityArn")))


async def list_activities(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    size = request.page_size()
    after = decode_token(request.string("nextToken"))
    rows = await api.engine.store.list_activities(after, size + 1)
    return page(rows, size, "activities", describe_activity)


async def get_activity_task(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    """Long poll (up to 60 s): the next task of the activity, or ``{}`` when none came."""
    activity = await lookup.activity(api.engine.store, request.required("activityArn"))
    worker = request.string("workerName", max_length=80) or ""
    task = await api.engine.get_activity_task(activity.arn, worker, api.activity_poll_seconds)
    if task is None:
        return {}
    return {"taskToken": task.token, "input": task.input if task.input is not None else "{}"}


def _task_token(request: Request) -> str:
    token = request.required("taskToken", max_length=MAX_TOKEN_LENGTH)
    if not token:
        raise WorkflowApiError("InvalidToken", "Invalid token")
    return token


async def send_task_success(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    token = _task_token(request)
    output_text = request.required("output", max_length=MAX_DATA_LENGTH)
    try:
        output = json.loads(output_text)
    except ValueError as exc:
        raise WorkflowApiError("InvalidOutput", f"Invalid Output: '{exc}'") from None
    await api.engine.complete_token(token, {"output": output})
    return {}


async def send_task_failure(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    token = _task_token(request)
    error = request.string("error", max_length=MAX_ERROR_LENGTH)
    cause = request.string("cause", max_length=MAX_CAUSE_LENGTH)
    await api.engine.complete_token(token, {"error": error, "cause": cause})
    return {}


async def send_task_heartbeat(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    await api.engine.heartbeat(_task_token(request))
    return {}
