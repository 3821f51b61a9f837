"""``LocalRunner``: one execution entirely in memory — Express executions, the CLI's local runs and
the conformance suite.

It drives ``language.interpreter.advance`` for the top-level thread and for child threads (Parallel
branches, Map iterations), sleeps with the injected clock, invokes tasks through an injected
callable and records AWS-shaped history events. With a ``ManualClock`` it moves time itself once
every thread is waiting on the clock, so Wait states and retries finish instantly.
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows import errors
from workflows.clock import Clock, ManualClock
from workflows.errors import StatesError
from workflows.language.env import JSON
from workflows.language.events import error_details, to_json_text
from workflows.language.interpreter import (
    Cursor,
    Ended,
    ExecutionInfo,
    Failed,
    Fork,
    Invoke,
    Moved,
    Resumed,
    Sleep,
    Suspended,
    abort_thread,
    advance,
    fork_progress,
)

TaskInvoker = Callable[[Invoke, ExecutionInfo], Awaitable[JSON]]

SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"

# How many event-loop turns without any thread making progress count as "everyone is waiting"
# before a ManualClock is moved to the next deadline (tasks may await other coroutines a few turns).
_IDLE_TURNS = 20


async def _no_task_runner(invoke: Invoke, execution: ExecutionInfo) -> JSON:
    raise StatesError(errors.TASK_FAILED, f"No task runner for resource '{invoke.resource}'")


class RecordedHistory:
    """The execution's events in the API's HistoryEvent shape (timestamps in epoch seconds)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.events: list[dict[str, Any]] = []

    def append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        event_id = len(self.events) + 1
        event: dict[str, Any] = {"id": event_id, "previousEventId": previous_event_id,
                                 "timestamp": self._clock.now(), "type": event_type}
        event.update(details or {})
        self.events.append(event)
        return event_id


class DiscardedHistory:
    """For a Distributed Map's child executions, whose events are not this execution's."""

    def __init__(self) -> None:
        self._count = 0

    def append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        self._count += 1
        return self._count


History = RecordedHistory | DiscardedHistory


@dataclass
class RunResult:
    status: str
    output: JSON = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    execution: ExecutionInfo | None = None


def execution_info(state_machine_name: str, name: str, execution_input: JSON, start_time: float, *,
                   region: str = "us-east-1", account: str = "000000000000",
                   role_arn: str | None = None) -> ExecutionInfo:
    machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{state_machine_name}"
    return ExecutionInfo(
        execution_arn=f"arn:aws:states:{region}:{account}:execution:{state_machine_name}:{name}",
        name=name, input=execution_input, start_time=start_time,
        role_arn=role_arn or f"arn:aws:iam::{account}:role/{state_machine_name}-role",
        state_machine_arn=machine_arn, state_machine_name=state_machine_name)


class LocalRunner:
    def __init__(self, machine: Mapping[str, JSON], *, clock: Clock, invoke: TaskInvoker | None = None,
                 random: Callable[[], float] | None = None, auto_advance: bool = True) -> None:
        self.machine = machine
        self.clock = clock
        self.invoke = invoke or _no_task_runner
        self.random = random or _random.random
        # A ManualClock moves on its own only when asked to: tests that drive time themselves say no.
        self.auto_advance = auto_advance and isinstance(clock, ManualClock)
        self._progress = 0
        self._stop_requested = asyncio.Event()
        self._stop_reason: tuple[str | None, str | None] = (None, None)

    async def run(self, execution_input: JSON, *, name: str = "local-execution",
                  state_machine_name: str = "local-state-machine", execution: ExecutionInfo | None = None
                  ) -> RunResult:
        info = execution or execution_info(state_machine_name, name, execution_input, self.clock.now())
        history = RecordedHistory(self.clock)
        started = history.append("ExecutionStarted", {"executionStartedEventDetails": {
            "input": to_json_text(execution_input), "inputDetails": {"truncated": False},
            "roleArn": info.role_arn}}, 0)
        cursor = Cursor(scope=(), state=str(self.machine.get("StartAt")), input=execution_input,
                        variables=({},), previous_event_id=started)
        main = asyncio.ensure_future(self._thread(cursor, info, history))
        driver = asyncio.ensure_future(self._drive_clock(main)) if self.auto_advance else None
        timeout = self.machine.get("TimeoutSeconds")
        try:
            outcome = await self._until_the_end(main, info, timeout)
        finally:
            if driver is not None:
                driver.cancel()
                await asyncio.gather(driver, return_exceptions=True)
        if outcome == TIMED_OUT:
            history.append("ExecutionTimedOut", error_details("executionTimedOutEventDetails", errors.TIMEOUT,
                                                               None), len(history.events))
            return RunResult(TIMED_OUT, error=errors.TIMEOUT, history=history.events, execution=info)
        if outcome == ABORTED:
            error, cause = self._stop_reason
            history.append("ExecutionAborted", error_details("executionAbortedEventDetails", error, cause),
                           len(history.events))
            return RunResult(ABORTED, error=error, cause=cause, history=history.events, execution=info)
        assert isinstance(outcome, Ended | Failed)
        if isinstance(outcome, Ended):
            history.append("ExecutionSucceeded", {"executionSucceededEventDetails": {
                "output": to_json_text(outcome.output), "outputDetails": {"truncated": False}}},
                outcome.previous_event_id)
            return RunResult(SUCCEEDED, output=outcome.output, history=history.events, execution=info)
        history.append("ExecutionFailed", error_details("executionFailedEventDetails", outcome.error, outcome.cause),
                       outcome.previous_event_id)
        return RunResult(FAILED, error=outcome.error, cause=outcome.cause, history=history.events, execution=info)

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """StopExecution: the running execution ends ABORTED with this error and cause."""
        self._stop_reason = (error, cause)
        self._stop_requested.set()

    async def _until_the_end(self, main: asyncio.Future[Ended | Failed], info: ExecutionInfo,
                             limit_seconds: JSON) -> Ended | Failed | str:
        """The main thread's outcome, or TIMED_OUT (the definition's TimeoutSeconds passed) or
        ABORTED (``stop``), whichever comes first."""
        waiters: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(self._stop_requested.wait()): ABORTED}
        if isinstance(limit_seconds, int | float) and not isinstance(limit_seconds, bool):
            deadline = info.start_time + float(limit_seconds)
            waiters[asyncio.ensure_future(self.clock.sleep_until(deadline))] = TIMED_OUT
        try:
            await asyncio.wait({main, *waiters}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if main.done():
            return main.result()
        reason = next(label for waiter, label in waiters.items() if waiter.done() and not waiter.cancelled())
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
        return reason

    # --- threads ------------------------------------------------------------------------------

    async def _thread(self, cursor: Cursor, info: ExecutionInfo, history: History,
                      position: list[Cursor] | None = None) -> Ended | Failed:
        """Run one thread to its end; ``position`` (when given) tracks its cursor for aborts."""
        resume: Resumed | None = None
        while True:
            if position is not None:
                position[0] = cursor
            outcome = advance(self.machine, cursor, info, history, self.clock.now(), resume, random=self.random)
            self._progress += 1
            resume = None
            if isinstance(outcome, Ended | Failed):
                return outcome
            if isinstance(outcome, Moved):
                cursor = outcome.cursor
                # Let sibling threads take their turn, as AWS interleaves branches.
                await asyncio.sleep(0)
                continue
            cursor = outcome.cursor
            if position is not None:
                position[0] = cursor
            resume = await self._effect(outcome, info, history)
            self._progress += 1

    async def _effect(self, suspended: Suspended, info: ExecutionInfo, history: History) -> Resumed:
        effect = suspended.effect
        if isinstance(effect, Sleep):
            await self.clock.sleep_until(effect.until)
            return Resumed()
        if isinstance(effect, Invoke):
            return await self._invoke(effect, info)
        return await self._fork(effect, info, history)

    async def _invoke(self, invoke: Invoke, info: ExecutionInfo) -> Resumed:
        call = asyncio.ensure_future(self.invoke(invoke, info))
        limits = [(invoke.timeout_seconds, errors.TIMEOUT), (invoke.heartbeat_seconds, errors.HEARTBEAT_TIMEOUT)]
        # No heartbeats reach a local run, so the heartbeat limit acts as a second timeout.
        limits = [(seconds, error) for seconds, error in limits if seconds is not None]
        if not limits:
            return await self._call_result(call)
        seconds, error = min(limits, key=lambda limit: float(limit[0] or 0))
        deadline = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + float(seconds or 0)))
        try:
            await asyncio.wait({call, deadline}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            deadline.cancel()
        if call.done():
            return await self._call_result(call)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        return Resumed(error=error, cause=None, failure=True)

    @staticmethod
    async def _call_result(call: asyncio.Future[JSON]) -> Resumed:
        try:
            return Resumed(result=await call)
        except StatesError as failure:
            return Resumed(error=failure.error, cause=failure.cause, failure=True)
        except Exception as failure:  # noqa: BLE001 - a task runner's bug fails the task, not the engine
            return Resumed(error=errors.TASK_FAILED, cause=f"{type(failure).__name__}: {failure}", failure=True)

    async def _fork(self, fork: Fork, info: ExecutionInfo, history: History) -> Resumed:
        """Children start in index order, at most ``max_concurrency`` at a time; each end is put to
        ``fork_progress``."""
        child_history: History = DiscardedHistory() if fork.distributed else history
        count = len(fork.children)
        results: list[Ended | Failed | None] = [None] * count
        positions = [[child] for child in fork.children]
        limit = fork.max_concurrency if fork.max_concurrency > 0 else max(count, 1)
        running: dict[asyncio.Future[Any], int] = {}
        next_index = 0
        last_event = 0
        decision = fork_progress(fork, results)
        try:
            while decision.action == "continue":
                while next_index < count and len(running) < limit:
                    child = self._thread(fork.children[next_index], info, child_history, positions[next_index])
                    task: asyncio.Future[Any] = asyncio.ensure_future(child)
                    running[task] = next_index
                    next_index += 1
                done, _ = await asyncio.wait(set(running), return_when=asyncio.FIRST_COMPLETED)
                for finished_task in sorted(done, key=lambda finished: running[finished]):
                    index = running.pop(finished_task)
                    results[index] = finished_task.result()
                    last_event = max(last_event, finished_task.result().previous_event_id)
                decision = fork_progress(fork, results)
        finally:
            for unfinished, index in running.items():
                unfinished.cancel()
                await asyncio.gather(unfinished, return_exceptions=True)
                abort_thread(positions[index][0], child_history)
        return decision.resumed(0 if fork.distributed else last_event)

    # --- time ---------------------------------------------------------------------------------

    async def _drive_clock(self, main: asyncio.Future[Any]) -> None:
        """Move the ManualClock to the next deadline once no thread has progressed for a while."""
        assert isinstance(self.clock, ManualClock)
        idle, seen = 0, self._progress
        while not main.done():
            await asyncio.sleep(0)
            if self._progress != seen:
                idle, seen = 0, self._progress
                continue
            idle += 1
            if idle >= _IDLE_TURNS and self.clock.advance_to_next():
                idle = 0
