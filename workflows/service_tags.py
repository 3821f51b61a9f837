"""TagResource, UntagResource and ListTagsForResource: tags live in the state machine's ``options``
(with its logging and tracing configuration). Activities keep no tags: their ARNs are
``ResourceNotFound`` here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workflows.engine.records import JSON, StateMachine
from workflows.errors import WorkflowApiError
from workflows.service_params import Request, arn_kind
from workflows.service_shapes import tags_of

if TYPE_CHECKING:
    from workflows.service import StepFunctionsApi

MAX_TAGS = 50


def tag_map(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, list) or not all(isinstance(tag, Mapping) for tag in tags):
        raise WorkflowApiError("ValidationException", "tags must be a list of {key, value}")
    return {str(tag.get("key")): str(tag.get("value", "")) for tag in tags}


async def write_options(api: StepFunctionsApi, arn: str, options: Mapping[str, JSON]) -> None:
    await api.engine.store.set_options(arn, dict(options))


# -- tags --------------------------------------------------------------------------------------------------

async def _tagged(api: StepFunctionsApi, arn: str) -> StateMachine:
    kind = arn_kind(arn, "stateMachine", "activity")
    machine = await api.engine.store.get_state_machine(arn) if kind == "stateMachine" else None
    if machine is None:
        # Activities exist but their tags are not kept (only state machines keep options).
        raise WorkflowApiError("ResourceNotFound", f"Resource not found: '{arn}'")
    return machine


async def tag_resource(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    machine = await _tagged(api, request.required("resourceArn"))
    tags = {**dict(machine.options.get("tags") or {}), **tag_map(request.get("tags"))}
    if len(tags) > MAX_TAGS:
        raise WorkflowApiError("TooManyTags", f"Too many tags on '{machine.arn}' (at most {MAX_TAGS})")
    await write_options(api, machine.arn, {**machine.options, "tags": tags})
    return {}


async def untag_resource(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    machine = await _tagged(api, request.required("resourceArn"))
    keys = request.get("tagKeys")
    if not isinstance(keys, list):
        raise WorkflowApiError("ValidationException", "tagKeys must be a list of strings")
    tags = {key: value for key, value in dict(machine.options.get("tags") or {}).items() if key not in keys}
    await write_options(api, machine.arn, {**machine.options, "tags": tags})
    return {}


async def list_tags_for_resource(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    machine = await _tagged(api, request.required("resourceArn"))
    return {"tags": list(tags_of(machine))}
