"""Effects as JSON, so a waiting thread's effect is persisted with its cursor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workflows.language.env import JSON
from workflows.language.interpreter import Effect, Fork, Invoke, Sleep


@dataclass(frozen=True)
class ChildExecution:
    """A Distributed Map iteration run as an execution of its own: the iteration's thread waits
    for ``token``, which the child answers when it ends. (An engine effect: the interpreter never
    asks for it, it only marks its Fork ``distributed``.)"""

    token: str
    label: str          # the Map state's name: child ARNs read ``...:execution:<machine>/<label>:<id>``


EngineEffect = Effect | ChildExecution


def effect_to_json(effect: EngineEffect) -> dict[str, JSON]:
    if isinstance(effect, ChildExecution):
        return {"kind": "ChildExecution", "token": effect.token, "label": effect.label}
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
            "tolerated_percentage": effect.tolerated_failure_percentage, "distributed": effect.distributed,
            "map_run_arn": effect.map_run_arn}


def effect_from_json(data: Mapping[str, JSON]) -> EngineEffect:
    kind = data["kind"]
    if kind == "ChildExecution":
        return ChildExecution(token=str(data["token"]), label=str(data["label"]))
    if kind == "Sleep":
        return Sleep(until=float(data["until"]))
    if kind == "Invoke":
        return Invoke(resource=data["resource"], payload=data["payload"], timeout_seconds=data["timeout"],
                      heartbeat_seconds=data["heartbeat"], task_token=data["token"],
                      credentials=data.get("credentials"))
    return Fork(kind=data["fork"], children=(), max_concurrency=int(data["max_concurrency"]),
                tolerated_failure_count=data["tolerated_count"],
                tolerated_failure_percentage=data["tolerated_percentage"], distributed=bool(data.get("distributed")),
                map_run_arn=str(data.get("map_run_arn") or ""))
