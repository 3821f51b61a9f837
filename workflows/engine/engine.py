"""The workflow engine: runs Standard executions durably, Express ones in memory.

One ``WorkflowEngine`` per Trellis instance. It holds a lease on every execution it runs (renewed in
the background); executions whose lease lapsed — their instance crashed or stopped — are claimed by
whichever instance looks first, so several instances on one PostgreSQL share the work and none runs
an execution twice. Task tokens answered on any instance reach the owner: directly when it is this
instance, otherwise through the store, which the owner polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflows.clock import Clock, SystemClock
from workflows.engine.effects import ChildExecution
from workflows.engine.records import JSON, Execution, HistoryEvent, StateMachine, TaskToken, dumps
from workflows.engine.run import ExecutionRun
from workflows.engine.store import SqlExecutionStore, Transition
from workflows.engine.tasks import TaskRegistry
from workflows.engine.threads import ChildRequest, MemoryJournal, RunResult
from workflows.errors import HEARTBEAT_TIMEOUT, WorkflowApiError
from workflows.language.interpreter import ExecutionInfo

log = logging.getLogger("trellis.workflows")


@dataclass(frozen=True)
class EngineOptions:
    region: str = "us-east-1"
    account_id: str = "123456789012"
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    lease_seconds: float = 30.0
    poll_seconds: float = 0.5


class ExecutionObserver(Protocol):
    """Told of every committed step of every execution this instance runs (after the commit):
    the new history events and, at the end, the final status. Must not block."""

    def execution_changed(self, execution_arn: str, state_machine_arn: str, events: Sequence[HistoryEvent],
                          status: str) -> None: ...


@dataclass(frozen=True)
class ExpressResult:
    execution: Execution
    result: RunResult
    history: list[HistoryEvent]


class WorkflowEngine:
    def __init__(self, store: SqlExecutionStore, registry: TaskRegistry, *, clock: Clock | None = None,
                 options: EngineOptions | None = None) -> None:
        self.store = store
        self.registry = registry
        self.clock: Clock = clock or SystemClock()
        self.options = options or EngineOptions()
        self.runs: dict[str, ExecutionRun] = {}
        self.observers: list[ExecutionObserver] = []
        self._jobs: dict[str, asyncio.Task[Any]] = {}
        self._token_waiters: dict[str, asyncio.Future[Mapping[str, JSON]]] = {}
        self._heartbeats: dict[str, float] = {}
        self._activity_waiters: dict[str, set[asyncio.Event]] = {}
        self._maintenance: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Per process: a token is persisted with its waiting task before anyone sees it, so a step
        # replayed elsewhere after a crash may mint a different one harmlessly.
        self._token_key = secrets.token_bytes(32)
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.setup()
        await self._claim_orphans(include_own=True)
        self._maintenance = asyncio.create_task(self._maintain())

    async def close(self) -> None:
        """Stop running executions here (they stay RUNNING in the store) and let go of their
        leases so another instance — or this one after a restart — resumes them at once."""
        self._closing = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        held = list(self.runs)
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        with contextlib.suppress(Exception):
            await self.store.release(self.options.instance_id, held)
        self.runs.clear()

    async def wait_idle(self, arn: str) -> None:
        """Until the execution's run here has ended (tests, StartSyncExecution-like waits)."""
        job = self._jobs.get(arn)
        if job is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(job)

    # -- ARNs -----------------------------------------------------------------------------------------

    def arn(self, kind: str, *parts: str) -> str:
        return f"arn:aws:states:{self.options.region}:{self.options.account_id}:{kind}:{':'.join(parts)}"

    # -- executions ---------------------------------------------------------------------------------

    def _info(self, machine: StateMachine, arn: str, name: str, input_value: JSON, started: float,
              redrive_count: int = 0) -> ExecutionInfo:
        return ExecutionInfo(execution_arn=arn, name=name, input=input_value, start_time=started,
                             role_arn=machine.role_arn, state_machine_arn=machine.arn,
                             state_machine_name=machine.name, redrive_count=redrive_count,
                             token_key=self._token_key)

    async def start_execution(self, machine: StateMachine, name: str | None, input_text: str,
                              parent: JSON = None) -> Execution:
        """Start a Standard execution; the same name while it runs with the same input returns it
        (AWS's idempotent start), any other reuse of a name is ``ExecutionAlreadyExists``."""
        name = name or str(uuid.uuid4())
        input_value = _parse_input(input_text)
        arn = self.arn("execution", machine.name, name)
        now = self.clock.now()
        definition = json.loads(machine.definition)
        info = self._info(machine, arn, name, input_value, now)
        run = self._new_run(arn, definition, info, deadline=_deadline(definition, now), has_parent=parent is not None)
        first = run.begin()
        execution = Execution(arn=arn, state_machine_arn=machine.arn, name=name, status="RUNNING",
                              input=input_text, output=None, error=None, cause=None,
                              definition=machine.definition, role_arn=machine.role_arn, started=now,
                              stopped=None, parent=parent)
        stored = await self.store.insert_execution(execution, self.options.instance_id,
                                                   now + self.options.lease_seconds, first, run.deadline)
        if stored is not execution:
            if stored.status == "RUNNING" and _same_json(stored.input, input_text):
                return stored
            raise WorkflowApiError("ExecutionAlreadyExists", f"Execution Already Exists: '{stored.arn}'")
        self._notify(machine.arn, first)
        self._launch(run)
        return execution

    def _new_run(self, arn: str, definition: Mapping[str, JSON], info: ExecutionInfo, *,
                 deadline: float | None, next_event_id: int = 1, has_parent: bool = False) -> ExecutionRun:
        return ExecutionRun(arn=arn, machine=definition, info=info, clock=self.clock, registry=self.registry,
                            tokens=self, journal=self.store, owner=self.options.instance_id,
                            next_event_id=next_event_id, deadline=deadline,
                            # Only a child (.sync, Distributed Map) has anyone to tell of its end.
                            on_end=(lambda result: self._ended(arn, result)) if has_parent else None,
                            on_commit=lambda transition: self._notify(info.state_machine_arn, transition),
                            start_child=lambda request: self._start_child(info, request),
                            on_child_cancelled=lambda child: self._stop_child(info, child))

    def _notify(self, state_machine_arn: str, transition: Transition) -> None:
        status = transition.end.status if transition.end is not None else "RUNNING"
        for observer in self.observers:
            try:
                observer.execution_changed(transition.execution_arn, state_machine_arn, transition.events, status)
            except Exception:
                log.exception("workflow observer failed")

    def _launch(self, run: ExecutionRun) -> None:
        if run.arn in self.runs:
            return  # already running here
        self.runs[run.arn] = run

        async def drive() -> None:
            try:
                await run.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The store still says RUNNING: the lease lapses and a later claim retries it.
                log.exception("workflow execution %s stopped on an engine error", run.arn)
            finally:
                self.runs.pop(run.arn, None)
                self._jobs.pop(run.arn, None)

        self._jobs[run.arn] = asyncio.create_task(drive())

    async def _resume(self, arn: str) -> None:
        execution = await self.store.get_execution(arn)
        if execution is None or execution.status != "RUNNING":
            return
        rows, next_event_id, deadline = await self.store.load_threads(arn)
        machine = StateMachine(arn=execution.state_machine_arn, name=execution.state_machine_arn.rsplit(":", 1)[1],
                               type="STANDARD", definition=execution.definition, role_arn=execution.role_arn,
                               status="ACTIVE", created=0, updated=0, revision_id="")
        info = self._info(machine, arn, execution.name, json.loads(execution.input), execution.started,
                          execution.redrive_count)
        run = self._new_run(arn, json.loads(execution.definition), info, deadline=deadline,
                            has_parent=execution.parent is not None,
                            next_event_id=next_event_id)
        run.restore(rows)
        stop = await self.store.stop_request(arn)
        if stop:
            run.stop(stop.get("error"), stop.get("cause"))
        self._launch(run)

    # -- Distributed Map iterations: child executions ------------------------------------------------

    def _child_arn_parts(self, parent: ExecutionInfo, token: str, label: str) -> tuple[str, str]:
        # A name derived from the (persisted) token: starting it again after a crash finds the same one.
        return f"{parent.state_machine_name}/{label}", hashlib.sha256(token.encode()).hexdigest()[:32]

    async def _start_child(self, parent: ExecutionInfo, request: ChildRequest) -> None:
        machine_name, name = self._child_arn_parts(parent, request.token, request.label)
        now = self.clock.now()
        child_machine = StateMachine(arn=self.arn("stateMachine", machine_name), name=machine_name,
                                     type="STANDARD", definition=dumps(request.definition),
                                     role_arn=parent.role_arn, status="ACTIVE", created=now, updated=now,
                                     revision_id="")
        await self.start_execution(child_machine, name, dumps(request.input),
                                   parent={"token": request.token, "pattern": "map",
                                           "execution": parent.execution_arn, "mapRunArn": request.map_run_arn})

    def _stop_child(self, parent: ExecutionInfo, child: ChildExecution) -> None:
        machine_name, name = self._child_arn_parts(parent, child.token, child.label)
        arn = self.arn("execution", machine_name, name)

        async def stop() -> None:
            with contextlib.suppress(WorkflowApiError):
                await self.stop_execution(arn, "States.Aborted", "The Map Run was stopped")
        task = asyncio.create_task(stop())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _ended(self, arn: str, result: RunResult) -> None:
        if result.status == "LOST":
            return
        execution = await self.store.get_execution(arn)
        if execution is not None and isinstance(execution.parent, Mapping):
            await self._answer_parent(execution, result)

    async def _answer_parent(self, execution: Execution, result: RunResult) -> None:
        parent = execution.parent
        assert isinstance(parent, Mapping)
        token = str(parent.get("token"))
        if parent.get("pattern") == "map":
            answer_map: dict[str, JSON] = ({"output": result.output} if result.status == "SUCCEEDED"
                                           else {"error": result.error, "cause": result.cause})
            with contextlib.suppress(WorkflowApiError):  # the Map stopped waiting (it failed, or was stopped)
                await self.complete_token(token, answer_map)
            return
        described = describe_execution(execution, result, self.clock.now(),
                                       parse_output=parent.get("pattern") == "sync:2")
        if result.status == "SUCCEEDED":
            answer: dict[str, JSON] = {"output": described}
        else:
            error = {"FAILED": "States.TaskFailed", "TIMED_OUT": "States.Timeout",
                     "ABORTED": "States.TaskFailed"}.get(result.status, "States.TaskFailed")
            answer = {"error": error, "cause": dumps(described)}
        await self.complete_token(token, answer)

    async def stop_execution(self, arn: str, error: str | None, cause: str | None) -> float:
        execution = await self.store.get_execution(arn)
        if execution is None:
            raise WorkflowApiError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        if execution.status == "RUNNING":
            await self.store.request_stop(arn, error, cause)
            run = self.runs.get(arn)
            if run is not None:
                run.stop(error, cause)
                await self.wait_idle(arn)
        return self.clock.now()

    async def run_express(self, machine: StateMachine, name: str | None, input_text: str, *,
                          keep_details: bool = False) -> ExpressResult:
        """An Express execution (StartSyncExecution): in memory, nothing persisted. Its history keeps
        every event's type and id, and the details only with ``keep_details`` (AWS keeps no history
        for Express executions; building it costs a JSON dump of each state's input and output)."""
        name = name or str(uuid.uuid4())
        input_value = _parse_input(input_text)
        arn = self.arn("express", machine.name, name, str(uuid.uuid4()))
        now = self.clock.now()
        definition = json.loads(machine.definition)
        journal = MemoryJournal()
        run = ExecutionRun(arn=arn, machine=definition, info=self._info(machine, arn, name, input_value, now),
                           clock=self.clock, registry=self.registry, tokens=self, journal=journal,
                           deadline=_deadline(definition, now), keep_details=keep_details)
        await journal.commit(run.begin())
        result = await run.run()
        execution = Execution(arn=arn, state_machine_arn=machine.arn, name=name, status=result.status,
                              input=input_text, output=None if result.status != "SUCCEEDED" else dumps(result.output),
                              error=result.error, cause=result.cause, definition=machine.definition,
                              role_arn=machine.role_arn, started=now, stopped=self.clock.now())
        return ExpressResult(execution=execution, result=result, history=journal.events)

    # -- task tokens -----------------------------------------------------------------------------------

    async def wait(self, token: str, heartbeat_seconds: float | None) -> Mapping[str, JSON]:
        """``TokenWaiter``: the answer to ``token``, or a heartbeat timeout."""
        stored = await self.store.get_token(token)
        if stored is not None and stored.outcome is not None:
            return stored.outcome
        future = self._token_waiters.get(token)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._token_waiters[token] = future
        try:
            if heartbeat_seconds is None:
                return await future
            self._heartbeats.setdefault(token, self.clock.now())
            while True:
                deadline = self._heartbeats[token] + heartbeat_seconds
                sleeper: asyncio.Future[Any] = asyncio.ensure_future(self.clock.sleep_until(deadline))
                answer: asyncio.Future[Any] = future
                done, _ = await asyncio.wait({answer, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                if answer in done:
                    sleeper.cancel()
                    return future.result()
                if self._heartbeats[token] + heartbeat_seconds <= self.clock.now():
                    return {"error": HEARTBEAT_TIMEOUT, "cause": None}
        finally:
            self._token_waiters.pop(token, None)
            self._heartbeats.pop(token, None)

    async def complete_token(self, token: str, answer: Mapping[str, JSON]) -> TaskToken:
        stored = await self.store.complete_token(token, dict(answer))
        if stored is None:
            existing = await self.store.get_token(token)
            if existing is None:
                raise WorkflowApiError("TaskDoesNotExist", "Task does not exist anymore")
            raise WorkflowApiError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
        future = self._token_waiters.get(token)
        if future is not None and not future.done():
            future.set_result(dict(answer))
        return stored

    async def heartbeat(self, token: str) -> None:
        now = self.clock.now()
        stored = await self.store.heartbeat_token(token, now)
        if stored is None:
            existing = await self.store.get_token(token)
            if existing is None:
                raise WorkflowApiError("TaskDoesNotExist", "Task does not exist anymore")
            raise WorkflowApiError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
        if token in self._heartbeats:
            self._heartbeats[token] = now

    # -- activities ----------------------------------------------------------------------------------

    async def get_activity_task(self, activity_arn: str, worker: str, wait_seconds: float = 60.0) -> TaskToken | None:
        """Long poll: the oldest queued task of the activity, to this worker alone, or None after
        ``wait_seconds``. Tasks queued on this instance wake the poll at once; others are seen by
        polling the store."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_seconds
        while True:
            task = await self.store.take_activity_task(activity_arn, worker, self.clock.now())
            if task is not None:
                return task
            remaining = give_up - loop.time()
            if remaining <= 0 or self._closing:
                return None
            event = asyncio.Event()
            self._activity_waiters.setdefault(activity_arn, set()).add(event)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, self.options.poll_seconds))
            finally:
                self._activity_waiters.get(activity_arn, set()).discard(event)

    def activity_queued(self, activity_arn: str) -> None:
        for event in self._activity_waiters.get(activity_arn, set()):
            event.set()

    # -- background: leases, takeovers, answers from other instances ---------------------------------

    async def _maintain(self) -> None:
        renew_every = max(self.options.lease_seconds / 3, self.options.poll_seconds)
        last_renew = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.poll_seconds)
            try:
                if loop.time() - last_renew >= renew_every:
                    last_renew = loop.time()
                    asked = list(self.runs)
                    held = set(await self.store.renew(self.options.instance_id, asked,
                                                      self.clock.now() + self.options.lease_seconds))
                    for arn in asked:
                        job, run = self._jobs.get(arn), self.runs.get(arn)
                        # Lost the lease: another instance runs it now. (One that just ended is
                        # not held either, but it is finishing its own way.)
                        if arn not in held and job is not None and run is not None and run.result is None:
                            job.cancel()
                await self._claim_orphans()
                await self._poll_answers()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("workflow engine maintenance failed; retrying")

    async def _claim_orphans(self, include_own: bool = False) -> None:
        """Executions whose lease lapsed; at start also those still leased to this instance's id (it
        was restarted) — never later, when they are the ones this instance is starting right now."""
        now = self.clock.now()
        claimed = await self.store.claim(self.options.instance_id, now, now + self.options.lease_seconds, 100,
                                         skip=list(self.runs), include_own=include_own)
        for arn in claimed:
            if arn not in self.runs:
                await self._resume(arn)

    async def _poll_answers(self) -> None:
        waiting = list(self.runs)
        if not waiting:
            return
        for token in await self.store.completed_tokens(waiting):
            future = self._token_waiters.get(token.token)
            if future is not None and not future.done() and token.outcome is not None:
                future.set_result(dict(token.outcome))
        beats = await self.store.token_heartbeats(waiting)
        for token_id, beat in beats.items():
            if beat is not None and token_id in self._heartbeats:
                self._heartbeats[token_id] = max(self._heartbeats[token_id], beat)
        for arn, stop in (await self.store.stop_requests(self.options.instance_id)).items():
            run = self.runs.get(arn)
            if run is not None and run.result is None:
                run.stop(stop.get("error"), stop.get("cause"))


def describe_execution(execution: Execution, result: RunResult | None, stopped: float, *,
                       parse_output: bool = False) -> dict[str, JSON]:
    """DescribeExecution's fields (dates as epoch seconds), as a .sync task's result."""
    status = result.status if result is not None else execution.status
    described: dict[str, JSON] = {
        "ExecutionArn": execution.arn, "StateMachineArn": execution.state_machine_arn, "Name": execution.name,
        "Status": status, "StartDate": execution.started, "StopDate": stopped,
        "Input": json.loads(execution.input) if parse_output else execution.input,
        "InputDetails": {"Included": True},
    }
    if result is not None and status == "SUCCEEDED":
        described["Output"] = result.output if parse_output else dumps(result.output)
        described["OutputDetails"] = {"Included": True}
    if result is not None and result.error is not None:
        described["Error"] = result.error
    if result is not None and result.cause is not None:
        described["Cause"] = result.cause
    return described


def _parse_input(text: str) -> JSON:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise WorkflowApiError("InvalidExecutionInput", f"Invalid execution input: {exc}") from None


def _same_json(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a == b


def _deadline(definition: Mapping[str, JSON], now: float) -> float | None:
    timeout = definition.get("TimeoutSeconds")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 0:
        return now + timeout
    return None
