"""The execution store: state machines, executions, threads, history, task tokens, activities.

``ExecutionStore`` is the protocol; ``SqlExecutionStore`` implements it over a ``SqlDatabase``
(SQLite or PostgreSQL). Writes go through the database's group committer, so the transitions of
many executions share one transaction and one fsync; each ``Transition`` is atomic on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from datasources.sql import SqlDatabase
from workflows.engine import tables as t
from workflows.engine.records import (
    JSON,
    Activity,
    Execution,
    HistoryEvent,
    StateMachine,
    TaskToken,
    ThreadRow,
    dumps,
)


@dataclass(frozen=True)
class ThreadWrite:
    thread_id: str
    parent_id: str | None
    status: str
    cursor: JSON
    effect: JSON = None
    wake_at: float | None = None
    outcome: JSON = None


@dataclass(frozen=True)
class ExecutionEnd:
    status: str
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stopped: float = 0.0


@dataclass(frozen=True)
class Transition:
    """Everything one step of one execution changes, written in one transaction."""

    execution_arn: str
    owner: str
    next_event_id: int
    threads: Sequence[ThreadWrite] = ()
    events: Sequence[HistoryEvent] = ()
    tokens: Sequence[TaskToken] = ()
    end: ExecutionEnd | None = None
    drop_tokens: Sequence[str] = ()


@dataclass(frozen=True)
class MapRunSummary:
    map_run_arn: str
    execution_arn: str
    counts: Mapping[str, int]          # by execution status
    started: float
    stopped: float | None


class LeaseLost(Exception):
    """Another instance owns the execution now (our lease expired); this instance must let go."""


class ExecutionStore(Protocol):
    async def create_state_machine(self, machine: StateMachine) -> StateMachine: ...
    async def get_state_machine(self, arn: str) -> StateMachine | None: ...
    async def get_state_machine_by_name(self, name: str) -> StateMachine | None: ...
    async def list_state_machines(self, after: str | None, limit: int) -> list[StateMachine]: ...
    async def update_state_machine(self, arn: str, definition: str | None, role_arn: str | None,
                                   updated: float, revision_id: str) -> StateMachine | None: ...
    async def delete_state_machine(self, arn: str) -> None: ...
    async def insert_execution(self, execution: Execution, owner: str, lease_until: float,
                               first: Transition, deadline: float | None) -> Execution: ...
    async def get_execution(self, arn: str) -> Execution | None: ...
    async def list_executions(self, state_machine_arn: str, status: str | None, after: str | None,
                              limit: int) -> list[Execution]: ...
    async def history(self, arn: str, reverse: bool, after_id: int | None, limit: int) -> list[HistoryEvent]: ...
    async def commit(self, transition: Transition) -> None: ...
    async def claim(self, owner: str, now: float, lease_until: float, limit: int,
                    skip: Sequence[str] = (), include_own: bool = False) -> list[str]: ...
    async def renew(self, owner: str, arns: Sequence[str], lease_until: float) -> list[str]: ...
    async def load_threads(self, arn: str) -> tuple[list[ThreadRow], int, float | None]: ...
    async def request_stop(self, arn: str, error: str | None, cause: str | None) -> bool: ...
    async def stop_request(self, arn: str) -> JSON: ...
    async def get_token(self, token: str) -> TaskToken | None: ...
    async def complete_token(self, token: str, outcome: JSON) -> TaskToken | None: ...
    async def heartbeat_token(self, token: str, deadline: float | None) -> TaskToken | None: ...
    async def completed_tokens(self, execution_arns: Sequence[str]) -> list[TaskToken]: ...
    async def take_activity_task(self, activity_arn: str, worker: str,
                                 heartbeat_deadline: float | None) -> TaskToken | None: ...
    async def create_activity(self, activity: Activity) -> Activity: ...
    async def get_activity(self, arn: str) -> Activity | None: ...
    async def list_activities(self, after: str | None, limit: int) -> list[Activity]: ...
    async def delete_activity(self, arn: str) -> None: ...


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _machine(row: Any) -> StateMachine:
    return StateMachine(arn=row.arn, name=row.name, type=row.type, definition=row.definition,
                        role_arn=row.role_arn, status=row.status, created=row.created, updated=row.updated,
                        revision_id=row.revision_id, description=row.description or "",
                        options=_loads(row.options) or {})


def _execution(row: Any) -> Execution:
    return Execution(arn=row.arn, state_machine_arn=row.state_machine_arn, name=row.name, status=row.status,
                     input=row.input, output=row.output, error=row.error, cause=row.cause,
                     definition=row.definition, role_arn=row.role_arn, started=row.started,
                     stopped=row.stopped, redrive_count=row.redrive_count, parent=_loads(row.parent))


def _event(row: Any) -> HistoryEvent:
    return HistoryEvent(id=row.id, previous_id=row.previous_id, type=row.type, timestamp=row.timestamp,
                        details=_loads(row.details))


def _token(row: Any) -> TaskToken:
    return TaskToken(token=row.token, execution_arn=row.execution_arn, thread_id=row.thread_id,
                     activity_arn=row.activity_arn, status=row.status, input=row.input, worker=row.worker,
                     heartbeat_deadline=row.heartbeat_deadline, outcome=_loads(row.outcome))


def _thread_values(arn: str, write: ThreadWrite) -> dict[str, Any]:
    return {"execution_arn": arn, "thread_id": write.thread_id, "parent_id": write.parent_id,
            "status": write.status, "cursor": dumps(write.cursor),
            "effect": None if write.effect is None else dumps(write.effect), "wake_at": write.wake_at,
            "outcome": None if write.outcome is None else dumps(write.outcome)}


# Statements built once: a transition runs several per round, and building a statement costs more
# than SQLite takes to run it.
_OWNED = (t.executions.c.arn == bindparam("k_arn"), t.executions.c.owner == bindparam("k_owner"),
          t.executions.c.status == "RUNNING")
_PROGRESS = update(t.executions).where(*_OWNED).values(next_event_id=bindparam("k_next"))
_END = update(t.executions).where(*_OWNED).values(
    next_event_id=bindparam("k_next"), status=bindparam("k_status"), output=bindparam("k_output"),
    error=bindparam("k_error"), cause=bindparam("k_cause"), stopped=bindparam("k_stopped"), owner=None,
    lease_until=0.0)
_INSERT_EVENTS = insert(t.events)
_INSERT_TOKEN = insert(t.task_tokens)
_THREAD_COLUMNS = ("parent_id", "status", "cursor", "effect", "wake_at", "outcome")
_THREAD_UPSERTS: dict[str, Any] = {}


def _thread_upsert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE`` for thread rows (SQLite and PostgreSQL spell it alike)."""
    statement = _THREAD_UPSERTS.get(dialect)
    if statement is None:
        build = sqlite_insert if dialect == "sqlite" else postgresql_insert
        inserting = build(t.threads)
        statement = inserting.on_conflict_do_update(
            index_elements=[t.threads.c.execution_arn, t.threads.c.thread_id],
            set_={name: inserting.excluded[name] for name in _THREAD_COLUMNS})
        _THREAD_UPSERTS[dialect] = statement
    return statement


def _write_transition(conn: Connection, transition: Transition) -> None:
    arn = transition.execution_arn
    keys: dict[str, Any] = {"k_arn": arn, "k_owner": transition.owner, "k_next": transition.next_event_id}
    end = transition.end
    if end is not None:
        keys.update(k_status=end.status, k_output=end.output, k_error=end.error, k_cause=end.cause,
                    k_stopped=end.stopped)
    if conn.execute(_PROGRESS if end is None else _END, keys).rowcount != 1:
        raise LeaseLost(arn)
    if transition.threads and end is None:
        rows = [_thread_values(arn, write) for write in transition.threads]
        if conn.dialect.name in ("sqlite", "postgresql"):
            conn.execute(_thread_upsert(conn.dialect.name), rows)
        else:
            for row in rows:
                keyed = (t.threads.c.execution_arn == arn, t.threads.c.thread_id == row["thread_id"])
                if not conn.execute(update(t.threads).where(*keyed).values(**row)).rowcount:
                    conn.execute(insert(t.threads).values(**row))
    if transition.events:
        conn.execute(_INSERT_EVENTS, [
            {"execution_arn": arn, "id": e.id, "previous_id": e.previous_id, "type": e.type,
             "timestamp": e.timestamp, "details": None if e.details is None else dumps(e.details)}
            for e in transition.events
        ])
    if transition.tokens:
        created = transition.events[0].timestamp if transition.events else 0.0
        conn.execute(_INSERT_TOKEN, [
            {"token": token.token, "execution_arn": arn, "thread_id": token.thread_id,
             "activity_arn": token.activity_arn, "status": token.status, "input": token.input, "worker": None,
             "heartbeat_deadline": token.heartbeat_deadline, "outcome": None, "created": created}
            for token in transition.tokens
        ])
    if transition.drop_tokens:
        conn.execute(delete(t.task_tokens).where(t.task_tokens.c.token.in_(list(transition.drop_tokens))))
    if end is not None:
        # Whatever the execution still waited for can never be answered now, and its threads are
        # only needed to resume it.
        conn.execute(delete(t.task_tokens).where(t.task_tokens.c.execution_arn == arn))
        conn.execute(delete(t.threads).where(t.threads.c.execution_arn == arn))


@dataclass
class SqlExecutionStore:
    db: SqlDatabase
    durable: bool = field(default=True, init=False)  # a Journal that keeps thread rows
    _ready: bool = field(default=False, init=False)

    async def setup(self) -> None:
        if not self._ready:
            await self.db.run(lambda conn: t.metadata.create_all(conn))
            self._ready = True

    # -- state machines -------------------------------------------------------------------------

    async def create_state_machine(self, machine: StateMachine) -> StateMachine:
        def work(conn: Connection) -> StateMachine:
            existing = conn.execute(select(t.state_machines).where(t.state_machines.c.name == machine.name)).first()
            if existing is not None:
                return _machine(existing)
            conn.execute(insert(t.state_machines).values(
                arn=machine.arn, name=machine.name, type=machine.type, definition=machine.definition,
                role_arn=machine.role_arn, status=machine.status, created=machine.created,
                updated=machine.updated, revision_id=machine.revision_id, description=machine.description,
                options=dumps(dict(machine.options))))
            return machine
        return await self.db.write(work)

    async def get_state_machine(self, arn: str) -> StateMachine | None:
        def work(conn: Connection) -> StateMachine | None:
            row = conn.execute(select(t.state_machines).where(t.state_machines.c.arn == arn)).first()
            return None if row is None else _machine(row)
        return await self.db.read(work)

    async def get_state_machine_by_name(self, name: str) -> StateMachine | None:
        def work(conn: Connection) -> StateMachine | None:
            row = conn.execute(select(t.state_machines).where(t.state_machines.c.name == name)).first()
            return None if row is None else _machine(row)
        return await self.db.read(work)

    async def list_state_machines(self, after: str | None, limit: int) -> list[StateMachine]:
        def work(conn: Connection) -> list[StateMachine]:
            query = select(t.state_machines).order_by(t.state_machines.c.arn).limit(limit)
            if after is not None:
                query = query.where(t.state_machines.c.arn > after)
            return [_machine(row) for row in conn.execute(query)]
        return await self.db.read(work)

    async def update_state_machine(self, arn: str, definition: str | None, role_arn: str | None,
                                   updated: float, revision_id: str) -> StateMachine | None:
        def work(conn: Connection) -> StateMachine | None:
            values: dict[str, Any] = {"updated": updated, "revision_id": revision_id}
            if definition is not None:
                values["definition"] = definition
            if role_arn is not None:
                values["role_arn"] = role_arn
            conn.execute(update(t.state_machines).where(t.state_machines.c.arn == arn).values(**values))
            row = conn.execute(select(t.state_machines).where(t.state_machines.c.arn == arn)).first()
            return None if row is None else _machine(row)
        return await self.db.write(work)

    async def delete_state_machine(self, arn: str) -> None:
        # Running executions keep their own copy of the definition and finish.
        await self.db.write(lambda conn: conn.execute(delete(t.state_machines).where(t.state_machines.c.arn == arn)))

    # -- executions ------------------------------------------------------------------------------

    async def insert_execution(self, execution: Execution, owner: str, lease_until: float,
                               first: Transition, deadline: float | None) -> Execution:
        """Insert a new RUNNING execution with its first transition; when one of that name exists,
        return the existing one instead (the caller decides whether that is idempotent)."""
        def work(conn: Connection) -> Execution:
            existing = conn.execute(select(t.executions).where(
                t.executions.c.state_machine_arn == execution.state_machine_arn,
                t.executions.c.name == execution.name)).first()
            if existing is not None:
                return _execution(existing)
            try:
                with conn.begin_nested():
                    conn.execute(insert(t.executions).values(
                        arn=execution.arn, state_machine_arn=execution.state_machine_arn, name=execution.name,
                        status="RUNNING", input=execution.input, definition=execution.definition,
                        role_arn=execution.role_arn, started=execution.started, deadline=deadline,
                        next_event_id=first.next_event_id, owner=owner, lease_until=lease_until,
                        redrive_count=execution.redrive_count,
                        parent=None if execution.parent is None else dumps(execution.parent),
                        map_run_arn=execution.parent.get("mapRunArn") or None
                        if isinstance(execution.parent, dict) else None))
            except IntegrityError:
                row = conn.execute(select(t.executions).where(t.executions.c.arn == execution.arn)).one()
                return _execution(row)
            _write_transition(conn, first)
            return execution
        return await self.db.write(work)

    async def get_execution(self, arn: str) -> Execution | None:
        def work(conn: Connection) -> Execution | None:
            row = conn.execute(select(t.executions).where(t.executions.c.arn == arn)).first()
            return None if row is None else _execution(row)
        return await self.db.read(work)

    async def list_executions(self, state_machine_arn: str, status: str | None, after: str | None,
                              limit: int, *, map_run_arn: str | None = None) -> list[Execution]:
        def work(conn: Connection) -> list[Execution]:
            # Newest first, as AWS lists them; ``after`` is "<started>/<arn>" of the last row seen.
            query = select(t.executions).where(
                t.executions.c.map_run_arn == map_run_arn if map_run_arn is not None
                else t.executions.c.state_machine_arn == state_machine_arn)
            if status is not None:
                query = query.where(t.executions.c.status == status)
            if after is not None:
                started_text, _, last_arn = after.partition("/")
                started = float(started_text)
                query = query.where(or_(t.executions.c.started < started,
                                        and_(t.executions.c.started == started, t.executions.c.arn < last_arn)))
            query = query.order_by(t.executions.c.started.desc(), t.executions.c.arn.desc()).limit(limit)
            return [_execution(row) for row in conn.execute(query)]
        return await self.db.read(work)

    async def history(self, arn: str, reverse: bool, after_id: int | None, limit: int) -> list[HistoryEvent]:
        def work(conn: Connection) -> list[HistoryEvent]:
            query = select(t.events).where(t.events.c.execution_arn == arn)
            if after_id is not None:
                query = query.where(t.events.c.id < after_id if reverse else t.events.c.id > after_id)
            query = query.order_by(t.events.c.id.desc() if reverse else t.events.c.id).limit(limit)
            return [_event(row) for row in conn.execute(query)]
        return await self.db.read(work)

    async def commit(self, transition: Transition) -> None:
        await self.db.write(lambda conn: _write_transition(conn, transition))

    async def claim(self, owner: str, now: float, lease_until: float, limit: int,
                    skip: Sequence[str] = (), include_own: bool = False) -> list[str]:
        """Take over RUNNING executions nobody holds (a crashed or stopped instance's); the
        conditional UPDATE makes each claim exclusive across instances."""
        def work(conn: Connection) -> list[str]:
            # With ``include_own``, our own id too: an instance restarted under the same id resumes at once.
            claimable = or_(t.executions.c.lease_until < now, t.executions.c.owner == owner) if include_own \
                else t.executions.c.lease_until < now
            candidates = [row.arn for row in conn.execute(
                select(t.executions.c.arn)
                .where(t.executions.c.status == "RUNNING", claimable, t.executions.c.arn.not_in(list(skip)))
                .limit(limit))]
            claimed = []
            for arn in candidates:
                changed = conn.execute(
                    update(t.executions)
                    .where(t.executions.c.arn == arn, t.executions.c.status == "RUNNING", claimable)
                    .values(owner=owner, lease_until=lease_until)).rowcount
                if changed == 1:
                    claimed.append(arn)
            return claimed
        return await self.db.write(work)

    async def renew(self, owner: str, arns: Sequence[str], lease_until: float) -> list[str]:
        """Extend our leases; returns the executions we still hold."""
        def work(conn: Connection) -> list[str]:
            if not arns:
                return []
            conn.execute(update(t.executions)
                         .where(t.executions.c.arn.in_(list(arns)), t.executions.c.owner == owner,
                                t.executions.c.status == "RUNNING")
                         .values(lease_until=lease_until))
            return [row.arn for row in conn.execute(
                select(t.executions.c.arn).where(t.executions.c.arn.in_(list(arns)),
                                                 t.executions.c.owner == owner,
                                                 t.executions.c.status == "RUNNING"))]
        return await self.db.write(work)

    async def release(self, owner: str, arns: Sequence[str]) -> None:
        def work(conn: Connection) -> None:
            if arns:
                conn.execute(update(t.executions)
                             .where(t.executions.c.arn.in_(list(arns)), t.executions.c.owner == owner)
                             .values(owner=None, lease_until=0.0))
        await self.db.write(work)

    async def load_threads(self, arn: str) -> tuple[list[ThreadRow], int, float | None]:
        """The threads of an execution, its next event id and its deadline."""
        def work(conn: Connection) -> tuple[list[ThreadRow], int, float | None]:
            execution = conn.execute(select(t.executions.c.next_event_id, t.executions.c.deadline)
                                     .where(t.executions.c.arn == arn)).one()
            rows = conn.execute(select(t.threads).where(t.threads.c.execution_arn == arn)
                                .order_by(t.threads.c.thread_id))
            threads = [ThreadRow(thread_id=row.thread_id, parent_id=row.parent_id, status=row.status,
                                 cursor=json.loads(row.cursor), effect=_loads(row.effect), wake_at=row.wake_at,
                                 outcome=_loads(row.outcome)) for row in rows]
            return threads, execution.next_event_id, execution.deadline
        return await self.db.read(work)

    async def request_stop(self, arn: str, error: str | None, cause: str | None) -> bool:
        def work(conn: Connection) -> bool:
            changed = conn.execute(update(t.executions)
                                   .where(t.executions.c.arn == arn, t.executions.c.status == "RUNNING")
                                   .values(stop_requested=dumps({"error": error, "cause": cause}))).rowcount
            return bool(changed)
        return await self.db.write(work)

    async def stop_request(self, arn: str) -> JSON:
        def work(conn: Connection) -> JSON:
            row = conn.execute(select(t.executions.c.stop_requested).where(t.executions.c.arn == arn)).first()
            return None if row is None else _loads(row.stop_requested)
        return await self.db.read(work)

    async def stop_requests(self, owner: str) -> dict[str, JSON]:
        def work(conn: Connection) -> dict[str, JSON]:
            rows = conn.execute(select(t.executions.c.arn, t.executions.c.stop_requested)
                                .where(t.executions.c.owner == owner, t.executions.c.status == "RUNNING",
                                       t.executions.c.stop_requested.is_not(None)))
            return {row.arn: json.loads(row.stop_requested) for row in rows}
        return await self.db.read(work)

    # -- task tokens and activities ----------------------------------------------------------------

    async def get_token(self, token: str) -> TaskToken | None:
        def work(conn: Connection) -> TaskToken | None:
            row = conn.execute(select(t.task_tokens).where(t.task_tokens.c.token == token)).first()
            return None if row is None else _token(row)
        return await self.db.read(work)

    async def complete_token(self, token: str, outcome: JSON) -> TaskToken | None:
        """Record a worker's answer; the first answer wins (None when the token is unknown or was
        already answered)."""
        def work(conn: Connection) -> TaskToken | None:
            changed = conn.execute(update(t.task_tokens)
                                   .where(t.task_tokens.c.token == token, t.task_tokens.c.outcome.is_(None))
                                   .values(outcome=dumps(outcome), status="DONE")).rowcount
            if not changed:
                return None
            return _token(conn.execute(select(t.task_tokens).where(t.task_tokens.c.token == token)).one())
        return await self.db.write(work)

    async def heartbeat_token(self, token: str, deadline: float | None) -> TaskToken | None:
        def work(conn: Connection) -> TaskToken | None:
            changed = conn.execute(update(t.task_tokens)
                                   .where(t.task_tokens.c.token == token, t.task_tokens.c.outcome.is_(None))
                                   .values(heartbeat_deadline=deadline)).rowcount
            if not changed:
                return None
            return _token(conn.execute(select(t.task_tokens).where(t.task_tokens.c.token == token)).one())
        return await self.db.write(work)

    async def completed_tokens(self, execution_arns: Sequence[str]) -> list[TaskToken]:
        def work(conn: Connection) -> list[TaskToken]:
            if not execution_arns:
                return []
            rows = conn.execute(select(t.task_tokens).where(t.task_tokens.c.execution_arn.in_(list(execution_arns)),
                                                            t.task_tokens.c.status == "DONE"))
            return [_token(row) for row in rows]
        return await self.db.read(work)

    async def token_heartbeats(self, execution_arns: Sequence[str]) -> dict[str, float | None]:
        def work(conn: Connection) -> dict[str, float | None]:
            if not execution_arns:
                return {}
            rows = conn.execute(select(t.task_tokens.c.token, t.task_tokens.c.heartbeat_deadline)
                                .where(t.task_tokens.c.execution_arn.in_(list(execution_arns))))
            return {row.token: row.heartbeat_deadline for row in rows}
        return await self.db.read(work)

    async def take_activity_task(self, activity_arn: str, worker: str,
                                 heartbeat_deadline: float | None) -> TaskToken | None:
        """Hand the oldest queued task of an activity to one worker (exactly one: the UPDATE is
        conditional on the task still being queued)."""
        def work(conn: Connection) -> TaskToken | None:
            for row in conn.execute(select(t.task_tokens.c.token)
                                    .where(t.task_tokens.c.activity_arn == activity_arn,
                                           t.task_tokens.c.status == "QUEUED")
                                    .order_by(t.task_tokens.c.created).limit(5)).all():
                changed = conn.execute(update(t.task_tokens)
                                       .where(t.task_tokens.c.token == row.token, t.task_tokens.c.status == "QUEUED")
                                       .values(status="WAITING", worker=worker,
                                               heartbeat_deadline=heartbeat_deadline)).rowcount
                if changed:
                    return _token(conn.execute(select(t.task_tokens).where(t.task_tokens.c.token == row.token)).one())
            return None
        return await self.db.write(work)

    async def create_activity(self, activity: Activity) -> Activity:
        def work(conn: Connection) -> Activity:
            row = conn.execute(select(t.activities).where(t.activities.c.name == activity.name)).first()
            if row is not None:
                return Activity(arn=row.arn, name=row.name, created=row.created)
            conn.execute(insert(t.activities).values(arn=activity.arn, name=activity.name, created=activity.created))
            return activity
        return await self.db.write(work)

    async def get_activity(self, arn: str) -> Activity | None:
        def work(conn: Connection) -> Activity | None:
            row = conn.execute(select(t.activities).where(t.activities.c.arn == arn)).first()
            return None if row is None else Activity(arn=row.arn, name=row.name, created=row.created)
        return await self.db.read(work)

    async def list_activities(self, after: str | None, limit: int) -> list[Activity]:
        def work(conn: Connection) -> list[Activity]:
            query = select(t.activities).order_by(t.activities.c.arn).limit(limit)
            if after is not None:
                query = query.where(t.activities.c.arn > after)
            return [Activity(arn=row.arn, name=row.name, created=row.created) for row in conn.execute(query)]
        return await self.db.read(work)

    async def delete_activity(self, arn: str) -> None:
        await self.db.write(lambda conn: conn.execute(delete(t.activities).where(t.activities.c.arn == arn)))

    async def set_options(self, arn: str, options: JSON) -> None:
        """Replace a state machine's options (tags, logging and tracing configuration)."""
        await self.db.write(lambda conn: conn.execute(
            update(t.state_machines).where(t.state_machines.c.arn == arn).values(options=dumps(options))))

    async def redrive(self, arn: str, redrivable: Sequence[str], now: float, deadline: float | None,
                      restart: Callable[[Execution, list[HistoryEvent]], JSON]) -> int | None:
        """In one transaction: an execution still in a ``redrivable`` status goes back to RUNNING,
        unowned (any instance's maintenance claims it), with redriveCount + 1, an
        ``ExecutionRedriven`` event and one top-level thread at the cursor ``restart`` picks from its
        history (JSON of a ``Cursor``). Returns the new redrive count, or None when it was not
        redrivable any more."""
        def work(conn: Connection) -> int | None:
            row = conn.execute(select(t.executions).where(t.executions.c.arn == arn)).first()
            if row is None or row.status not in redrivable:
                return None
            history = [_event(e) for e in conn.execute(select(t.events).where(t.events.c.execution_arn == arn)
                                                       .order_by(t.events.c.id))]
            redriven_id = (history[-1].id if history else 0) + 1
            cursor = dict(restart(_execution(row), history))
            cursor["previous_event_id"] = redriven_id
            count = int(row.redrive_count) + 1
            conn.execute(update(t.executions).where(t.executions.c.arn == arn).values(
                status="RUNNING", output=None, error=None, cause=None, stopped=None, stop_requested=None,
                redrive_count=count, next_event_id=redriven_id + 1, deadline=deadline, owner=None,
                lease_until=0.0))
            conn.execute(delete(t.threads).where(t.threads.c.execution_arn == arn))
            conn.execute(insert(t.threads).values(_thread_values(arn, ThreadWrite("0", None, "READY", cursor))))
            conn.execute(insert(t.events).values(
                execution_arn=arn, id=redriven_id, previous_id=redriven_id - 1, type="ExecutionRedriven",
                timestamp=now, details=dumps({"executionRedrivenEventDetails": {"redriveCount": count}})))
            return count
        return await self.db.write(work)

    async def map_run_summary(self, map_run_arn: str) -> MapRunSummary | None:
        """The iterations (child executions) of a Distributed Map's Map Run, counted by status."""
        def work(conn: Connection) -> MapRunSummary | None:
            rows = conn.execute(select(t.executions.c.status, func.count(), func.min(t.executions.c.started),
                                       func.max(t.executions.c.stopped), func.min(t.executions.c.parent))
                                .where(t.executions.c.map_run_arn == map_run_arn)
                                .group_by(t.executions.c.status)).all()
            if not rows:
                return None
            parent = json.loads(rows[0][4])
            return MapRunSummary(map_run_arn=map_run_arn, execution_arn=str(parent.get("execution")),
                                 counts={row[0]: int(row[1]) for row in rows},
                                 started=min(float(row[2]) for row in rows),
                                 stopped=max((float(row[3]) for row in rows if row[3] is not None), default=None))
        return await self.db.read(work)

    async def count_running(self) -> int:
        def work(conn: Connection) -> int:
            return int(conn.execute(select(func.count()).select_from(t.executions)
                                    .where(t.executions.c.status == "RUNNING")).scalar_one())
        return await self.db.read(work)
