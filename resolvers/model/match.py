"""Evaluate an Amplify filter against one item in Python.

The database evaluates list filters (``filters.py``); this evaluates the same language where
there is no query to run: ``condition`` on create (against the absent item, as DynamoDB does) and,
later, subscription filters on each published item. Semantics match ``filters.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches(item: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    if not flt:
        return True
    for key, value in flt.items():
        if value is None:
            continue
        if key == "and":
            if not all(matches(item, f) for f in value):
                return False
        elif key == "or":
            if value and not any(matches(item, f) for f in value):
                return False
        elif key == "not":
            if matches(item, value):
                return False
        else:
            actual = item.get(key)
            if not all(compare(actual, op, arg) for op, arg in value.items() if arg is not None or op in ("eq", "ne")):
                return False
    return True


def compare(actual: Any, op: str, arg: Any) -> bool:
    """One filter operator on one attribute value (missing = None), with DynamoDB's semantics."""
    if op == "eq":
        return bool(actual == arg)
    if op == "ne":
        return bool(actual != arg)
    if op == "attributeExists":
        return (actual is not None) == bool(arg)
    if op == "in":
        return actual in arg
    if op == "notIn":
        return actual not in arg
    if op == "size":
        return actual is not None and all(compare(len(actual), k, v) for k, v in arg.items() if v is not None)
    if op in ("contains", "notContains"):
        found = actual is not None and (arg in actual if isinstance(actual, list | str) else False)
        return found if op == "contains" else not found
    if actual is None:
        return False
    try:
        if op == "lt":
            return bool(actual < arg)
        if op == "le":
            return bool(actual <= arg)
        if op == "gt":
            return bool(actual > arg)
        if op == "ge":
            return bool(actual >= arg)
        if op == "between":
            return bool(arg[0] <= actual <= arg[1])
    except TypeError:
        return False
    if op == "beginsWith":
        return isinstance(actual, str) and actual.startswith(str(arg))
    return False
