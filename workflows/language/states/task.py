"""The Task state: it asks the engine to invoke its Resource (``Invoke``) and processes the result
or the error when the engine resumes it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from workflows import errors
from workflows.language import jsonata_eval, templates
from workflows.language.env import JSON
from workflows.language.events import TaskEvents, to_json_text
from workflows.language.outcomes import Invoke, Outcome, Suspended
from workflows.language.states.common import StateRun
from workflows.language.states.failure import handle_failure

WAIT_FOR_TASK_TOKEN = ".waitForTaskToken"  # noqa: S105 - a resource suffix, not a secret
_TIMEOUT_ERRORS = frozenset({errors.TIMEOUT, errors.HEARTBEAT_TIMEOUT})


def run_task(run: StateRun) -> Outcome:
    if run.phase == "running":
        return _resumed(run)
    if run.phase == "retry_wait":
        run.restart()
    resource = str(run.state.get("Resource", ""))
    token = task_token(run) if _needs_token(resource) else None
    if run.jsonata:
        payload = run.arguments(task_token=token)
    else:
        payload = run.parameters(run.effective_input(), task_token=token)
    timeout = _limit(run, "TimeoutSeconds")
    heartbeat = _limit(run, "HeartbeatSeconds")
    credentials = _credentials(run, token)
    events = TaskEvents(resource)
    run.emit(*events.scheduled(payload, region_of(run.execution.execution_arn), timeout, heartbeat))
    run.emit(*events.started())
    cursor = run.with_extra(phase="running")
    return Suspended(cursor, Invoke(resource=resource, payload=payload, timeout_seconds=timeout,
                                    heartbeat_seconds=heartbeat, task_token=token, credentials=credentials))


def _resumed(run: StateRun) -> Outcome:
    resume = run.resume
    events = TaskEvents(str(run.state.get("Resource", "")))
    if resume is None:  # resumed without the effect's completion: invoke again
        run.restart()
        return run_task(run)
    if resume.failed:
        run.emit(*events.failed(resume.error in _TIMEOUT_ERRORS, resume.error, resume.cause))
        return handle_failure(run, resume.error, resume.cause)
    run.emit(*events.succeeded(resume.result))
    return run.finish_with_result(resume.result)


def task_token(run: StateRun) -> str:
    """Unique per execution, state entry and attempt; unguessable (a token is the capability to answer
    the task) — an HMAC under the execution's ``token_key``, so it is also the same when the engine
    replays the step."""
    key = run.execution.token_key
    if not key:
        return secrets.token_urlsafe(48)
    seed = f"{run.execution.execution_arn}|{list(run.cursor.scope)}|{run.name}|{run.cursor.entered_event_id}|" \
           f"{sum(run.cursor.attempts)}"
    return hmac.new(key, seed.encode(), hashlib.sha256).hexdigest()


def region_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _needs_token(resource: str) -> bool:
    return resource.endswith(WAIT_FOR_TASK_TOKEN) or ":activity:" in resource


def _limit(run: StateRun, field: str) -> float | None:
    """TimeoutSeconds / HeartbeatSeconds, from the literal, the ``...Path`` or the JSONata
    expression; a positive integer."""
    state = run.state
    path_field = f"{field}Path"
    value: JSON
    if field in state:
        value = state[field]
        if run.jsonata and jsonata_eval.is_expression(value):
            value = jsonata_eval.evaluate_expecting(value, run.env(), field, "integer", now=run.now)
    elif path_field in state and not run.jsonata:
        value = templates.path_field(str(state[path_field]), run.env(run.effective_input(), raw=False), path_field)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise run.runtime_error(f"The {path_field} parameter must reference a positive integer value: "
                                    f"{state[path_field]} == {to_json_text(value)}")
    else:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise run.runtime_error(f"The {field} field must be a positive integer: {to_json_text(value)}",
                                errors.QUERY_EVALUATION_ERROR if run.jsonata else errors.RUNTIME)
    return float(value)


def _credentials(run: StateRun, token: str | None) -> JSON:
    if "Credentials" not in run.state:
        return None
    if run.jsonata:
        return jsonata_eval.evaluate(run.state["Credentials"], run.env(task_token=token), "Credentials", now=run.now)
    return templates.payload(run.state["Credentials"], run.env(run.effective_input(), raw=False, task_token=token),
                             "Credentials")
