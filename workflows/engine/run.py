"""One execution, driven: its threads, their effects, and the journal that makes it durable.

Work happens in *rounds*. A round takes every thread that can move (new, or whose effect just
completed), advances them in turns, one state each, until every one waits or ends (or the round
reaches its step limit, so a loop of Pass states yields) — and then writes every
cursor, history event and task token the round produced in one ``Transition``. Only after that
commit does anything leave the round: timers are armed, tasks are dispatched, waiters are told.
So an effect never starts from a state the database does not hold, and a crash at any point
resumes every thread from a committed state boundary. Without a journal (Express executions,
local CLI runs) the same code runs in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from workflows.clock import Clock
from workflows.engine.dispatch import TaskDispatcher
from workflows.engine.effects import ChildExecution, effect_from_json
from workflows.engine.records import JSON, HistoryEvent, TaskToken, ThreadRow, dumps
from workflows.engine.store import ExecutionEnd, LeaseLost, Transition
from workflows.engine.tasks import TaskRegistry, parse_resource
from workflows.engine.threads import (
    TOP,
    ChildRequest,
    ChildStarter,
    DiscardedHistory,
    Journal,
    RunResult,
    TaskInvoker,
    ThreadState,
    TokenWaiter,
    ending,
)
from workflows.errors import HEARTBEAT_TIMEOUT, TIMEOUT
from workflows.language.interpreter import (
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
    Sleep,
    Suspended,
    abort_thread,
    advance,
    fork_progress,
    scope_states,
)

Ready = deque[tuple[str, "Resumed | None"]]
MAX_STEPS_PER_ROUND = 500   # a Pass loop still yields to commits and to other executions
MAX_HISTORY_EVENTS = 25_000  # AWS's per-execution history limit


class _Round:
    """What one round produced, for one commit."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []
        self.tokens: list[TaskToken] = []
        self.drop_tokens: list[str] = []
        self.after: list[Callable[[], None]] = []


class ExecutionRun:
    def __init__(self, *, arn: str, machine: Mapping[str, JSON], info: ExecutionInfo, clock: Clock,
                 registry: TaskRegistry, tokens: TokenWaiter, journal: Journal,
                 owner: str = "", next_event_id: int = 1, deadline: float | None = None,
                 on_end: Callable[[RunResult], Awaitable[None]] | None = None,
                 on_commit: Callable[[Transition], None] | None = None,
                 random: Callable[[], float] | None = None,
                 invoker: TaskInvoker | None = None,
                 start_child: ChildStarter | None = None,
                 on_child_cancelled: Callable[[ChildExecution], None] | None = None,
                 keep_details: bool = True) -> None:
        self.arn = arn
        self.machine = machine
        self.info = info
        self.clock = clock
        self.registry = registry
        self.tokens = tokens
        self.journal = journal
        self.owner = owner
        self.next_event_id = next_event_id
        self.deadline = deadline
        self.on_end = on_end
        self.on_commit = on_commit
        self.random = random  # Retry's jitter (tests pin it)
        self.invoker = invoker  # local runs: it answers every Task (see TaskDispatcher)
        self.dispatcher = TaskDispatcher(info=info, clock=clock, registry=registry, tokens=tokens, invoker=invoker,
                                         mark_dispatched=lambda thread_id: self._wakeups.put_nowait(
                                             ("dispatched", thread_id, None)))
        # Without one (local runs), a Distributed Map's iterations run as threads of this run.
        self.start_child = start_child
        self.on_child_cancelled = on_child_cancelled
        self.threads: dict[str, ThreadState] = {}
        self.result: RunResult | None = None
        self._wakeups: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
        self._round = _Round()
        self._deadline_job: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self._discarded = DiscardedHistory()
        # Express executions have no history API on AWS: their per-state event details go unbuilt.
        self.keeps_details = keep_details
        self._dirty: set[str] = set()  # threads whose row the next commit writes

    # -- building ---------------------------------------------------------------------------------

    def begin(self) -> Transition:
        """The first transition of a new execution: ExecutionStarted and the top-level thread."""
        self._round = _Round()
        started = self._append("ExecutionStarted", {"executionStartedEventDetails": {
            "input": dumps(self.info.input), "inputDetails": {"truncated": False},
            "roleArn": self.info.role_arn, "stateMachineArn": self.info.state_machine_arn}}, 0)
        cursor = Cursor(scope=(), state=str(self.machine["StartAt"]), input=self.info.input,
                        variables=({},), previous_event_id=started)
        self.threads[TOP] = ThreadState(id=TOP, parent=None, cursor=cursor, status="READY")
        self._dirty.add(TOP)
        return self._transition(None)

    def restore(self, rows: list[ThreadRow]) -> None:
        """Rebuild the threads of a persisted execution (after a restart or a takeover)."""
        for row in rows:
            effect_json = row.effect
            thread = ThreadState(id=row.thread_id, parent=row.parent_id, cursor=Cursor.from_json(row.cursor),
                                 status=row.status, wake_at=row.wake_at,
                                 outcome=dict(row.outcome) if row.outcome is not None else None)
            if effect_json is not None:
                thread.effect = effect_from_json(effect_json)
                thread.dispatched = bool(effect_json.get("dispatched"))
                thread.fork_group = str(effect_json.get("group") or "")
            self.threads[row.thread_id] = thread
        for thread in self.threads.values():
            parent = self.threads.get(thread.parent) if thread.parent is not None else None
            # Only the children of the fork the parent waits for now (an earlier fork's stay behind).
            if parent is not None and isinstance(parent.effect, Fork) and parent.status == "WAITING" \
                    and thread.id.startswith(f"{parent.id}.{parent.fork_group}."):
                parent.children.append(thread.id)
                if thread.status != "PENDING":
                    parent.started_children += 1
                if thread.status in ("ENDED", "FAILED"):
                    parent.finished_children += 1
                    parent.failed_children += thread.status == "FAILED"
                    parent.last_child_event = max(parent.last_child_event,
                                                  int((thread.outcome or {}).get("previous_event_id") or 0))
        for thread in self.threads.values():
            thread.children.sort(key=lambda cid: int(cid.rsplit(".", 1)[1]))

    # -- running ----------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Drive the execution to its end (or until cancelled: then it simply stops, and whatever
        was committed is where another run picks it up)."""
        try:
            if self.deadline is not None:
                self._deadline_job = asyncio.create_task(self._expire_at(self.deadline))
            for thread in list(self.threads.values()):
                if thread.status == "READY":
                    self._wakeups.put_nowait(("step", thread.id, None))
                elif thread.status == "WAITING":
                    self._rearm(thread)
            while self.result is None:
                first = await self._wakeups.get()
                batch = [first]
                while not self._wakeups.empty():
                    batch.append(self._wakeups.get_nowait())
                await self._run_round(batch)
            return self.result
        finally:
            self._cancel_jobs()
            if self._deadline_job is not None:
                self._deadline_job.cancel()
            self.done.set()

    def deliver(self, thread_id: str, resumed: Resumed) -> None:
        """An effect of ``thread_id`` completed (called by timers, tasks and the engine)."""
        self._wakeups.put_nowait(("resume", thread_id, resumed))

    def stop(self, error: str | None, cause: str | None) -> None:
        self._wakeups.put_nowait(("stop", TOP, (error, cause)))

    async def _run_round(self, batch: list[tuple[str, str, Any]]) -> None:
        self._round = _Round()
        ready: Ready = deque()
        for kind, thread_id, value in batch:
            if kind == "stop":
                error, cause = value
                self._finish("ABORTED", {"executionAbortedEventDetails": _error_details(error, cause)},
                             RunResult("ABORTED", error=error, cause=cause), "ExecutionAborted")
                break
            if kind == "timeout":
                self._finish("TIMED_OUT", {"executionTimedOutEventDetails": {"error": TIMEOUT}},
                             RunResult("TIMED_OUT", error=TIMEOUT), "ExecutionTimedOut")
                break
            thread = self.threads.get(thread_id)
            if thread is None or thread.status not in ("READY", "WAITING"):
                continue  # a late answer for a thread that was cancelled or already moved on
            if kind == "dispatched":
                thread.dispatched = True
                self._dirty.add(thread.id)
                continue
            if kind == "resume":
                thread.status, thread.job = "READY", None
                if isinstance(thread.effect, ChildExecution):
                    self._child_execution_ended(thread, value, ready)
                    continue
            ready.append((thread_id, value))
        steps = 0
        while ready and self.result is None:
            if steps >= MAX_STEPS_PER_ROUND:
                # Leave the rest for the next round, after this one's commit.
                for rest_id, rest_resumed in ready:
                    self._round.after.append(_requeue(self, rest_id, rest_resumed))
                break
            thread_id, resumed = ready.popleft()
            self._step(thread_id, resumed, ready)
            steps += 1
        await self._commit()

    def _step(self, thread_id: str, resumed: Resumed | None, ready: Ready) -> None:
        """Advance one thread by one state; a thread that can go on takes its turn again after the
        others (branches and iterations interleave, as they run concurrently on AWS)."""
        thread = self.threads[thread_id]
        if thread.status != "READY":
            return
        if self.next_event_id > MAX_HISTORY_EVENTS:
            self._fail_execution("States.Runtime", "The execution reached the maximum number of history "
                                 f"events ({MAX_HISTORY_EVENTS}).")
            return
        if thread.resume is not None:
            resumed, thread.resume = thread.resume, None
        self._apply(thread, self._advance(thread, resumed), ready)
        if thread.status == "READY":
            ready.append((thread.id, None))

    def _advance(self, thread: ThreadState, resumed: Resumed | None) -> Outcome:
        try:
            return advance(self.machine, thread.cursor, self.info, self._history_for(thread), self.clock.now(),
                           resumed, random=self.random)
        except Exception as exc:  # noqa: BLE001 - an interpreter bug must fail the execution, not the engine
            return Failed("States.Runtime", f"Internal error while executing the state "
                                            f"'{thread.cursor.state}': {type(exc).__name__}: {exc}")

    def _apply(self, thread: ThreadState, outcome: Outcome, ready: Ready) -> None:
        self._dirty.add(thread.id)
        if isinstance(outcome, Moved):
            thread.cursor, thread.effect, thread.wake_at = outcome.cursor, None, None
            return
        if isinstance(outcome, Suspended):
            thread.cursor, thread.effect, thread.status = outcome.cursor, outcome.effect, "WAITING"
            thread.dispatched = False
            self._suspend(thread, outcome.effect, ready)
            return
        thread.effect, thread.wake_at = None, None
        if isinstance(outcome, Ended):
            thread.status = "ENDED"
            thread.outcome = {"output": outcome.output, "previous_event_id": outcome.previous_event_id}
        else:
            thread.status = "FAILED"
            thread.outcome = {"error": outcome.error, "cause": outcome.cause,
                              "previous_event_id": outcome.previous_event_id}
        if thread.parent is None:
            if isinstance(outcome, Ended):
                self._finish("SUCCEEDED", {"executionSucceededEventDetails": {
                    "output": dumps(outcome.output), "outputDetails": {"truncated": False}}},
                    RunResult("SUCCEEDED", output=outcome.output), "ExecutionSucceeded",
                    outcome.previous_event_id)
            else:
                self._fail_execution(outcome.error, outcome.cause, outcome.previous_event_id)
            return
        self._child_finished(thread, ready)

    # -- effects ----------------------------------------------------------------------------------

    def _suspend(self, thread: ThreadState, effect: Effect, ready: Ready) -> None:
        if isinstance(effect, Sleep):
            thread.wake_at = effect.until
            self._round.after.append(lambda: self._arm_sleep(thread))
        elif isinstance(effect, Invoke):
            limits = [(effect.timeout_seconds, TIMEOUT)]
            if self.invoker is not None:
                limits.append((effect.heartbeat_seconds, HEARTBEAT_TIMEOUT))
            set_limits = [(float(seconds), error) for seconds, error in limits if seconds is not None]
            thread.wake_at, thread.deadline_error = None, TIMEOUT
            if set_limits:
                seconds, thread.deadline_error = min(set_limits, key=lambda limit: limit[0])
                thread.wake_at = self.clock.now() + seconds
            resource = parse_resource(effect.resource)
            if self.invoker is None and resource is not None and resource.waits_for_token:
                token = effect.task_token or secrets.token_urlsafe(48)
                if effect.task_token is None:
                    thread.effect = replace(effect, task_token=token)
                activity = resource.arn if (resource.service, resource.action) == ("states", "activity") else None
                self._round.tokens.append(TaskToken(
                    token=token, execution_arn=self.arn, thread_id=thread.id, activity_arn=activity,
                    status="QUEUED" if activity else "WAITING", input=dumps(effect.payload), worker=None,
                    heartbeat_deadline=None, outcome=None))
            self._round.after.append(lambda: self._arm_task(thread))
        elif isinstance(effect, Fork):
            thread.children = []
            thread.started_children = thread.finished_children = thread.failed_children = 0
            thread.last_child_event = 0
            # Unique per fork: the same state may fork again (a loop, a retry) under the same parent.
            thread.fork_group = str(self.next_event_id)
            for index, child_cursor in enumerate(effect.children):
                child = ThreadState(id=f"{thread.id}.{thread.fork_group}.{index}", parent=thread.id,
                                    cursor=child_cursor,
                                    status="PENDING")
                self.threads[child.id] = child
                self._dirty.add(child.id)
                thread.children.append(child.id)
            if not effect.children:
                # Nothing to wait for: the state goes on at once (``_drive`` picks this up).
                thread.status, thread.resume = "READY", fork_progress(effect, []).resumed()
                return
            self._start_children(thread, ready)

    def _start_children(self, parent: ThreadState, ready: Ready) -> None:
        assert isinstance(parent.effect, Fork)
        limit = parent.effect.max_concurrency or len(parent.children)
        running = parent.started_children - parent.finished_children
        starts: list[tuple[str, Resumed | None]] = []
        while parent.started_children < len(parent.children) and running < limit:
            child = self.threads[parent.children[parent.started_children]]
            parent.started_children += 1
            running += 1
            self._dirty.add(child.id)
            if parent.effect.distributed and self.start_child is not None:
                self._start_child_execution(parent, child)
                continue
            child.status = "READY"
            starts.append((child.id, None))
        ready.extend(starts)

    def _start_child_execution(self, parent: ThreadState, child: ThreadState) -> None:
        token = secrets.token_urlsafe(48)
        child.status, child.effect = "WAITING", ChildExecution(token=token, label=parent.cursor.state)
        self._round.tokens.append(TaskToken(token=token, execution_arn=self.arn, thread_id=child.id,
                                            activity_arn=None, status="WAITING", input=None, worker=None,
                                            heartbeat_deadline=None, outcome=None))
        self._round.after.append(lambda: self._arm_child_execution(child))

    def _arm_child_execution(self, thread: ThreadState) -> None:
        effect = thread.effect
        if thread.status != "WAITING" or not isinstance(effect, ChildExecution) or self.start_child is None:
            return
        starter = self.start_child
        scope_machine = dict(self.machine)
        processor_states = scope_states(self.machine, thread.cursor.scope)
        definition = {"StartAt": thread.cursor.state, "States": processor_states}
        if "QueryLanguage" in scope_machine:
            definition["QueryLanguage"] = scope_machine["QueryLanguage"]
        parent = self.threads[thread.parent or TOP]
        map_run_arn = parent.effect.map_run_arn if isinstance(parent.effect, Fork) else ""
        request = ChildRequest(token=effect.token, label=effect.label, index=int(thread.id.rsplit(".", 1)[1]),
                               definition=definition, input=thread.cursor.input, map_run_arn=map_run_arn)

        async def perform() -> None:
            if not thread.dispatched:
                await starter(request)
                self._wakeups.put_nowait(("dispatched", thread.id, None))
            answer = await self.tokens.wait(effect.token, None)
            if "error" in answer:
                self.deliver(thread.id, Resumed(error=answer.get("error"), cause=answer.get("cause"), failure=True))
            else:
                self.deliver(thread.id, Resumed(result=answer.get("output")))
        thread.job = asyncio.create_task(perform())

    def _child_execution_ended(self, thread: ThreadState, resumed: Resumed, ready: Ready) -> None:
        self._apply(thread, Failed(resumed.error, resumed.cause) if resumed.failed else Ended(resumed.result), ready)

    def _child_finished(self, child: ThreadState, ready: Ready) -> None:
        parent = self.threads[child.parent or TOP]
        if parent.status != "WAITING" or not isinstance(parent.effect, Fork):
            return
        fork = parent.effect
        parent.finished_children += 1
        parent.failed_children += child.status == "FAILED"
        parent.last_child_event = max(parent.last_child_event,
                                      int((child.outcome or {}).get("previous_event_id") or 0))
        if parent.failed_children == 0 and parent.finished_children < len(parent.children):
            self._start_children(parent, ready)  # nothing to decide until all end or one fails
            return
        children = [self.threads[cid] for cid in parent.children]
        decision = fork_progress(fork, [ending(c) for c in children])
        if decision.action == "continue":
            self._start_children(parent, ready)
            return
        for other in children:
            if other.status in ("READY", "WAITING"):
                abort_thread(other.cursor, self._history_for(other))
            if other.status in ("PENDING", "READY", "WAITING"):
                self._cancel(other)
        last_event = 0 if fork.distributed else parent.last_child_event
        parent.status = "READY"
        ready.append((parent.id, decision.resumed(last_event)))

    def _history_for(self, thread: ThreadState) -> History:
        """A Distributed Map's iterations are child executions: their events are not in this history."""
        parent_id = thread.parent
        while parent_id is not None:
            parent = self.threads[parent_id]
            if isinstance(parent.effect, Fork) and parent.effect.distributed:
                return self._discarded
            parent_id = parent.parent
        return self

    def _cancel(self, thread: ThreadState) -> None:
        thread.status = "CANCELLED"
        self._dirty.add(thread.id)
        if isinstance(thread.effect, Invoke) and thread.effect.task_token:
            self._round.drop_tokens.append(thread.effect.task_token)
        if isinstance(thread.effect, ChildExecution):
            self._round.drop_tokens.append(thread.effect.token)
            if self.on_child_cancelled is not None:
                self._round.after.append(partial(self.on_child_cancelled, thread.effect))
        thread.effect, thread.wake_at = None, None
        if thread.job is not None:
            thread.job.cancel()
            thread.job = None
        for cid in thread.children:
            child = self.threads[cid]
            if child.status in ("PENDING", "READY", "WAITING"):
                self._cancel(child)

    def _rearm(self, thread: ThreadState) -> None:
        if isinstance(thread.effect, Sleep):
            self._arm_sleep(thread)
        elif isinstance(thread.effect, Invoke):
            self._arm_task(thread)
        elif isinstance(thread.effect, ChildExecution):
            self._arm_child_execution(thread)
        # A waiting Fork parent is woken by its children.

    def _arm_sleep(self, thread: ThreadState) -> None:
        effect = thread.effect
        if thread.status != "WAITING" or not isinstance(effect, Sleep):
            return  # cancelled in the round that put it to sleep (a sibling failed, the execution ended)

        async def sleep() -> None:
            await self.clock.sleep_until(effect.until)
            self.deliver(thread.id, Resumed(result=None))
        thread.job = asyncio.create_task(sleep())

    def _arm_task(self, thread: ThreadState) -> None:
        effect = thread.effect
        if thread.status != "WAITING" or not isinstance(effect, Invoke):
            return  # cancelled in the round that scheduled it
        thread.job = asyncio.create_task(self._perform(thread, effect))

    async def _perform(self, thread: ThreadState, invoke: Invoke) -> None:
        self.deliver(thread.id, await self.dispatcher.perform(thread, invoke))

    async def _expire_at(self, deadline: float) -> None:
        await self.clock.sleep_until(deadline)
        self._wakeups.put_nowait(("timeout", TOP, None))

    # -- the end ----------------------------------------------------------------------------------

    def _fail_execution(self, error: str | None, cause: str | None, previous: int = 0) -> None:
        self._finish("FAILED", {"executionFailedEventDetails": _error_details(error, cause)},
                     RunResult("FAILED", error=error, cause=cause), "ExecutionFailed", previous)

    def _finish(self, status: str, details: dict[str, JSON], result: RunResult, event_type: str,
                previous: int = 0) -> None:
        if self.result is not None:
            return
        self._append(event_type, details, previous or self.next_event_id - 1)
        self.result = result
        for thread in self.threads.values():
            if thread.status in ("PENDING", "READY", "WAITING") and thread.id != TOP:
                self._cancel(thread)
        top = self.threads.get(TOP)
        if top is not None and top.status in ("READY", "WAITING"):
            self._cancel(top)

    # -- history and commits ------------------------------------------------------------------------

    def append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        """The interpreter's ``History``."""
        return self._append(event_type, details, previous_event_id)

    def _append(self, event_type: str, details: Mapping[str, Any] | None, previous_event_id: int) -> int:
        event_id = self.next_event_id
        self.next_event_id += 1
        self._round.events.append(HistoryEvent(id=event_id, previous_id=previous_event_id, type=event_type,
                                               timestamp=self.clock.now(), details=details))
        return event_id

    def _transition(self, end: ExecutionEnd | None) -> Transition:
        round_ = self._round
        # Only a durable journal needs the threads' rows (a memory journal keeps just the history).
        writes = [self.threads[tid].write() for tid in sorted(self._dirty)] if self.journal.durable else []
        self._dirty.clear()
        return Transition(execution_arn=self.arn, owner=self.owner, next_event_id=self.next_event_id,
                          threads=writes, events=list(round_.events), tokens=list(round_.tokens),
                          end=end, drop_tokens=list(round_.drop_tokens))

    async def _commit(self) -> None:
        end = None
        if self.result is not None:
            result = self.result
            end = ExecutionEnd(status=result.status,
                               output=None if result.status != "SUCCEEDED" else dumps(result.output),
                               error=result.error, cause=result.cause, stopped=self.clock.now())
        transition = self._transition(end)
        try:
            await self.journal.commit(transition)
        except LeaseLost:
            # Another instance took the execution over: stop without touching anything.
            self.result = RunResult("LOST")
            return
        if self.on_commit is not None and (transition.events or transition.end is not None):
            self.on_commit(transition)
        for action in self._round.after:
            action()
        self._round = _Round()
        if self.result is not None and self.on_end is not None:
            await self.on_end(self.result)

    def _cancel_jobs(self) -> None:
        for thread in self.threads.values():
            if thread.job is not None:
                thread.job.cancel()
                thread.job = None


def _requeue(run: ExecutionRun, thread_id: str, resumed: Resumed | None) -> Callable[[], None]:
    def again() -> None:
        thread = run.threads.get(thread_id)
        if thread is not None and thread.status == "READY":
            run._wakeups.put_nowait(("step", thread_id, resumed))
    return again


def _error_details(error: str | None, cause: str | None) -> dict[str, JSON]:
    details: dict[str, JSON] = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    return details


async def wait_quietly(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
