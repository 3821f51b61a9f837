"""Condition operators: parsing of a ``Condition`` block and its evaluation against a request context.

Rules implemented (AWS IAM User Guide, "Condition operators", "Condition", "Single-valued vs. multivalued context
keys"):

* Context key names are case-insensitive; values are case-sensitive except for the ``...IgnoreCase`` operators.
* Several operators in one block, and several keys under one operator, are ANDed; several values for one key are
  ORed. For negated operators (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``...) the key must match *none*
  of the values, i.e. the negation of the ORed positive match.
* A key absent from the request: the condition is false, except that it is true for negated operators, for every
  ``...IfExists`` operator, for ``ForAllValues:`` (no values at all, or one empty string — "a null data set"), and
  ``Null`` tests presence itself. ``ForAnyValue:`` on an absent key is false (true with ``IfExists``).
* A request value that cannot be read as the operator's type (e.g. ``"abc"`` for ``NumericLessThan``) makes the
  condition false, for negated operators too.
* Policy variables are substituted in String, ARN and Bool values (Version 2012-10-17). A value whose variable has no
  value and no default matches nothing, so a positive operator skips it and a negated operator finds no match in it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from auth.iam.context import RequestContext, Scalar, scalar_to_string
from auth.iam.variables import Template, TemplateError, compile_pattern, parse_template

__all__ = ["OPERATORS", "Condition", "ConditionError", "parse_condition_block"]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
Family = Literal["string", "numeric", "date", "bool", "binary", "ip", "arn", "null"]
Compare = Literal["eq", "eq_ci", "like", "lt", "le", "gt", "ge", "in", "arn"]


class ConditionError(ValueError):
    """An invalid condition operator, key or value."""


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    family: Family
    compare: Compare
    negated: bool


OPERATORS: dict[str, OperatorSpec] = {
    "StringEquals": OperatorSpec("string", "eq", False),
    "StringNotEquals": OperatorSpec("string", "eq", True),
    "StringEqualsIgnoreCase": OperatorSpec("string", "eq_ci", False),
    "StringNotEqualsIgnoreCase": OperatorSpec("string", "eq_ci", True),
    "StringLike": OperatorSpec("string", "like", False),
    "StringNotLike": OperatorSpec("string", "like", True),
    "NumericEquals": OperatorSpec("numeric", "eq", False),
    "NumericNotEquals": OperatorSpec("numeric", "eq", True),
    "NumericLessThan": OperatorSpec("numeric", "lt", False),
    "NumericLessThanEquals": OperatorSpec("numeric", "le", False),
    "NumericGreaterThan": OperatorSpec("numeric", "gt", False),
    "NumericGreaterThanEquals": OperatorSpec("numeric", "ge", False),
    "DateEquals": OperatorSpec("date", "eq", False),
    "DateNotEquals": OperatorSpec("date", "eq", True),
    "DateLessThan": OperatorSpec("date", "lt", False),
    "DateLessThanEquals": OperatorSpec("date", "le", False),
    "DateGreaterThan": OperatorSpec("date", "gt", False),
    "DateGreaterThanEquals": OperatorSpec("date", "ge", False),
    "Bool": OperatorSpec("bool", "eq", False),
    "BinaryEquals": OperatorSpec("binary", "eq", False),
    "IpAddress": OperatorSpec("ip", "in", False),
    "NotIpAddress": OperatorSpec("ip", "in", True),
    "ArnEquals": OperatorSpec("arn", "arn", False),
    "ArnLike": OperatorSpec("arn", "arn", False),
    "ArnNotEquals": OperatorSpec("arn", "arn", True),
    "ArnNotLike": OperatorSpec("arn", "arn", True),
    "Null": OperatorSpec("null", "eq", False),
}
_OPERATORS_CI = {name.lower(): name for name in OPERATORS}
_SET_OPERATORS = {"forallvalues": "ForAllValues", "foranyvalue": "ForAnyValue"}
_VARIABLE_FAMILIES = {"string", "arn", "bool"}


# ---------------------------------------------------------------------------------------------------------- parsing


def parse_number(text: str) -> Decimal | None:
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None


def parse_date(text: str) -> datetime | None:
    """ISO 8601 (date, date-time, ``Z`` or offset, fractions) or epoch seconds; naive times are UTC."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", stripped) and not re.fullmatch(r"\d{8}", stripped):
        try:
            return datetime.fromtimestamp(float(stripped), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def parse_binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _policy_scalar(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    raise ConditionError(f"{where}: condition values must be strings, numbers or booleans, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``operator -> key -> values`` test."""

    operator: str
    base: str
    set_operator: str | None
    if_exists: bool
    key: str
    values: tuple[Any, ...]

    @property
    def spec(self) -> OperatorSpec:
        return OPERATORS[self.base]

    # ------------------------------------------------------------------------------------------------- evaluation

    def evaluate(self, context: RequestContext) -> bool:
        spec = self.spec
        request_values = context.get(self.key)
        missing = len(request_values) == 0
        if spec.family == "null":
            return any(expected == missing for expected in self.values)
        if self.set_operator == "ForAllValues":
            if missing or request_values == ("",):
                return True
        elif missing:
            if self.if_exists:
                return True
            if self.set_operator == "ForAnyValue":
                return False
            return spec.negated
        converted: list[Any] = []
        for raw in request_values:
            value = _convert_request_value(spec.family, raw)
            if value is None:
                return False
            converted.append(value)
        matchers = self._matchers(context)

        def hit(value: Any) -> bool:
            return any(matcher(value) for matcher in matchers)

        if self.set_operator is not None:
            outcome = (hit(v) != spec.negated for v in converted)
            return all(outcome) if self.set_operator == "ForAllValues" else any(outcome)
        return any(hit(v) for v in converted) != spec.negated

    def _matchers(self, context: RequestContext) -> list[Callable[[Any], bool]]:
        spec = self.spec
        out: list[Callable[[Any], bool]] = []
        for policy_value in self.values:
            if isinstance(policy_value, Template):
                segments = policy_value.resolve(context.variable)
                if segments is None:
                    continue  # an unresolved variable matches nothing
                matcher = _template_matcher(spec, segments)
                if matcher is not None:
                    out.append(matcher)
            else:
                out.append(_plain_matcher(spec, policy_value))
        return out


def _convert_request_value(family: Family, raw: Scalar) -> Any:
    if family in ("string", "arn"):
        return scalar_to_string(raw)
    if family == "numeric":
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int | Decimal):
            return Decimal(raw)
        if isinstance(raw, float):
            return Decimal(repr(raw)) if raw == raw and raw not in (float("inf"), float("-inf")) else None
        return parse_number(raw) if isinstance(raw, str) else None
    if family == "date":
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int | float | Decimal):
            return parse_date(str(raw))
        return parse_date(raw) if isinstance(raw, str) else None
    if family == "bool":
        if isinstance(raw, bool):
            return raw
        return parse_bool(raw) if isinstance(raw, str) else None
    if family == "binary":
        if isinstance(raw, bytes):
            return raw
        return parse_binary(raw) if isinstance(raw, str) else None
    if family == "ip":
        if isinstance(raw, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return raw
        if isinstance(raw, str):
            try:
                return ipaddress.ip_address(raw.strip())
            except ValueError:
                return None
        return None
    return None  # pragma: no cover - Null never converts


def _plain_matcher(spec: OperatorSpec, policy_value: Any) -> Callable[[Any], bool]:
    compare = spec.compare
    if compare == "in":
        network: IpNetwork = policy_value
        return lambda v: v.version == network.version and v in network
    if compare == "lt":
        return lambda v: bool(v < policy_value)
    if compare == "le":
        return lambda v: bool(v <= policy_value)
    if compare == "gt":
        return lambda v: bool(v > policy_value)
    if compare == "ge":
        return lambda v: bool(v >= policy_value)
    return lambda v: bool(v == policy_value)


def _template_matcher(spec: OperatorSpec, segments: tuple[tuple[str, bool], ...]) -> Callable[[Any], bool] | None:
    text = "".join(t for t, _ in segments)
    if spec.family == "bool":
        expected = parse_bool(text)
        if expected is None:
            return None
        return lambda v: bool(v == expected)
    if spec.compare == "eq":
        return lambda v: bool(v == text)
    if spec.compare == "eq_ci":
        folded = text.casefold()
        return lambda v: bool(v.casefold() == folded)
    if spec.compare == "like":
        pattern = compile_pattern(segments, arn=False)
        return lambda v: pattern.fullmatch(v) is not None
    pattern = compile_pattern(segments, arn=True)
    return lambda v: pattern.fullmatch(v) is not None


def _parse_values(spec: OperatorSpec, operator: str, key: str, raw: object, variables: bool) -> tuple[Any, ...]:
    where = f"{operator} {key!r}"
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ConditionError(f"{where}: at least one condition value is required")
    out: list[Any] = []
    for item in items:
        text = _policy_scalar(item, where)
        family = spec.family
        if family in _VARIABLE_FAMILIES:
            try:
                template = parse_template(text, variables=variables)
            except TemplateError as exc:
                raise ConditionError(f"{where}: {exc}") from exc
            if family == "bool" and not template.has_variables and parse_bool(text) is None:
                raise ConditionError(f"{where}: {text!r} is not a boolean (true or false)")
            out.append(template)
            continue
        parsed: object
        if family == "numeric":
            parsed = parse_number(text)
        elif family == "date":
            parsed = parse_date(text)
        elif family == "binary":
            parsed = parse_binary(text)
        elif family == "ip":
            parsed = parse_network(text)
        else:
            parsed = parse_bool(text)
        if parsed is None:
            raise ConditionError(f"{where}: {text!r} is not a valid {family} value")
        out.append(parsed)
    return tuple(out)


def parse_operator(name: str) -> tuple[str, str | None, bool]:
    """Split ``ForAnyValue:StringLikeIfExists`` into ``("StringLike", "ForAnyValue", True)``."""
    set_operator: str | None = None
    rest = name
    prefix, sep, tail = name.partition(":")
    if sep:
        set_operator = _SET_OPERATORS.get(prefix.lower())
        if set_operator is None:
            raise ConditionError(f"unknown set operator {prefix!r} in condition operator {name!r}")
        rest = tail
    if_exists = False
    base = _OPERATORS_CI.get(rest.lower())
    if base is None and rest.lower().endswith("ifexists"):
        base = _OPERATORS_CI.get(rest[: -len("IfExists")].lower())
        if_exists = True
    if base is None:
        raise ConditionError(f"unknown condition operator {name!r}")
    if base == "Null" and (if_exists or set_operator):
        raise ConditionError(f"condition operator {name!r}: Null cannot be combined with IfExists or a set operator")
    return base, set_operator, if_exists


def parse_condition_block(block: object, *, variables: bool) -> tuple[Condition, ...]:
    if not isinstance(block, Mapping):
        raise ConditionError("Condition must be an object mapping operators to {key: values}")
    conditions: list[Condition] = []
    for operator, keys in block.items():
        if not isinstance(operator, str):
            raise ConditionError("condition operators must be strings")
        base, set_operator, if_exists = parse_operator(operator)
        if not isinstance(keys, Mapping) or not keys:
            raise ConditionError(f"{operator}: expected a non-empty object mapping condition keys to values")
        seen: dict[str, str] = {}
        for key, raw in keys.items():
            if not isinstance(key, str) or not key.strip():
                raise ConditionError(f"{operator}: condition keys must be non-empty strings")
            if key.lower() in seen:
                raise ConditionError(f"{operator}: duplicate condition keys {seen[key.lower()]!r} and {key!r}")
            seen[key.lower()] = key
            values = _parse_values(OPERATORS[base], operator, key, raw, variables)
            conditions.append(Condition(operator, base, set_operator, if_exists, key, values))
    return tuple(conditions)
