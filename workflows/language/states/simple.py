"""The states that finish without waiting: Pass, Succeed, Fail and Choice."""

from __future__ import annotations

from workflows import errors
from workflows.errors import StatesError
from workflows.language import choice, jsonata_eval, templates
from workflows.language.events import to_json_text
from workflows.language.outcomes import Outcome
from workflows.language.states.common import StateRun


def run_pass(run: StateRun) -> Outcome:
    if run.jsonata:
        return run.finish_with_result(run.cursor.input)
    effective = run.effective_input()
    # Result is a literal (".$" keys are not evaluated); Parameters is a template.
    result = run.state["Result"] if "Result" in run.state else run.parameters(effective)
    return run.finish_with_result(result)


def run_succeed(run: StateRun) -> Outcome:
    return run.finish_without_result()


def run_fail(run: StateRun) -> Outcome:
    state = run.state
    if run.jsonata:
        env = run.env()
        error = (jsonata_eval.evaluate_expecting(state["Error"], env, "Error", "string", now=run.now)
                 if "Error" in state else None)
        cause = (jsonata_eval.evaluate_expecting(state["Cause"], env, "Cause", "string", now=run.now)
                 if "Cause" in state else None)
    else:
        env = run.env()
        error = templates.path_field(state["ErrorPath"], env, "ErrorPath") if "ErrorPath" in state \
            else state.get("Error")
        cause = templates.path_field(state["CausePath"], env, "CausePath") if "CausePath" in state \
            else state.get("Cause")
    raise FailStateReached(error, cause)


class FailStateReached(Exception):
    """A Fail state ends its thread (its error and cause may both be absent); no Retry or Catch of
    the state itself applies."""

    def __init__(self, error: object, cause: object) -> None:
        super().__init__(error, cause)
        self.error = _text(error)
        self.cause = _text(cause)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return to_json_text(value)


def run_choice(run: StateRun) -> Outcome:
    env = run.env() if run.jsonata else run.env(run.effective_input(), raw=False)
    rule = choice.select_rule(run.state, env, run.jsonata)
    if rule is not None:
        # A matching rule's Assign (and, in JSONata, Output) are used instead of the state's own,
        # which belong to the Default path (AWS evaluates no state-level Assign when a rule matched).
        index = next((i for i, candidate in enumerate(run.state.get("Choices") or []) if candidate is rule), 0)
        return run.finish_without_result(str(rule["Next"]), assign_from=rule, field_prefix=f"Choices[{index}]/")
    if "Default" in run.state:
        return run.finish_without_result(str(run.state["Default"]))
    raise StatesError(errors.NO_CHOICE_MATCHED,
                      f"An error occurred while executing the state '{run.name}' (entered at the event id "
                      f"#{run.cursor.entered_event_id}). No Choice Rule matched and no Default specified.")
