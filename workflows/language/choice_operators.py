"""The comparison operators of JSONPath-mode Choice rules, as plain predicates.

Each comparison takes the value the rule's ``Variable`` selected and the operand (the literal, or
what the ``...Path`` variant's path selected) and says whether the rule matches. A value of the
wrong type never matches and is not an error (AWS: ``StringEquals`` on a number is just false), and
booleans are never numbers even though Python says ``True == 1``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from workflows.language.env import JSON
from workflows.language.timestamps import is_timestamp, parse_timestamp

Comparison = Callable[[JSON, JSON], bool]
Ordering = Callable[[Any, Any], Any]  # operator.eq/lt/...: any two comparable values

_ORDERINGS: dict[str, Ordering] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def is_number(value: JSON) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(order: Ordering) -> Comparison:
    def compare(value: JSON, operand: JSON) -> bool:
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        # AWS compares Java strings, i.e. UTF-16 code units; big-endian UTF-16 bytes order the same.
        return bool(order(value.encode("utf-16-be"), operand.encode("utf-16-be")))
    return compare


def _numbers(order: Ordering) -> Comparison:
    def compare(value: JSON, operand: JSON) -> bool:
        return is_number(value) and is_number(operand) and bool(order(value, operand))
    return compare


def _timestamps(order: Ordering) -> Comparison:
    def compare(value: JSON, operand: JSON) -> bool:
        left, right = parse_timestamp(value), parse_timestamp(operand)
        return left is not None and right is not None and bool(order(left, right))
    return compare


def _boolean_equals(value: JSON, operand: JSON) -> bool:
    return isinstance(value, bool) and isinstance(operand, bool) and value is operand


def _string_matches(value: JSON, pattern: JSON) -> bool:
    return isinstance(value, str) and isinstance(pattern, str) and wildcard_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=256)
def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """StringMatches: ``*`` matches any run of characters; ``\\*`` is a literal star and ``\\\\`` a
    literal backslash; nothing else is special."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _build_comparisons() -> dict[str, Comparison]:
    table: dict[str, Comparison] = {"BooleanEquals": _boolean_equals, "StringMatches": _string_matches}
    for suffix, order in _ORDERINGS.items():
        table["String" + suffix] = _strings(order)
        table["Numeric" + suffix] = _numbers(order)
        table["Timestamp" + suffix] = _timestamps(order)
    return table


# Operators comparing the Variable's value with a literal operand.
COMPARISONS: dict[str, Comparison] = _build_comparisons()

# Operators whose operand is a reference path; StringMatches has no Path variant in AWS.
PATH_COMPARISONS: dict[str, Comparison] = {
    name + "Path": compare for name, compare in COMPARISONS.items() if name != "StringMatches"
}


def _is_null(value: JSON) -> bool:
    return value is None


def _is_boolean(value: JSON) -> bool:
    return isinstance(value, bool)


def _is_string(value: JSON) -> bool:
    return isinstance(value, str)


# Type tests: ``"IsString": false`` matches exactly when the value is not a string. ``IsPresent``
# is handled by the rule evaluator, since it is about the path and not the value.
TYPE_TESTS: dict[str, Callable[[JSON], bool]] = {
    "IsNull": _is_null,
    "IsBoolean": _is_boolean,
    "IsNumeric": is_number,
    "IsString": _is_string,
    "IsTimestamp": is_timestamp,
}

IS_PRESENT = "IsPresent"

# Every operator a data-test rule may use, for validation.
ALL_OPERATORS: frozenset[str] = frozenset(COMPARISONS) | frozenset(PATH_COMPARISONS) | frozenset(TYPE_TESTS) | {
    IS_PRESENT
}
