"""The interpreter: takes one *thread* of an execution from one state boundary to the next.

CONTRACT (the engine in ``workflows/engine`` is written against this; keep it):

An execution is one or more threads. The top-level thread runs the definition's ``States``; each
Parallel branch and each Map iteration runs in a child thread. A thread's whole position is a
``Cursor`` — JSON-serialisable, so the engine persists it at every transition and resumes after a
crash from the last one.

``advance(machine, cursor, execution, history, now, resume)`` is pure apart from appending history
events through ``history``: it runs the cursor's state as far as it can without waiting and returns

* ``Moved(cursor)``        the thread reached the next state of its scope (not yet entered)
* ``Ended(output)``        the thread's scope ended (``End: true`` or a Succeed state)
* ``Failed(error, cause)`` an error no Retry/Catch handled ended the thread
* ``Suspended(cursor, effect)`` the state waits for ``effect``: ``Sleep`` (Wait state, retry backoff),
  ``Invoke`` (a Task's resource), ``Fork`` (Parallel branches / Map iterations as child threads).
  When the effect completes, the engine calls ``advance`` again with the same cursor and
  ``resume=Resumed(...)`` carrying the effect's result or error.

For ``Fork`` the engine starts child threads from ``Fork.children`` (at most ``max_concurrency`` at a
time when it is > 0), reports each child's end to ``fork_progress`` (pure: it says whether to go on,
stop the rest and fail, or finish), and resumes the parent with the children's outputs in order.
Children of a ``Fork`` with ``distributed`` set are a Distributed Map's child executions: their
events belong to no history of this execution (give them a history that discards), and the parent
is resumed with ``previous_event_id=0``. Children the engine stops early are reported to
``abort_thread`` (AWS records ``MapIterationAborted``).

The engine owns ids and timestamps of history events; the interpreter chooses their types, details
and ``previousEventId`` (AWS chains events per thread).

Retry backoff with ``JitterStrategy: FULL`` draws from ``random`` (a callable returning [0, 1));
the engine injects it so tests and replays are deterministic.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from workflows import errors
from workflows.errors import EvaluationError, StatesError
from workflows.language.env import JSON
from workflows.language.events import evaluation_failed, map_iteration, state_entered
from workflows.language.outcomes import (
    Cursor,
    Effect,
    Ended,
    ExecutionInfo,
    Failed,
    Fork,
    History,
    Invoke,
    Moved,
    Outcome,
    Resumed,
    Scope,
    Sleep,
    Suspended,
    keeps_details,
)
from workflows.language.retry import error_output
from workflows.language.states.common import StateRun, prefixed
from workflows.language.states.failure import handle_failure
from workflows.language.states.map_ import run_map
from workflows.language.states.parallel import run_parallel
from workflows.language.states.simple import FailStateReached, run_choice, run_fail, run_pass, run_succeed
from workflows.language.states.task import run_task
from workflows.language.states.wait import run_wait

__all__ = [
    "Cursor", "Effect", "Ended", "ExecutionInfo", "Failed", "Fork", "ForkDecision", "History", "Invoke", "Moved",
    "Outcome", "Resumed", "Scope", "Sleep", "Suspended", "abort_thread", "advance", "fork_progress", "scope_states",
]

_HANDLERS: dict[str, Callable[[StateRun], Outcome]] = {
    "Pass": run_pass,
    "Succeed": run_succeed,
    "Fail": run_fail,
    "Choice": run_choice,
    "Wait": run_wait,
    "Task": run_task,
    "Parallel": run_parallel,
    "Map": run_map,
}

EXCEEDED_TOLERANCE_CAUSE = "The specified tolerance threshold was exceeded"


def advance(machine: Mapping[str, JSON], cursor: Cursor, execution: ExecutionInfo, history: History,
            now: float, resume: Resumed | None = None, *, random: Callable[[], float] | None = None) -> Outcome:
    try:
        return _advance(machine, cursor, execution, history, now, resume, random or _random.random)
    except Exception as bug:  # noqa: BLE001 - nothing a definition or input does may escape as an exception
        return Failed(errors.RUNTIME, f"An error occurred while executing the state '{cursor.state}'. "
                                      f"Internal error: {type(bug).__name__}: {bug}", cursor.previous_event_id)


def _advance(machine: Mapping[str, JSON], cursor: Cursor, execution: ExecutionInfo, history: History,
             now: float, resume: Resumed | None, random: Callable[[], float]) -> Outcome:
    state = scope_states(machine, cursor.scope).get(cursor.state)
    if not isinstance(state, Mapping):
        return Failed(errors.RUNTIME, f"The state '{cursor.state}' does not exist.", cursor.previous_event_id)
    if cursor.extra.get("start_iteration") and cursor.map_item is not None:
        started = history.append("MapIterationStarted", map_iteration("Started", str(cursor.scope[-1]),
                                                                      cursor.map_item[0]), cursor.previous_event_id)
        cursor = replace(cursor, previous_event_id=started,
                         extra={key: value for key, value in cursor.extra.items() if key != "start_iteration"})
    if cursor.entered_event_id == 0:
        details = state_entered(cursor.state, cursor.input) if keeps_details(history) else None
        entered = history.append(f"{state.get('Type')}StateEntered", details, cursor.previous_event_id)
        cursor = cursor.entered(entered, now)
    run = StateRun(machine=machine, name=cursor.state, state=state, cursor=cursor, execution=execution,
                   history=history, now=now, random=random, resume=resume)
    return _iteration_end(run, _run_state(run))


def _run_state(run: StateRun) -> Outcome:
    handler = _HANDLERS.get(run.type)
    if handler is None:
        return Failed(errors.RUNTIME, f"{run.cause_prefix()}Unsupported state type '{run.type}'.",
                      run.cursor.previous_event_id)
    try:
        return handler(run)
    except FailStateReached as reached:
        return Failed(reached.error, reached.cause, run.cursor.previous_event_id)
    except StatesError as raised:
        failure = prefixed(run, raised)
        if isinstance(raised, EvaluationError) and raised.error == errors.QUERY_EVALUATION_ERROR:
            run.emit("EvaluationFailed", evaluation_failed(run.name, failure.error, failure.cause))
        return handle_failure(run, failure.error, failure.cause)


def _iteration_end(run: StateRun, outcome: Outcome) -> Outcome:
    """A Map iteration's thread records its end (``MapIterationSucceeded``/``Failed``)."""
    cursor = run.cursor
    if not isinstance(outcome, Ended | Failed) or not _is_map_iteration(cursor):
        return outcome
    assert cursor.map_item is not None
    kind = "Succeeded" if isinstance(outcome, Ended) else "Failed"
    event_id = run.history.append(f"MapIteration{kind}", map_iteration(kind, str(cursor.scope[-1]),
                                                                         cursor.map_item[0]),
                                  outcome.previous_event_id)
    return replace(outcome, previous_event_id=event_id)


def _is_map_iteration(cursor: Cursor) -> bool:
    return cursor.map_item is not None and bool(cursor.scope) and isinstance(cursor.scope[-1], str)


def abort_thread(cursor: Cursor, history: History) -> int:
    """The engine stopped this child thread (another one failed the Fork): record
    ``MapIterationAborted`` for a Map iteration that had started. Returns the event id (0: none)."""
    if not _is_map_iteration(cursor) or cursor.extra.get("start_iteration"):
        return 0
    assert cursor.map_item is not None
    return history.append("MapIterationAborted", map_iteration("Aborted", str(cursor.scope[-1]),
                                                                cursor.map_item[0]), cursor.previous_event_id)


def scope_states(machine: Mapping[str, JSON], scope: Scope) -> Mapping[str, JSON]:
    """The ``States`` of the scope: the definition's, a Parallel branch's or a Map's processor's."""
    states: Mapping[str, JSON] = machine.get("States") or {}
    position = 0
    while position < len(scope):
        state = states[str(scope[position])]
        if state.get("Type") == "Parallel":
            states = state["Branches"][int(scope[position + 1])]["States"]
            position += 2
        else:
            states = (state.get("ItemProcessor") or state.get("Iterator"))["States"]
            position += 1
    return states


# --- Fork progress ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ForkDecision:
    """``action``: "continue" (wait for more children), "fail" (stop the rest; resume the parent
    with ``error``/``cause``) or "finish" (resume the parent with ``outputs``)."""

    action: str
    outputs: list[JSON] | None = None
    error: str | None = None
    cause: str | None = None

    def resumed(self, previous_event_id: int = 0) -> Resumed:
        if self.action == "finish":
            return Resumed(result=self.outputs, previous_event_id=previous_event_id)
        return Resumed(error=self.error, cause=self.cause, previous_event_id=previous_event_id, failure=True)


def fork_progress(fork: Fork, child_results: Sequence[Ended | Failed | None]) -> ForkDecision:
    """Pure: what the Fork does now that ``child_results`` (by child index; None while running or
    not started) are known. A Parallel fails with its first failed branch; a Map too, unless it
    tolerates failures (ToleratedFailureCount/Percentage), then it fails with
    ``States.ExceedToleratedFailureThreshold`` once more than tolerated have failed. A
    ``States.Runtime`` failure is never tolerated."""
    failures = [result for result in child_results if isinstance(result, Failed)]
    tolerant = fork.kind == "Map" and (fork.tolerated_failure_count is not None
                                       or fork.tolerated_failure_percentage is not None)
    runtime = next((failure for failure in failures if failure.error == errors.RUNTIME), None)
    if runtime is not None:
        return ForkDecision("fail", error=runtime.error, cause=runtime.cause)
    if failures and not tolerant:
        return ForkDecision("fail", error=failures[0].error, cause=failures[0].cause)
    if failures and _exceeds_tolerance(fork, len(failures), len(child_results)):
        return ForkDecision("fail", error=errors.EXCEED_TOLERATED_FAILURE_THRESHOLD, cause=EXCEEDED_TOLERANCE_CAUSE)
    if any(result is None for result in child_results):
        return ForkDecision("continue")
    outputs = [result.output if isinstance(result, Ended) else error_output(result.error, result.cause)
               for result in child_results if result is not None]
    return ForkDecision("finish", outputs=outputs)


def _exceeds_tolerance(fork: Fork, failed: int, total: int) -> bool:
    """Either threshold, once exceeded, fails the Map (AWS: "fails when either is exceeded")."""
    count, percentage = fork.tolerated_failure_count, fork.tolerated_failure_percentage
    if count is not None and failed > count:
        return True
    return percentage is not None and failed * 100 > percentage * total
