"""The Wait state: Seconds, Timestamp, SecondsPath, TimestampPath (JSONPath) or Seconds/Timestamp
expressions (JSONata), with AWS's error texts for values it cannot use."""

from __future__ import annotations

from workflows import errors
from workflows.language import jsonata_eval, templates
from workflows.language.env import JSON
from workflows.language.events import to_json_text
from workflows.language.outcomes import Outcome, Sleep, Suspended
from workflows.language.states.common import StateRun
from workflows.language.timestamps import parse_timestamp


def run_wait(run: StateRun) -> Outcome:
    if run.phase == "waiting":
        return run.finish_without_result()
    until = run.now + _seconds_to_wait(run)
    cursor = run.with_extra(phase="waiting")
    return Suspended(cursor, Sleep(until))


def _seconds_to_wait(run: StateRun) -> float:
    state = run.state
    if run.jsonata:
        return _jsonata_wait(run)
    if "Seconds" in state:
        return float(state["Seconds"])
    if "Timestamp" in state:
        return _until(run, str(state["Timestamp"]))
    env = run.env(run.effective_input(), raw=False)
    if "SecondsPath" in state:
        path = str(state["SecondsPath"])
        value = templates.path_field(path, env, "SecondsPath")
        if not _is_integer(value):
            raise run.runtime_error(f"The SecondsPath parameter cannot be parsed as a long value: {path} == "
                                    f"{_shown(value)}")
        if value < 0:
            raise run.runtime_error(f"The SecondsPath parameter references a negative value: {path} == {value}")
        return float(value)
    path = str(state.get("TimestampPath"))
    value = templates.path_field(path, env, "TimestampPath")
    moment = parse_timestamp(value)
    if moment is None:
        raise run.runtime_error("The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
                                f"date-time format string: {path} == {_shown(value)}")
    return max(0.0, moment.whole_epoch_seconds - run.now)


def _jsonata_wait(run: StateRun) -> float:
    env = run.env()
    if "Seconds" in run.state:
        seconds = jsonata_eval.evaluate_expecting(run.state["Seconds"], env, "Seconds", "integer", now=run.now)
        if not _is_integer(seconds) or seconds < 0:
            raise run.runtime_error(f"The Seconds field must be a non-negative integer: {_shown(seconds)}",
                                    errors.QUERY_EVALUATION_ERROR)
        return float(seconds)
    value = jsonata_eval.evaluate_expecting(run.state.get("Timestamp"), env, "Timestamp", "string", now=run.now)
    moment = parse_timestamp(value)
    if moment is None:
        raise run.runtime_error("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                                f"format string: {_shown(value)}", errors.QUERY_EVALUATION_ERROR)
    return max(0.0, moment.whole_epoch_seconds - run.now)


def _until(run: StateRun, text: str) -> float:
    moment = parse_timestamp(text)
    if moment is None:  # the definition's validation rejects this; fail rather than wait forever
        raise run.runtime_error(f"The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                                f"format string: {text}")
    return max(0.0, moment.whole_epoch_seconds - run.now)


def _is_integer(value: JSON) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: JSON) -> str:
    """A value as AWS quotes it after ``==``: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else to_json_text(value)
