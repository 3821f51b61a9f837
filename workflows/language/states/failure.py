"""What happens when a state fails: its Retriers (a backoff, then the state again), its Catchers
(on to the catcher's Next with the error output), or the thread fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from workflows import errors
from workflows.errors import StatesError
from workflows.language import jsonata_eval, templates
from workflows.language.env import JSON
from workflows.language.outcomes import Failed, Outcome, Sleep, Suspended
from workflows.language.retry import counted_attempts, decide_retry, error_output, find_catcher
from workflows.language.states.common import StateRun, prefixed

# States whose failure AWS records as ``<Type>StateFailed`` before Retry/Catch/the end.
_RECORDS_FAILURE = frozenset({"Map", "Parallel"})


def handle_failure(run: StateRun, error: str | None, cause: str | None) -> Outcome:
    retriers = run.state.get("Retry") or []
    decision = decide_retry(retriers, run.cursor.attempts, error, run.random)
    if decision is not None:
        run.cursor = replace(run.cursor, attempts=counted_attempts(run.cursor.attempts, len(retriers),
                                                                     decision.retrier_index),
                             extra={"phase": "retry_wait"})
        return Suspended(run.cursor, Sleep(run.now + decision.delay_seconds))
    if run.type in _RECORDS_FAILURE and error != errors.RUNTIME:
        run.emit(f"{run.type}StateFailed")
    catcher = find_catcher(run.state.get("Catch") or [], error)
    if catcher is None:
        return Failed(error, cause, run.cursor.previous_event_id)
    try:
        return _caught(run, catcher, error_output(error, cause))
    except StatesError as failure:  # the Catcher's own processing failed: nothing catches that
        failure = prefixed(run, failure)
        return Failed(failure.error, failure.cause, run.cursor.previous_event_id)


def _caught(run: StateRun, catcher: Mapping[str, JSON], caught: dict[str, JSON]) -> Outcome:
    next_state = str(catcher["Next"])
    if run.jsonata:
        env = run.env().with_error_output(caught)
        assigned = jsonata_eval.assign(catcher["Assign"], env, now=run.now) if "Assign" in catcher else None
        output = (jsonata_eval.evaluate(catcher["Output"], env, "Output", now=run.now)
                  if "Output" in catcher else caught)
        return run.leave(output, assigned, next_state)
    env = run.env(caught, raw=False)
    assigned = templates.assign(catcher["Assign"], env) if "Assign" in catcher else None
    output = templates.result_path(catcher.get("ResultPath", "$"), run.cursor.input, caught)
    return run.leave(output, assigned, next_state)
