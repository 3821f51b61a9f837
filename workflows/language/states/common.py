"""What every state type shares: ``StateRun`` — one state of one thread being run — with input and
output processing for JSONPath and JSONata, variables, history events and error prefixes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from workflows import errors
from workflows.errors import EvaluationError, StatesError
from workflows.language import jsonata_eval, templates
from workflows.language.context_object import context_object
from workflows.language.env import JSON, Env
from workflows.language.events import state_exited
from workflows.language.outcomes import (
    Cursor,
    Ended,
    ExecutionInfo,
    History,
    Moved,
    Outcome,
    Resumed,
    keeps_details,
)

# A state's QueryLanguage, else the definition's, else JSONPath.
JSONATA = "JSONata"


@dataclass
class StateRun:
    machine: Mapping[str, JSON]
    name: str
    state: Mapping[str, JSON]
    cursor: Cursor
    execution: ExecutionInfo
    history: History
    now: float
    random: Callable[[], float]
    resume: Resumed | None
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    # --- what the state sees ------------------------------------------------------------------

    @property
    def type(self) -> str:
        return str(self.state.get("Type"))

    @property
    def jsonata(self) -> bool:
        language = self.state.get("QueryLanguage", self.machine.get("QueryLanguage", "JSONPath"))
        return bool(language == JSONATA)

    @property
    def phase(self) -> str:
        return str(self.cursor.extra.get("phase", "start"))

    def variables(self) -> dict[str, JSON]:
        scopes = self.cursor.variables
        cached = self._memo.get("variables")
        if cached is not None and cached[0] is scopes:
            return cached[1]  # type: ignore[no-any-return]
        merged: dict[str, JSON] = {}
        for scope in scopes:
            merged.update(scope)
        self._memo["variables"] = (scopes, merged)
        return merged

    def context(self, task_token: str | None = None, map_item: tuple[int, JSON] | None = None) -> dict[str, JSON]:
        # One state builds ``$$`` once per (token, item, attempt): Parameters, ResultSelector,
        # OutputPath... each ask for it.
        key = ("context", task_token, None if map_item is None else map_item[0], self.cursor.entered_time,
               sum(self.cursor.attempts))
        cached = self._memo.get(key)
        if cached is None:
            cached = context_object(self.execution, self.name, self.type, self.cursor.entered_time,
                                    retry_count=sum(self.cursor.attempts), task_token=task_token, map_item=map_item)
            self._memo[key] = cached
        return cached

    def env(self, value: JSON = None, *, raw: bool = True, task_token: str | None = None,
            map_item: tuple[int, JSON] | None = None) -> Env:
        """The environment with ``$``/``$states.input`` = the raw input (``raw``) or ``value``."""
        return Env(input=self.cursor.input if raw else value, context=self.context(task_token, map_item),
                   variables=self.variables())

    # --- history ------------------------------------------------------------------------------

    def emit(self, event_type: str, details: Mapping[str, Any] | None = None) -> int:
        event_id = self.history.append(event_type, details, self.cursor.previous_event_id)
        self.cursor = self.cursor.with_previous(event_id)
        return event_id

    def continue_from(self, resume: Resumed | None) -> None:
        """Chain the next event after what the effect's own threads recorded."""
        if resume is not None and resume.previous_event_id:
            self.cursor = replace(self.cursor, previous_event_id=resume.previous_event_id)

    # --- errors -------------------------------------------------------------------------------

    def cause_prefix(self) -> str:
        return (f"An error occurred while executing the state '{self.name}' "
                f"(entered at the event id #{self.cursor.entered_event_id}). ")

    def runtime_error(self, detail: str, error: str = errors.RUNTIME) -> EvaluationError:
        """An evaluation failure found by the state itself (not by an expression helper)."""
        return EvaluationError(error, detail)

    # --- JSONPath input/output processing ----------------------------------------------------

    def effective_input(self) -> JSON:
        """JSONPath: InputPath over the raw input. JSONata: the raw input."""
        if self.jsonata or "InputPath" not in self.state:
            return self.cursor.input  # (the default "$" selects the input itself: no Env to build)
        return templates.input_path(self.state["InputPath"], self.env())

    def parameters(self, effective: JSON, field: str = "Parameters", task_token: str | None = None) -> JSON:
        """JSONPath Parameters (or the field named) over the effective input; absent → the input."""
        if field not in self.state:
            return effective
        return templates.payload(self.state[field], self.env(effective, raw=False, task_token=task_token), field)

    def arguments(self, task_token: str | None = None) -> JSON:
        """JSONata Arguments (Task, Parallel); absent → the input."""
        if "Arguments" not in self.state:
            return self.cursor.input
        env = self.env(task_token=task_token)
        return jsonata_eval.evaluate(self.state["Arguments"], env, "Arguments", now=self.now)

    def finish_with_result(self, result: JSON, next_state: str | None = None) -> Outcome:
        """Task, Parallel, Map and Pass: ResultSelector, Assign, ResultPath and OutputPath
        (JSONPath) or Assign and Output (JSONata, Output defaulting to the result)."""
        if self.jsonata:
            env = self.env().with_result(result)
            return self._finish_jsonata(env, result, self.state, next_state)
        env = self.env(result, raw=False)
        if "ResultSelector" in self.state:
            result = templates.payload(self.state["ResultSelector"], env, "ResultSelector")
            env = self.env(result, raw=False)
        assigned = templates.assign(self.state["Assign"], env) if "Assign" in self.state else None
        combined = templates.result_path(self.state.get("ResultPath", "$"), self.cursor.input, result)
        return self.leave(self._output_path(combined), assigned, next_state)

    def finish_without_result(self, next_state: str | None = None,
                              assign_from: Mapping[str, JSON] | None = None, field_prefix: str = "") -> Outcome:
        """Choice, Wait and Succeed: the (effective) input passes through; Assign reads it.
        ``assign_from``: a matched Choice rule, whose Assign/Output replace the state's."""
        holder = self.state if assign_from is None else assign_from
        if self.jsonata:
            return self._finish_jsonata(self.env(), self.cursor.input, holder, next_state, field_prefix)
        effective = self.effective_input()
        assigned = templates.assign(holder["Assign"], self.env(effective, raw=False)) if "Assign" in holder else None
        return self.leave(self._output_path(effective), assigned, next_state)

    def _output_path(self, value: JSON) -> JSON:
        if "OutputPath" not in self.state:
            return value  # the default "$"
        return templates.output_path(self.state["OutputPath"], value, self.env(value, raw=False))

    def _finish_jsonata(self, env: Env, default_output: JSON, holder: Mapping[str, JSON],
                        next_state: str | None, field_prefix: str = "") -> Outcome:
        assigned = None
        if "Assign" in holder and field_prefix:
            # A Choice rule's Assign: errors name the rule ("Choices[1]/Assign/x"); every right-hand
            # side still reads the variables from before the Assign.
            assigned = {name: jsonata_eval.evaluate(value, env, f"{field_prefix}Assign/{name}", now=self.now)
                        for name, value in holder["Assign"].items()}
        elif "Assign" in holder:
            assigned = jsonata_eval.assign(holder["Assign"], env, now=self.now)
        output = (jsonata_eval.evaluate(holder["Output"], env, f"{field_prefix}Output", now=self.now)
                  if "Output" in holder else default_output)
        return self.leave(output, assigned, next_state)

    # --- leaving the state --------------------------------------------------------------------

    def assigned_variables(self, assigned: Mapping[str, JSON] | None) -> tuple[Mapping[str, JSON], ...]:
        if not assigned:
            return self.cursor.variables
        scopes = list(self.cursor.variables) or [{}]
        scopes[-1] = {**scopes[-1], **assigned}
        return tuple(scopes)

    def leave(self, output: JSON, assigned: Mapping[str, JSON] | None = None,
              next_state: str | None = None) -> Outcome:
        """Record ``<Type>StateExited`` and go on to ``next_state`` (default: ``Next``) or end the
        thread (``End``, Succeed)."""
        variables = self.assigned_variables(assigned)
        details = state_exited(self.name, output, assigned) if keeps_details(self.history) else None
        exit_id = self.emit(f"{self.type}StateExited", details)
        target = next_state if next_state is not None else self.state.get("Next")
        if target is None:
            return Ended(output, exit_id)
        return Moved(Cursor(scope=self.cursor.scope, state=str(target), input=output, variables=variables,
                            previous_event_id=exit_id, map_item=self.cursor.map_item))

    def with_extra(self, **progress: JSON) -> Cursor:
        self.cursor = replace(self.cursor, extra={**self.cursor.extra, **progress})
        return self.cursor

    def restart(self) -> None:
        """Back to the state's first phase (a retry), keeping entry and attempts."""
        self.cursor = replace(self.cursor, extra={})


def prefixed(run: StateRun, failure: StatesError) -> StatesError:
    """An expression helper's error with AWS's "An error occurred while executing the state" prefix;
    other StatesErrors (task failures, Fail states) pass unchanged."""
    if isinstance(failure, EvaluationError):
        return StatesError(failure.error, run.cause_prefix() + (failure.cause or ""))
    return failure
