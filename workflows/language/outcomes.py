"""The interpreter's vocabulary: a thread's position (``Cursor``), what ``$$`` shows about the
execution (``ExecutionInfo``), the effects a state can wait for and the outcomes of one ``advance``.

They live apart from ``interpreter`` so the per-state modules can use them without importing the
dispatcher; ``interpreter`` re-exports every name (the engine imports them from there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflows.language.env import JSON

Scope = tuple[str | int, ...]  # () top level; ("P", 1) branch 1 of Parallel "P"; ("M",) Map "M"'s iterator; nests


@dataclass(frozen=True)
class Cursor:
    scope: Scope
    state: str
    input: JSON                                   # the raw input of ``state``
    variables: tuple[Mapping[str, JSON], ...] = ()  # variable scopes, outermost first; Assign writes the last
    attempts: tuple[int, ...] = ()                # per Retrier of ``state``: retries made so far
    entered_event_id: int = 0                     # 0 until the state is entered; causes cite it
    entered_time: float = 0.0                     # ``$$.State.EnteredTime``
    previous_event_id: int = 0                    # the thread's last event (AWS's previousEventId chain)
    map_item: tuple[int, JSON] | None = None      # ``$$.Map.Item`` (Index, Value) in a Map iteration
    extra: Mapping[str, JSON] = field(default_factory=dict)  # state-specific progress that must persist

    def with_previous(self, event_id: int) -> Cursor:
        """This cursor after the thread recorded ``event_id`` (every history event does this, so it
        copies the fields instead of running ``dataclasses.replace``'s full ``__init__``)."""
        clone = object.__new__(Cursor)
        clone.__dict__.update(self.__dict__)
        object.__setattr__(clone, "previous_event_id", event_id)
        return clone

    def entered(self, event_id: int, now: float) -> Cursor:
        """This cursor once its state is entered (``<Type>StateEntered`` is ``event_id``)."""
        clone = self.with_previous(event_id)
        object.__setattr__(clone, "entered_event_id", event_id)
        object.__setattr__(clone, "entered_time", now)
        return clone

    def to_json(self) -> dict[str, JSON]:
        return {
            "scope": list(self.scope),
            "state": self.state,
            "input": self.input,
            "variables": [dict(scope) for scope in self.variables],
            "attempts": list(self.attempts),
            "entered_event_id": self.entered_event_id,
            "entered_time": self.entered_time,
            "previous_event_id": self.previous_event_id,
            "map_item": None if self.map_item is None else list(self.map_item),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Cursor:
        map_item = data.get("map_item")
        return cls(
            scope=tuple(data.get("scope", ())),
            state=data["state"],
            input=data.get("input"),
            variables=tuple(dict(scope) for scope in data.get("variables", ())),
            attempts=tuple(int(count) for count in data.get("attempts", ())),
            entered_event_id=int(data.get("entered_event_id", 0)),
            entered_time=float(data.get("entered_time", 0.0)),
            previous_event_id=int(data.get("previous_event_id", 0)),
            map_item=None if map_item is None else (int(map_item[0]), map_item[1]),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True)
class ExecutionInfo:
    """What ``$$.Execution`` and ``$$.StateMachine`` show."""

    execution_arn: str
    name: str
    input: JSON
    start_time: float
    role_arn: str
    state_machine_arn: str
    state_machine_name: str
    redrive_count: int = 0
    # Keys the task tokens of this execution (HMAC): a token must not be guessable from the
    # execution's ARN. Empty: tokens are random (local runs, where nothing replays a step).
    token_key: bytes = field(default=b"", repr=False)


# --- effects a state waits for -------------------------------------------------------------

@dataclass(frozen=True)
class Sleep:
    until: float


@dataclass(frozen=True)
class Invoke:
    resource: str                      # the Task's Resource ARN
    payload: JSON                      # the effective parameters/arguments
    timeout_seconds: float | None      # TimeoutSeconds[Path] (None: no limit)
    heartbeat_seconds: float | None    # HeartbeatSeconds[Path]
    task_token: str | None = None      # set for ``.waitForTaskToken`` (and activities)
    credentials: JSON = None


@dataclass(frozen=True)
class Fork:
    kind: str                          # "Parallel" or "Map"
    children: tuple[Cursor, ...]
    max_concurrency: int = 0           # 0: no limit
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None
    # A Distributed Map's iterations are child executions: their events are not in this history.
    distributed: bool = False
    map_run_arn: str = ""              # a Distributed Map's Map Run (its children are listed under it)


Effect = Sleep | Invoke | Fork


@dataclass(frozen=True)
class Resumed:
    """The completed effect: ``result`` on success, else ``error``/``cause``. ``previous_event_id``
    is the last event the effect's own threads recorded (a Fork's children), 0 when none."""

    result: JSON = None
    error: str | None = None
    cause: str | None = None
    previous_event_id: int = 0
    failure: bool = False   # set for a failure that has neither error nor cause (an empty Fail state)

    @property
    def failed(self) -> bool:
        return self.failure or self.error is not None or self.cause is not None


# --- outcomes ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Moved:
    cursor: Cursor


@dataclass(frozen=True)
class Ended:
    output: JSON
    previous_event_id: int = 0


@dataclass(frozen=True)
class Failed:
    error: str | None
    cause: str | None
    previous_event_id: int = 0


@dataclass(frozen=True)
class Suspended:
    cursor: Cursor
    effect: Effect


Outcome = Moved | Ended | Failed | Suspended


def keeps_details(history: History) -> bool:
    """Whether the history keeps event details: an Express execution's does not (AWS has no history
    for it), so the hot per-state details — the state's input and output as JSON text — are not built."""
    return bool(getattr(history, "keeps_details", True))


class History(Protocol):
    def append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        """Record one event (``details`` is the ``...EventDetails`` body, keyed as AWS names it, e.g.
        ``{"stateEnteredEventDetails": {...}}``); return its id."""
        ...
