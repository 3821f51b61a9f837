"""What one execution run is made of: its threads' in-memory state, and the protocols it talks to
(the journal it commits to, the waiter for task tokens, the starter of child executions)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflows.engine.effects import EngineEffect, effect_to_json
from workflows.engine.records import JSON, HistoryEvent
from workflows.engine.store import ThreadWrite, Transition
from workflows.errors import TIMEOUT
from workflows.language.interpreter import Cursor, Ended, ExecutionInfo, Failed, Invoke, Resumed

TOP = "0"  # the top-level thread's id


class Journal(Protocol):
    durable: bool  # whether it persists thread rows (a crash resumes from them)

    async def commit(self, transition: Transition) -> None: ...


TaskInvoker = Callable[[Invoke, ExecutionInfo], Awaitable[JSON]]


class MemoryJournal:
    """The journal of an execution that lives only in memory: it keeps the history."""

    def __init__(self) -> None:
        self.durable = False
        self.events: list[HistoryEvent] = []

    async def commit(self, transition: Transition) -> None:
        self.events.extend(transition.events)


@dataclass(frozen=True)
class ChildRequest:
    """Start a Distributed Map iteration as a child execution that answers ``token`` at its end."""

    token: str
    label: str
    index: int
    definition: Mapping[str, JSON]
    input: JSON
    map_run_arn: str = ""


ChildStarter = Callable[[ChildRequest], Awaitable[None]]


class TokenWaiter(Protocol):
    async def wait(self, token: str, heartbeat_seconds: float | None) -> Mapping[str, JSON]:
        """The answer to a task token: ``{"output": ...}`` or ``{"error", "cause"}``."""
        ...


@dataclass
class ThreadState:
    id: str
    parent: str | None
    cursor: Cursor
    status: str                          # PENDING | READY | WAITING | ENDED | FAILED | CANCELLED
    effect: EngineEffect | None = None
    wake_at: float | None = None
    outcome: dict[str, JSON] | None = None
    children: list[str] = field(default_factory=list)
    started_children: int = 0            # children start in index order: the first ``started_children``
    finished_children: int = 0           # ... of which this many ended (so a fork's progress is O(1) per end)
    failed_children: int = 0
    last_child_event: int = 0
    dispatched: bool = False             # a token task's work was handed out (not to repeat on restart)
    fork_group: str = ""                 # names this fork's children: "<id>.<group>.<index>"
    deadline_error: str = TIMEOUT        # what reaching ``wake_at`` means for a waiting Task
    resume: Resumed | None = None
    job: asyncio.Task[None] | None = None

    def write(self) -> ThreadWrite:
        effect = None if self.effect is None else {**effect_to_json(self.effect), "dispatched": self.dispatched,
                                                   "group": self.fork_group}
        return ThreadWrite(thread_id=self.id, parent_id=self.parent, status=self.status,
                           cursor=self.cursor.to_json(), effect=effect, wake_at=self.wake_at,
                           outcome=self.outcome)


@dataclass(frozen=True)
class RunResult:
    status: str
    output: JSON = None
    error: str | None = None
    cause: str | None = None



class DiscardedHistory:
    """Ids for events nobody keeps (they only have to differ from each other)."""

    keeps_details = False

    def __init__(self) -> None:
        self._count = 0

    def append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        self._count += 1
        return self._count


def ending(thread: ThreadState) -> Ended | Failed | None:
    outcome = thread.outcome
    if thread.status == "ENDED" and outcome is not None:
        return Ended(outcome.get("output"), int(outcome.get("previous_event_id") or 0))
    if thread.status == "FAILED" and outcome is not None:
        return Failed(outcome.get("error"), outcome.get("cause"), int(outcome.get("previous_event_id") or 0))
    return None
