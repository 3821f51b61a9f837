"""Plain records the execution store reads and writes (one frozen dataclass each)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = Any


def dumps(value: JSON) -> str:
    # Compact and non-ASCII kept: this is also the text clients get back as input/output.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class StateMachine:
    arn: str
    name: str
    type: str
    definition: str
    role_arn: str
    status: str
    created: float
    updated: float
    revision_id: str
    description: str = ""
    options: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class Execution:
    arn: str
    state_machine_arn: str
    name: str
    status: str
    input: str
    output: str | None
    error: str | None
    cause: str | None
    definition: str
    role_arn: str
    started: float
    stopped: float | None
    redrive_count: int = 0
    parent: JSON = None


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    previous_id: int
    type: str
    timestamp: float
    details: Mapping[str, JSON] | None

    def to_api(self) -> dict[str, JSON]:
        """The Step Functions ``HistoryEvent`` shape (timestamps as epoch seconds; the service
        layer renders them)."""
        event: dict[str, JSON] = {"id": self.id, "previousEventId": self.previous_id,
                                  "timestamp": self.timestamp, "type": self.type}
        if self.details:
            event.update(self.details)
        return event


@dataclass(frozen=True)
class Activity:
    arn: str
    name: str
    created: float


@dataclass(frozen=True)
class ThreadRow:
    thread_id: str
    parent_id: str | None
    status: str
    cursor: Mapping[str, JSON]
    effect: Mapping[str, JSON] | None
    wake_at: float | None
    outcome: Mapping[str, JSON] | None


@dataclass(frozen=True)
class TaskToken:
    token: str
    execution_arn: str
    thread_id: str
    activity_arn: str | None
    status: str
    input: str | None
    worker: str | None
    heartbeat_deadline: float | None
    outcome: Mapping[str, JSON] | None
