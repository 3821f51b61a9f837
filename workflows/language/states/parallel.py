"""The Parallel state: each branch runs as a child thread on the same input; the result is the list
of the branches' outputs, in branch order; a failed branch fails the state with its error."""

from __future__ import annotations

from workflows.language.outcomes import Cursor, Fork, Outcome, Suspended
from workflows.language.states.common import StateRun
from workflows.language.states.failure import handle_failure


def run_parallel(run: StateRun) -> Outcome:
    if run.phase == "forked":
        return _resumed(run)
    if run.phase == "retry_wait":
        run.restart()
    branch_input = run.arguments() if run.jsonata else run.parameters(run.effective_input())
    started = run.emit("ParallelStateStarted")
    children = tuple(
        Cursor(scope=(*run.cursor.scope, run.name, index), state=str(branch["StartAt"]), input=branch_input,
               variables=(*run.cursor.variables, {}), previous_event_id=started)
        for index, branch in enumerate(run.state.get("Branches") or [])
    )
    cursor = run.with_extra(phase="forked")
    return Suspended(cursor, Fork(kind="Parallel", children=children))


def _resumed(run: StateRun) -> Outcome:
    resume = run.resume
    run.continue_from(resume)
    if resume is None or resume.failed:
        error = None if resume is None else resume.error
        cause = None if resume is None else resume.cause
        return handle_failure(run, error, cause)
    run.emit("ParallelStateSucceeded")
    return run.finish_with_result(resume.result)
