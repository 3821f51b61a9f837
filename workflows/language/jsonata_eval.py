"""JSONata mode: ``{% expr %}`` strings in Arguments, Output, Assign, Items, Condition, Timestamp,
Seconds, ...; ``$states`` and variables bound; AWS's extra functions ($partition, $range, $hash,
$random, $uuid, $parse). Failures raise ``EvaluationError(States.QueryEvaluationError, detail)``.
OWNER: JSONata helper.

The details are AWS's texts (the interpreter prefixes "An error occurred while executing the
state ..."):

* ``The JSONata expression '<expr>' specified for the field '<field>' returned nothing (undefined).``
* ``... returned an unsupported result type.`` (a function, a regex)
* ``... returned an unexpected result type. Expected '<type>', but was '<type>' for value: <json>``
  (``evaluate_expecting``, for fields that need one type: Items, Seconds, Condition, ...)
* ``The <field> field cannot be parsed as an integer: <value>`` (a fraction for an integer field)
* ``... threw an error during evaluation. <CODE>: <message>`` (a JSONata runtime error, worded as
  jsonata-js words it; see ``jsonata_errors``)

``<field>`` is the field's path inside the state: ``/key`` per object key and ``[i]`` per array
index below the field (``Output/result``, ``Arguments/list[0]``).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jsonata.jsonata import Jsonata

from workflows import errors
from workflows.errors import EvaluationError
from workflows.language import jsonata_functions
from workflows.language.env import JSON, Env
from workflows.language.jsonata_errors import EvaluationLimitExceeded, failure_text
from workflows.language.jsonata_values import (
    UnsupportedResult,
    compact_json,
    from_jsonata,
    json_type_name,
    to_jsonata,
)

# An expression may take this many evaluation steps (a few seconds of work) before it fails:
# JSONata optimises tail calls, so a recursion without a base case loops instead of overflowing,
# and AWS bounds evaluation too. Counting steps rather than time keeps evaluation deterministic.
MAX_EVALUATION_STEPS = 1_000_000

# The types ``evaluate_expecting`` can demand; "integer" is a number with an integral value.
EXPECTED_TYPES = frozenset({"array", "boolean", "integer", "number", "object", "string"})


def is_expression(value: JSON) -> bool:
    """``value`` is a string of the form ``{% ... %}``."""
    return isinstance(value, str) and len(value) >= 4 and value.startswith("{%") and value.endswith("%}")


def expression_text(value: str) -> str:
    """The expression inside ``{% ... %}``, as AWS quotes it in messages (trimmed)."""
    return value[2:-2].strip()


def evaluate(value: JSON, env: Env, field: str, *, now: float | None = None) -> JSON:
    """Evaluate a field value: a ``{% %}`` string is evaluated; objects and arrays are walked and
    their ``{% %}`` strings evaluated; anything else is returned as is. ``field`` names the field in
    error details (``Output``, ``Assign/result``, ``Arguments/foo/bar``). ``now`` (seconds since
    the epoch) is what ``$now()``/``$millis()`` return; by default the state's entered time."""
    return _Evaluation(env, now).walk(value, field)


def evaluate_expecting(value: JSON, env: Env, field: str, expected: str, *, now: float | None = None) -> JSON:
    """``evaluate`` for a field that must hold one type (``expected`` in ``EXPECTED_TYPES``): Items
    ("array"), Seconds/TimeoutSeconds/HeartbeatSeconds/MaxConcurrency/ToleratedFailureCount
    ("integer"), ToleratedFailurePercentage ("number"), Timestamp/Error/Cause ("string"), Condition
    ("boolean"). Only an expression's result is checked; a constant was checked with the
    definition. An integral float is returned as an int for "integer"."""
    result = _Evaluation(env, now).walk(value, field)
    if isinstance(value, str) and is_expression(value):
        return check_type(expression_text(value), field, expected, result)
    return result


def check_type(text: str, field: str, expected: str, result: JSON) -> JSON:
    """``result`` of expression ``text`` if it has the ``expected`` type, else AWS's
    "returned an unexpected result type" error. Messages name JSON's types only, so an "integer"
    field that got a string expected a 'number'; a fractional number there is a separate error."""
    if expected not in EXPECTED_TYPES:
        raise ValueError(f"unknown expected type {expected!r}")
    if expected in ("integer", "number"):
        if not _is_number(result):
            raise EvaluationError(errors.QUERY_EVALUATION_ERROR, unexpected_type_detail(text, field, "number", result))
        if expected == "number":
            return result
        if not float(result).is_integer():
            detail = f"The {field} field cannot be parsed as an integer: {compact_json(result)}"
            raise EvaluationError(errors.QUERY_EVALUATION_ERROR, detail)
        return int(result)
    if json_type_name(result) != expected:
        raise EvaluationError(errors.QUERY_EVALUATION_ERROR, unexpected_type_detail(text, field, expected, result))
    return result


def unexpected_type_detail(text: str, field: str, expected: str, result: JSON) -> str:
    return (
        f"{_opening(text, field)} returned an unexpected result type. Expected '{expected}', but was "
        f"'{json_type_name(result)}' for value: {compact_json(result)}"
    )


def syntax_error(text: str) -> str | None:
    """Why the JSONata expression ``text`` (without ``{% %}``) does not parse, as AWS words it when
    it rejects a definition (the message without the JSONata code), or None when it parses."""
    try:
        _compile(text)
    except Exception as error:  # noqa: BLE001 - the parser fails with plain Python errors too
        _, failure = failure_text(error)
        code, separator, message = failure.partition(": ")
        return message if separator and re.fullmatch(r"[A-Z]\d{4}", code) else failure
    return None


def assign(assignments: Mapping[str, JSON], env: Env, *, now: float | None = None) -> dict[str, JSON]:
    """JSONata-mode Assign (right-hand sides read the values from before this Assign)."""
    evaluation = _Evaluation(env, now)
    return {name: evaluation.walk(value, f"Assign/{name}") for name, value in assignments.items()}


# --- evaluation --------------------------------------------------------------------------------

class _Evaluation:
    """One field's evaluation: the bindings are converted once and shared by every expression of
    the field (an Output object with ten expressions copies the input once, not ten times)."""

    def __init__(self, env: Env, now: float | None) -> None:
        self._env = env
        self._now = now
        self._bindings: dict[str, Any] | None = None
        self._steps = 0

    def walk(self, value: JSON, field: str) -> JSON:
        if isinstance(value, str):
            return self.expression(value, field) if is_expression(value) else value
        if isinstance(value, Mapping):
            return {key: self.walk(item, f"{field}/{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item, f"{field}[{index}]") for index, item in enumerate(value)]
        return value

    def expression(self, value: str, field: str) -> JSON:
        text = expression_text(value)
        try:
            compiled = _compile(text)
            Jsonata.CURRENT.jsonata = compiled  # some library functions reach the "current" instance
            self._steps = 0
            result = compiled.evaluate(None, self._frame_bindings())
        except Exception as error:  # the library also fails with plain Python errors
            separator, failure = failure_text(error)
            raise EvaluationError(
                errors.QUERY_EVALUATION_ERROR,
                f"{_opening(text, field)} threw an error during evaluation{separator}{failure}",
            ) from error
        if result is None:
            raise EvaluationError(
                errors.QUERY_EVALUATION_ERROR, f"{_opening(text, field)} returned nothing (undefined)."
            )
        try:
            return from_jsonata(result)
        except UnsupportedResult:
            raise EvaluationError(
                errors.QUERY_EVALUATION_ERROR, f"{_opening(text, field)} returned an unsupported result type."
            ) from None

    def _frame_bindings(self) -> dict[str, Any]:
        if self._bindings is None:
            names = jsonata_functions.bindings(_milliseconds(self._now, self._env))
            # Variables after the functions, $states last: AWS reserves the name "states".
            names.update({name: to_jsonata(value) for name, value in self._env.variables.items()})
            names["states"] = to_jsonata(self._env.states_binding())
            names["__evaluate_entry"] = self._count_step  # the library calls it before every step
            self._bindings = names
        return self._bindings

    def _count_step(self, *_: Any) -> None:
        self._steps += 1
        if self._steps > MAX_EVALUATION_STEPS:
            raise EvaluationLimitExceeded(MAX_EVALUATION_STEPS)


def _compile(text: str) -> Jsonata:
    return _compile_for_thread(text, threading.get_ident())


@functools.lru_cache(maxsize=2048)
def _compile_for_thread(text: str, thread: int) -> Jsonata:
    """Each expression text is parsed once per thread. A compiled expression is reusable because
    every evaluation binds its names in a fresh frame, but the library keeps per-evaluation state
    on the instance, so threads do not share one."""
    compiled = Jsonata(text)
    compiled.set_output_convert_nulls(False)  # keep null and undefined apart
    return compiled


def _opening(text: str, field: str) -> str:
    return f"The JSONata expression '{text}' specified for the field '{field}'"


def _is_number(value: JSON) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _milliseconds(now: float | None, env: Env) -> int:
    """``$now()``'s instant: ``now`` if given, else the state's entered time from the context
    object (so evaluation stays a pure function of its inputs), else the wall clock."""
    if now is not None:
        return round(now * 1000)
    entered = _entered_time(env.context)
    if entered is not None:
        return round(entered * 1000)
    return round(time.time() * 1000)


def _entered_time(context: JSON) -> float | None:
    state = context.get("State") if isinstance(context, Mapping) else None
    entered = state.get("EnteredTime") if isinstance(state, Mapping) else None
    if not isinstance(entered, str):
        return None
    try:
        return datetime.fromisoformat(entered.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
