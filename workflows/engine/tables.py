"""The workflow engine's tables (SQLite by default, PostgreSQL when configured).

An execution is persisted as its row, one row per thread (the interpreter's ``Cursor`` plus what
the thread waits for) and its history events. Every transition writes these in one transaction, so
after a crash each thread resumes at its last committed state boundary.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

state_machines = Table(
    "sfn_state_machines", metadata,
    Column("arn", String(512), primary_key=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("type", String(16), nullable=False),          # STANDARD | EXPRESS
    Column("definition", Text, nullable=False),
    Column("role_arn", String(512), nullable=False),
    Column("status", String(16), nullable=False),        # ACTIVE | DELETING
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("revision_id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("options", Text, nullable=False, default="{}"),  # loggingConfiguration, tracingConfiguration, tags
)

executions = Table(
    "sfn_executions", metadata,
    Column("arn", String(600), primary_key=True),
    Column("state_machine_arn", String(512), nullable=False),
    Column("name", String(80), nullable=False),
    Column("status", String(16), nullable=False),        # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    Column("input", Text, nullable=False),
    Column("output", Text),
    Column("error", Text),
    Column("cause", Text),
    Column("definition", Text, nullable=False),          # the definition it started with (updates don't move it)
    Column("role_arn", String(512), nullable=False),
    Column("started", Float, nullable=False),
    Column("stopped", Float),
    Column("deadline", Float),                           # top-level TimeoutSeconds
    Column("next_event_id", Integer, nullable=False),
    Column("owner", String(64)),                         # the instance running it, while its lease holds
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("stop_requested", Text),                      # JSON {error, cause} from StopExecution
    Column("redrive_count", Integer, nullable=False, default=0),
    Column("parent", Text),                              # JSON: the task token of a parent's .sync task
    Column("map_run_arn", String(600)),                  # a Distributed Map iteration's Map Run
    UniqueConstraint("state_machine_arn", "name", name="sfn_executions_name"),
)
Index("sfn_executions_running", executions.c.status, executions.c.lease_until)
Index("sfn_executions_map_run", executions.c.map_run_arn)

threads = Table(
    "sfn_threads", metadata,
    Column("execution_arn", String(600), primary_key=True),
    Column("thread_id", String(512), primary_key=True),  # "0" top level; "<parent>.<fork>.<child index>"
    Column("parent_id", String(512)),
    Column("status", String(16), nullable=False),        # READY | WAITING | ENDED | FAILED | CANCELLED
    Column("cursor", Text, nullable=False),              # Cursor.to_json()
    Column("effect", Text),                              # JSON of what it waits for
    Column("wake_at", Float),                            # Sleep deadline / task timeout
    Column("outcome", Text),                             # JSON {output} or {error, cause} once ended
)

events = Table(
    "sfn_events", metadata,
    Column("execution_arn", String(600), primary_key=True),
    Column("id", Integer, primary_key=True),
    Column("previous_id", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("details", Text),                             # JSON {"<x>EventDetails": {...}} or null
)

task_tokens = Table(
    "sfn_task_tokens", metadata,
    Column("token", String(128), primary_key=True),
    Column("execution_arn", String(600), nullable=False),
    Column("thread_id", String(512), nullable=False),
    Column("activity_arn", String(512)),                 # set for activity tasks
    Column("status", String(16), nullable=False),        # QUEUED (activity not yet taken) | WAITING | DONE
    Column("input", Text),                               # what GetActivityTask hands the worker
    Column("worker", String(80)),
    Column("heartbeat_deadline", Float),
    Column("outcome", Text),                             # JSON {output} | {error, cause}, set by SendTask*
    Column("created", Float, nullable=False),
)
Index("sfn_task_tokens_activity", task_tokens.c.activity_arn, task_tokens.c.status, task_tokens.c.created)

activities = Table(
    "sfn_activities", metadata,
    Column("arn", String(512), primary_key=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)
