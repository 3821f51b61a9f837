"""``LocalRunner``: one execution entirely in memory — the CLI's local runs, TestState-like checks
and the conformance suite.

It is the durable engine's own ``ExecutionRun`` with a journal that only keeps the history, and one
callable answering every Task. With a ``ManualClock`` it moves time itself once nothing else can
happen, so Wait states and retries finish instantly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows.clock import Clock, ManualClock
from workflows.engine.run import ExecutionRun
from workflows.engine.tasks import TaskRegistry
from workflows.engine.threads import MemoryJournal, TaskInvoker
from workflows.errors import TASK_FAILED, StatesError
from workflows.language.env import JSON
from workflows.language.interpreter import ExecutionInfo, Invoke

SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"

# How many event-loop turns without any progress count as "everyone is waiting" before a
# ManualClock is moved to the next deadline (tasks may await other coroutines a few turns).
_IDLE_TURNS = 20


async def _no_task_runner(invoke: Invoke, execution: ExecutionInfo) -> JSON:
    raise StatesError(TASK_FAILED, f"No task runner for resource '{invoke.resource}'")


class _NoTokens:
    async def wait(self, token: str, heartbeat_seconds: float | None) -> Mapping[str, JSON]:
        raise AssertionError("a local run answers every Task through its invoker")


class RecordedHistory:
    """A ``History`` for calling ``advance`` directly: events in the API's HistoryEvent shape."""

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
        self.random = random
        # A ManualClock moves on its own only when asked to: tests that drive time themselves say no.
        self.auto_advance = auto_advance and isinstance(clock, ManualClock)
        self._run: ExecutionRun | None = None
        self._stop: tuple[str | None, str | None] | None = None

    async def run(self, execution_input: JSON, *, name: str = "local-execution",
                  state_machine_name: str = "local-state-machine", execution: ExecutionInfo | None = None
                  ) -> RunResult:
        info = execution or execution_info(state_machine_name, name, execution_input, self.clock.now())
        journal = MemoryJournal()
        timeout = self.machine.get("TimeoutSeconds")
        deadline = None
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            deadline = info.start_time + float(timeout)
        run = ExecutionRun(arn=info.execution_arn, machine=self.machine, info=info, clock=self.clock,
                           registry=TaskRegistry(), tokens=_NoTokens(), journal=journal, deadline=deadline,
                           random=self.random, invoker=self.invoke)
        self._run = run
        await journal.commit(run.begin())
        if self._stop is not None:
            run.stop(*self._stop)
        main = asyncio.ensure_future(run.run())
        driver = asyncio.ensure_future(self._drive_clock(main, journal)) if self.auto_advance else None
        try:
            result = await main
        finally:
            if driver is not None:
                driver.cancel()
                await asyncio.gather(driver, return_exceptions=True)
        return RunResult(result.status, output=result.output, error=result.error, cause=result.cause,
                         history=[event.to_api() for event in journal.events], execution=info)

    def stop(self, error: str | None, cause: str | None) -> None:
        """End the execution ABORTED (StopExecution)."""
        if self._run is None:
            self._stop = (error, cause)
        else:
            self._run.stop(error, cause)

    async def _drive_clock(self, main: asyncio.Future[Any], journal: MemoryJournal) -> None:
        """Move the ManualClock to the next deadline once nothing has happened for a while."""
        assert isinstance(self.clock, ManualClock)
        idle, seen = 0, len(journal.events)
        while not main.done():
            await asyncio.sleep(0)
            if len(journal.events) != seen:
                idle, seen = 0, len(journal.events)
                continue
            idle += 1
            if idle >= _IDLE_TURNS and self.clock.advance_to_next():
                idle = 0
