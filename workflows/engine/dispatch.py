"""Running one Task's ``Invoke``: the runner its resource names, then — for callback patterns,
``.sync`` and activities — the wait for its task token; a time limit races the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from workflows.clock import Clock
from workflows.engine.records import JSON
from workflows.engine.tasks import Resource, TaskRegistry, TaskRequest, parse_resource
from workflows.engine.threads import TaskInvoker, ThreadState, TokenWaiter
from workflows.errors import TASK_FAILED, StatesError
from workflows.language.interpreter import ExecutionInfo, Invoke, Resumed


class TaskDispatcher:
    def __init__(self, *, info: ExecutionInfo, clock: Clock, registry: TaskRegistry, tokens: TokenWaiter,
                 invoker: TaskInvoker | None, mark_dispatched: Callable[[str], None]) -> None:
        self.info = info
        self.clock = clock
        self.registry = registry
        self.tokens = tokens
        # Local runs: one callable answers every Task (request/response; heartbeats can't arrive, so
        # HeartbeatSeconds acts as a second timeout) instead of the registry and task tokens.
        self.invoker = invoker
        self.mark_dispatched = mark_dispatched

    async def perform(self, thread: ThreadState, invoke: Invoke) -> Resumed:
        """The Task's outcome; ``thread.wake_at`` (its time limit) ends it with ``deadline_error``."""
        if thread.wake_at is None:
            return await self._invoke(thread, invoke)  # no second task to race against
        work = asyncio.ensure_future(self._invoke(thread, invoke))
        try:
            deadline = asyncio.ensure_future(self.clock.sleep_until(thread.wake_at))
            done, _ = await asyncio.wait({work, deadline}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                deadline.cancel()
                return work.result()
            work.cancel()
            return Resumed(error=thread.deadline_error, cause=None, failure=True)
        except asyncio.CancelledError:
            work.cancel()
            raise

    async def _invoke(self, thread: ThreadState, invoke: Invoke) -> Resumed:
        if self.invoker is not None:
            return await answer(self.invoker(invoke, self.info))
        resource = parse_resource(invoke.resource)
        runner = None if resource is None else self.registry.runner_for(resource)
        if resource is None or runner is None:
            return Resumed(error="States.Runtime", cause=self.registry.problem(invoke.resource))
        if resource.waits_for_token:
            return await self._invoke_and_wait(thread, invoke, resource)
        return await answer(runner.run(self._request(thread, invoke, resource)))

    async def _invoke_and_wait(self, thread: ThreadState, invoke: Invoke, resource: Resource) -> Resumed:
        token = invoke.task_token
        assert token is not None
        if not thread.dispatched:
            runner = self.registry.runner_for(resource)
            assert runner is not None
            dispatched = await answer(runner.run(self._request(thread, invoke, resource)))
            if dispatched.failed:
                return dispatched
            # Remember the dispatch, so a restart waits for the token instead of sending again.
            self.mark_dispatched(thread.id)
        reply = await self.tokens.wait(token, invoke.heartbeat_seconds)
        if "error" in reply:
            return Resumed(error=reply.get("error"), cause=reply.get("cause"))
        return Resumed(result=reply.get("output"))

    def _request(self, thread: ThreadState, invoke: Invoke, resource: Resource) -> TaskRequest:
        return TaskRequest(resource=resource, payload=invoke.payload, execution=self.info,
                           state_name=thread.cursor.state, task_token=invoke.task_token,
                           heartbeat_seconds=invoke.heartbeat_seconds)


async def answer(call: Awaitable[JSON]) -> Resumed:
    """A task's result, or its failure: a ``StatesError`` as raised, any other exception (a
    runner's bug) as ``States.TaskFailed``."""
    try:
        return Resumed(result=await call)
    except StatesError as exc:
        return Resumed(error=exc.error, cause=exc.cause, failure=True)
    except Exception as exc:  # noqa: BLE001 - a runner's bug is this task's failure, not the engine's
        return Resumed(error=TASK_FAILED, cause=f"{type(exc).__name__}: {exc}", failure=True)
