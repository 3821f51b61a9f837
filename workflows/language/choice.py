"""Choice rules: every comparison operator and its ``Path`` variant, the type tests, StringMatches,
And/Or/Not (JSONPath mode) and ``Condition`` (JSONata mode). OWNER: choice/validation helper.

``env.input`` is what the rules see as ``$``: in JSONPath mode the interpreter applies InputPath
first. Rules are evaluated in order and lazily (And stops at the first false rule, Or at the first
true one), which matters because a missing Variable is an error except under ``IsPresent`` — the
usual ``And: [IsPresent, NumericEquals]`` guard relies on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflows import errors
from workflows.errors import EvaluationError
from workflows.language import jsonata_eval
from workflows.language.choice_operators import COMPARISONS, IS_PRESENT, PATH_COMPARISONS, TYPE_TESTS
from workflows.language.env import JSON, Env
from workflows.language.jsonpath import PathNotFound, select

_MISSING: object = object()


def select_rule(state: Mapping[str, JSON], env: Env, jsonata: bool,
                now: float | None = None) -> Mapping[str, JSON] | None:
    """The first of ``state["Choices"]`` that matches, or None (the interpreter then takes Default or
    fails with States.NoChoiceMatched). ``now`` is what JSONata's ``$now()`` sees (by default the
    state's entered time)."""
    for rule in state["Choices"]:
        matched = condition_holds(rule, env, now) if jsonata else rule_matches(rule, env)
        if matched:
            return rule  # type: ignore[no-any-return]
    return None


# --- JSONPath mode -----------------------------------------------------------------------------

def rule_matches(rule: Mapping[str, JSON], env: Env) -> bool:
    """A JSONPath-mode rule (top-level or nested) against ``env``. Raises ``EvaluationError``
    (States.Runtime) when a path the rule compares with does not exist."""
    if "And" in rule:
        return all(rule_matches(sub_rule, env) for sub_rule in rule["And"])
    if "Or" in rule:
        return any(rule_matches(sub_rule, env) for sub_rule in rule["Or"])
    if "Not" in rule:
        return not rule_matches(rule["Not"], env)
    return _data_test(rule, env)


def _data_test(rule: Mapping[str, JSON], env: Env) -> bool:
    variable_path = rule["Variable"]
    value = _lookup(variable_path, env)
    if IS_PRESENT in rule:
        return (value is not _MISSING) is rule[IS_PRESENT]
    if value is _MISSING:
        raise _invalid_path(variable_path)
    for name, operand in rule.items():
        if name in COMPARISONS:
            return COMPARISONS[name](value, operand)
        if name in PATH_COMPARISONS:
            compared = _lookup(operand, env)
            if compared is _MISSING:
                raise _invalid_path(operand)
            return PATH_COMPARISONS[name](value, compared)
        if name in TYPE_TESTS:
            return TYPE_TESTS[name](value) is operand
    # Validation rejects such rules; reaching here means an unvalidated definition.
    raise EvaluationError(errors.RUNTIME, f"The choice rule for '{variable_path}' has no comparison operator.")


def _lookup(path: JSON, env: Env) -> JSON:
    try:
        return select(path, env)
    except PathNotFound:
        return _MISSING


def _invalid_path(path: JSON) -> EvaluationError:
    return EvaluationError(
        errors.RUNTIME, f"Invalid path '{path}': The choice state's condition path references an invalid value."
    )


# --- JSONata mode ------------------------------------------------------------------------------

def condition_holds(rule: Mapping[str, JSON], env: Env, now: float | None = None) -> bool:
    """A JSONata-mode rule: its ``Condition`` is ``true``/``false`` or a ``{% %}`` expression that
    must evaluate to a boolean (else States.QueryEvaluationError, as AWS words it)."""
    condition = rule["Condition"]
    if isinstance(condition, bool):  # a constant needs no evaluator
        return condition
    return bool(jsonata_eval.evaluate_expecting(condition, env, "Condition", "boolean", now=now))
