"""JSONPath-mode input/output processing, in AWS's order: InputPath → Parameters → result →
ResultSelector → ResultPath → OutputPath, plus Assign and single-path fields (ErrorPath, SecondsPath,
ItemsPath, ...). Each function raises ``EvaluationError`` with AWS's detail text for its field.
OWNER: expressions helper (JSONPath mode)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from workflows.errors import RESULT_PATH_MATCH_FAILURE, RUNTIME, EvaluationError, StatesError
from workflows.language import intrinsics, jsontext
from workflows.language.env import JSON, Env
from workflows.language.jsonpath import PathNotFound, select
from workflows.language.jsonpath_syntax import INPUT, Child, Index, PathSyntaxError, parse


def input_path(path: str | None, env: Env) -> JSON:
    """InputPath: absent → ``$``; ``None`` (JSON null) → ``{}``. ``path`` absent is passed as "$"."""
    if path is None:
        return {}
    return _invalid_path_on_miss(path, env)


def payload(template: JSON, env: Env, field: str) -> JSON:
    """Parameters / ResultSelector / ItemSelector: keys ending ``.$`` take a path, ``$$`` path,
    ``$variable`` or intrinsic; nested objects and arrays recursively. ``field`` names the field in
    error details."""
    if isinstance(template, dict):
        built: dict[str, JSON] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                built[key[:-2]] = expression(value, env, key)
            else:
                built[key] = payload(value, env, field)
        return built
    if isinstance(template, list):
        return [payload(item, env, field) for item in template]
    return template


def expression(value: JSON, env: Env, field: str) -> JSON:
    """The value of one ``"key.$"`` right-hand side: a path (``$``, ``$$``, ``$var``) or an
    intrinsic function. ``field`` is the key as written (``"value.$"``), which AWS quotes."""
    if not isinstance(value, str):
        raise EvaluationError(RUNTIME, f"The value for the field '{field}' must be a valid JSONPath or a valid "
                                       f"intrinsic function call, but was {jsontext.dumps(value)}")
    if intrinsics.is_intrinsic(value):
        return intrinsics.evaluate(value, env, field)
    try:
        return select(value, env)
    except PathNotFound as error:
        raise EvaluationError(RUNTIME, intrinsics.missing_path_detail(value, env, field)) from error
    except PathSyntaxError as error:
        raise EvaluationError(RUNTIME, f"The value for the field '{field}' must be a valid JSONPath or a valid "
                                       f"intrinsic function call: {error}") from error


def result_path(path: str | None, state_input: JSON, result: JSON) -> JSON:
    """ResultPath: "$" → result; ``None`` (JSON null) → the input unchanged; a reference path puts the
    result there, creating objects on the way (``States.ResultPathMatchFailure`` when it can't)."""
    if path is None:
        return state_input
    parsed = parse(path)
    if parsed.root != INPUT:
        raise StatesError(RESULT_PATH_MATCH_FAILURE, f"ResultPath must be a reference path into the input: {path}")
    if not parsed.segments:
        return result
    steps: list[str | int] = []
    for segment in parsed.segments:
        if isinstance(segment, Child) and len(segment.names) == 1:
            steps.append(segment.names[0])
        elif isinstance(segment, Index) and len(segment.indices) == 1:
            steps.append(segment.indices[0])
        else:
            raise StatesError(RESULT_PATH_MATCH_FAILURE, f"ResultPath must be a reference path: {path}")
    # Objects are created where missing; anything else on the way cannot hold the result.
    output = copy.deepcopy(state_input) if isinstance(state_input, (dict, list)) else state_input
    if not isinstance(output, (dict, list)):
        raise _match_failure(path, state_input)
    holder: JSON = output
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        if isinstance(step, str):
            if not isinstance(holder, dict):
                raise _match_failure(path, state_input)
            if last:
                holder[step] = result
            else:
                if not isinstance(holder.get(step), (dict, list)):
                    if step in holder and holder[step] is not None:
                        raise _match_failure(path, state_input)
                    holder[step] = {}
                holder = holder[step]
        else:
            if not isinstance(holder, list) or not -len(holder) <= step < len(holder):
                raise _match_failure(path, state_input)
            if last:
                holder[step] = result
            else:
                holder = holder[step]
    return output


def _match_failure(path: str, state_input: JSON) -> StatesError:
    return StatesError(RESULT_PATH_MATCH_FAILURE,
                       f"Unable to apply ReferencePath {path} to input {jsontext.dumps(state_input)}")


def output_path(path: str | None, value: JSON, env: Env) -> JSON:
    """OutputPath over ``value`` (``None`` → ``{}``)."""
    if path is None:
        return {}
    return _invalid_path_on_miss(path, env.with_input(value))


def _invalid_path_on_miss(path: str, env: Env) -> JSON:
    try:
        return select(path, env)
    except PathNotFound as error:
        raise EvaluationError(RUNTIME, f"Invalid path '{path}' : {error.detail}") from error
    except PathSyntaxError as error:
        raise EvaluationError(RUNTIME, f"Invalid path '{path}' : {error}") from error


def path_field(path: str, env: Env, field: str) -> JSON:
    """A single-path field (ErrorPath, CausePath, SecondsPath, TimestampPath, ItemsPath,
    MaxConcurrencyPath, ToleratedFailure*Path, TimeoutSecondsPath, HeartbeatSecondsPath): a path or,
    where AWS allows it, an intrinsic function."""
    if intrinsics.is_intrinsic(path):
        return intrinsics.evaluate(path, env, field)
    try:
        return select(path, env)
    except PathNotFound as error:
        raise EvaluationError(RUNTIME, intrinsics.missing_path_detail(path, env, field)) from error
    except PathSyntaxError as error:
        raise EvaluationError(RUNTIME, f"Invalid path '{path}' : {error}") from error


def assign(assignments: Mapping[str, JSON], env: Env) -> dict[str, JSON]:
    """JSONPath-mode Assign: the new variables (all right-hand sides read the values from before
    this Assign). ``env.input`` is what ``$`` means here — the state's result (after
    ResultSelector) for states that have one, else the state input; the caller chooses."""
    assigned: dict[str, JSON] = {}
    for key, value in assignments.items():
        if key.endswith(".$"):
            assigned[key[:-2]] = expression(value, env, key)
        else:
            # A plain string stays a string even when it looks like a path; nested objects are
            # templates like Parameters (their ".$" keys are evaluated).
            assigned[key] = payload(value, env, "Assign")
    return assigned

