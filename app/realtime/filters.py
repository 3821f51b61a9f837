"""AppSync's enhanced subscription filters: set by a subscription resolver, applied to each event.

    {"filterGroup": [
        {"filters": [{"fieldName": "severity", "operator": "ge", "value": 7},
                     {"fieldName": "priority", "operator": "in", "value": ["high", "highest"]}]},
        {"filters": [{"fieldName": "classification", "operator": "eq", "value": "security"}]}]}

Groups are OR'd, the filters in a group AND'd. ``fieldName`` may be a dotted path into the item
(up to 5 levels, 256 characters). Operators: ``eq ne le lt ge gt contains notContains beginsWith
in notIn between containsAny`` (``in``/``notIn`` take up to 5 values, ``containsAny`` up to 20),
as AppSync's utility reference lists them. A malformed filter is refused when the subscription
starts, with the reason.

A resolver that sets a filter takes over from argument filtering (as on AppSync, where the
resolver's filter is the subscription's filter: it names the arguments it wants compared, e.g.
``{"group": {"eq": ctx.args["group"]}}`` through ``util.to_subscription_filter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import ValidationFailedError
from resolvers.model.match import compare

MAX_DEPTH = 5
MAX_PATH = 256
MAX_LIST = {"in": 5, "notIn": 5, "containsAny": 20}
OPERATORS = {"eq", "ne", "le", "lt", "ge", "gt", "contains", "notContains", "beginsWith", "in", "notIn", "between",
             "containsAny"}


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    operator: str
    value: Any

    def holds(self, item: Mapping[str, Any]) -> bool:
        actual: Any = item
        for part in self.path:
            actual = actual.get(part) if isinstance(actual, Mapping) else None
        return _apply(self.operator, actual, self.value)


@dataclass(frozen=True)
class EnhancedFilter:
    groups: tuple[tuple[Condition, ...], ...]

    def matches(self, item: Mapping[str, Any]) -> bool:
        return any(all(c.holds(item) for c in group) for group in self.groups)


def _apply(op: str, actual: Any, value: Any) -> bool:
    if op == "containsAny":
        return isinstance(actual, list) and any(v in actual for v in value)
    return compare(actual, op, value)  # the other operators mean what they mean in model filters


def _condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise ValidationFailedError(f"{where} must be an object with fieldName, operator and value")
    name, op = raw.get("fieldName"), raw.get("operator")
    if not isinstance(name, str) or not name or len(name) > MAX_PATH:
        raise ValidationFailedError(f"{where}.fieldName must be a non-empty string of at most {MAX_PATH} characters")
    path = tuple(name.split("."))
    if len(path) > MAX_DEPTH or not all(path):
        raise ValidationFailedError(f"{where}.fieldName {name!r} nests deeper than {MAX_DEPTH} levels")
    if op not in OPERATORS:
        raise ValidationFailedError(f"{where}.operator {op!r} is not one of {', '.join(sorted(OPERATORS))}")
    value = raw.get("value")
    if op in MAX_LIST or op == "between":
        if not isinstance(value, list):
            raise ValidationFailedError(f"{where}: operator {op} needs a list value")
        if op == "between" and len(value) != 2:
            raise ValidationFailedError(f"{where}: between needs exactly two values")
        if op in MAX_LIST and len(value) > MAX_LIST[op]:
            raise ValidationFailedError(f"{where}: {op} takes at most {MAX_LIST[op]} values")
    return Condition(path, op, value)


def parse_filter(raw: Any) -> EnhancedFilter:
    groups = raw.get("filterGroup") if isinstance(raw, Mapping) else None
    if not isinstance(groups, list) or not groups:
        raise ValidationFailedError("A subscription filter needs a non-empty filterGroup list")
    parsed = []
    for g, group in enumerate(groups):
        filters = group.get("filters") if isinstance(group, Mapping) else None
        if not isinstance(filters, list) or not filters:
            raise ValidationFailedError(f"filterGroup[{g}] needs a non-empty filters list")
        parsed.append(tuple(_condition(f, f"filterGroup[{g}].filters[{i}]") for i, f in enumerate(filters)))
    return EnhancedFilter(tuple(parsed))


def to_subscription_filter(flt: Mapping[str, Any], ignored_fields: Sequence[str] = ()) -> dict[str, Any]:
    """AppSync's ``util.transform.toSubscriptionFilter``: ``{field: {op: value}, or: [...]}`` to filterGroups.

    Fields at the top are AND'd into one group; a top-level ``or`` makes one group per branch
    (each AND'd with the top-level fields). ``ignored_fields`` are left out.
    """
    def conditions(part: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, ops in part.items():
            if name in ("or", "and") or name in ignored_fields or ops is None:
                continue
            if not isinstance(ops, Mapping):
                raise ValidationFailedError(f"filter field {name!r} needs an object of operators")
            out.extend({"fieldName": name, "operator": op, "value": v} for op, v in ops.items())
        for nested in part.get("and") or ():
            out.extend(conditions(nested))
        return out

    common = conditions(flt)
    branches = flt.get("or") or []
    groups = [{"filters": common + conditions(branch)} for branch in branches] or [{"filters": common}]
    return {"filterGroup": groups}
