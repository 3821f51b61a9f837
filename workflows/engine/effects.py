"""Effects as JSON, so a waiting thread's effect is persisted with its cursor."""

from __future__ import annotations

from collections.abc import Mapping

from workflows.language.env import JSON
from workflows.language.interpreter import Effect, Fork, Invoke, Sleep


def effect_to_json(effect: Effect) -> dict[str, JSON]:
    if isinstance(effect, Sleep):
        return {"kind": "Sleep", "until": effect.until}
    if isinstance(effect, Invoke):
        return {"kind": "Invoke", "resource": effect.resource, "payload": effect.payload,
                "timeout": effect.timeout_seconds, "heartbeat": effect.heartbeat_seconds,
                "token": effect.task_token, "credentials": effect.credentials}
    # The children are threads of their own (their cursors live in their rows).
    return {"kind": "Fork", "fork": effect.kind, "children": len(effect.children),
            "max_concurrency": effect.max_concurrency,
            "tolerated_count": effect.tolerated_failure_count,
            "tolerated_percentage": effect.tolerated_failure_percentage}


def effect_from_json(data: Mapping[str, JSON]) -> Effect:
    kind = data["kind"]
    if kind == "Sleep":
        return Sleep(until=float(data["until"]))
    if kind == "Invoke":
        return Invoke(resource=data["resource"], payload=data["payload"], timeout_seconds=data["timeout"],
                      heartbeat_seconds=data["heartbeat"], task_token=data["token"],
                      credentials=data.get("credentials"))
    return Fork(kind=data["fork"], children=(), max_concurrency=int(data["max_concurrency"]),
                tolerated_failure_count=data["tolerated_count"],
                tolerated_failure_percentage=data["tolerated_percentage"])
