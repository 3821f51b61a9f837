"""Amplify model filters (``ModelXFilterInput``) compiled to SQL expressions.

Semantics follow DynamoDB's, which Amplify clients are written against: ``ne`` and
``notContains`` match rows where the attribute is missing; ``beginsWith``/``contains`` are
case-sensitive (SQLite connections run with ``case_sensitive_like``); comparisons are typed by the
column. Every value is a bound parameter — user text never reaches the SQL string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, Table, and_, cast, false, func, not_, or_, true, tuple_

from app.errors import ValidationFailedError
from resolvers.model.spec import ColumnKind, FieldSpec, ModelSpec

_ATTRIBUTE_TYPES = {
    ColumnKind.STRING: "string",
    ColumnKind.ENUM: "string",
    ColumnKind.INT: "number",
    ColumnKind.FLOAT: "number",
    ColumnKind.BOOLEAN: "bool",
}


def compile_filter(table: Table, model: ModelSpec, flt: Mapping[str, Any] | None) -> ColumnElement[bool]:
    if not flt:
        return true()
    parts: list[ColumnElement[bool]] = []
    for key, value in flt.items():
        if value is None:
            continue
        if key == "and":
            parts.append(and_(true(), *(compile_filter(table, model, f) for f in value)))
        elif key == "or":
            parts.append(or_(false(), *(compile_filter(table, model, f) for f in value)) if value else true())
        elif key == "not":
            # SQL's NOT of an unknown (a comparison with NULL) is unknown; DynamoDB's is true.
            parts.append(not_(func.coalesce(compile_filter(table, model, value), false())))
        else:
            spec = model.fields.get(key)
            if spec is None:
                raise ValidationFailedError(f"Unknown filter field {key!r} on {model.name}")
            parts.append(_field(table.c[key], spec, value))
    return and_(true(), *parts)


def _field(col: ColumnElement[Any], spec: FieldSpec, ops: Mapping[str, Any]) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    for op, value in ops.items():
        if value is None and op not in ("eq", "ne"):
            continue
        parts.append(_operator(col, spec, op, value))
    return and_(true(), *parts)


def _operator(col: ColumnElement[Any], spec: FieldSpec, op: str, value: Any) -> ColumnElement[bool]:
    is_list = spec.kind is ColumnKind.JSON and spec.is_list
    if op == "eq":
        return col.is_(None) if value is None else _eq(col, value, is_list)
    if op == "ne":
        return col.is_not(None) if value is None else or_(col.is_(None), not_(_eq(col, value, is_list)))
    if op in ("lt", "le", "gt", "ge"):
        compared: ColumnElement[bool] = {
            "lt": col.__lt__, "le": col.__le__, "gt": col.__gt__, "ge": col.__ge__
        }[op](value)
        return compared
    if op == "between":
        low, high = _pair(value, "between")
        return col.between(low, high)
    if op == "beginsWith":
        return col.startswith(str(value), autoescape=True)
    if op == "contains":
        return _contains(col, value, is_list)
    if op == "notContains":
        return or_(col.is_(None), not_(_contains(col, value, is_list)))
    if op == "attributeExists":
        return col.is_not(None) if value else col.is_(None)
    if op == "attributeType":
        if value == "_null":
            return col.is_(None)
        expected = "list" if is_list else _ATTRIBUTE_TYPES.get(spec.kind, "map")
        return col.is_not(None) if value == expected else false()
    if op == "size":
        length = func.json_array_length(col) if is_list else func.length(col)
        return _field(length, FieldSpec(spec.name, "Int", False, False, ColumnKind.INT), value)
    if op in ("in", "notIn"):
        values = list(value)
        return col.in_(values) if op == "in" else or_(col.is_(None), col.not_in(values))
    raise ValidationFailedError(f"Unknown filter operator {op!r} on field {spec.name!r}")


def _eq(col: ColumnElement[Any], value: Any, is_list: bool) -> ColumnElement[bool]:
    if is_list:
        # Lists are stored as JSON text written by Trellis itself, so canonical text compares.
        same: ColumnElement[bool] = cast(col, String) == json.dumps(value, separators=(",", ":"))
        return same
    equal: ColumnElement[bool] = col == value
    return equal


def _contains(col: ColumnElement[Any], value: Any, is_list: bool) -> ColumnElement[bool]:
    if is_list:
        # Elements are written as compact JSON, so an element appears as itself between , [ ].
        needle = json.dumps(value, separators=(",", ":"))
        text = cast(col, String)
        return or_(
            text.contains("[" + needle + "]", autoescape=True),
            text.contains("[" + needle + ",", autoescape=True),
            text.contains("," + needle + ",", autoescape=True),
            text.contains("," + needle + "]", autoescape=True),
        )
    found: ColumnElement[bool] = col.contains(str(value), autoescape=True)
    return found


def _pair(value: Any, op: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValidationFailedError(f"{op} needs exactly two values, got {value!r}")
    return value


def compile_key_condition(columns: Sequence[ColumnElement[Any]], condition: Mapping[str, Any] | None
                          ) -> ColumnElement[bool]:
    """A sort-key condition: one operator on one key, or on a composite key.

    For a composite key each operand names some leading sort fields (``{status, createdAt}``);
    ``eq`` matches that prefix, comparisons compare the prefix as a row, and ``beginsWith``
    matches the earlier fields exactly and the last given one by prefix.
    """
    if not condition:
        return true()
    parts: list[ColumnElement[bool]] = [column.is_not(None) for column in columns]
    for op, operand in condition.items():
        if operand is None:
            continue
        if len(columns) == 1:
            spec = FieldSpec(str(getattr(columns[0], "name", "key")), "String", False, False, ColumnKind.STRING)
            parts.append(_operator(columns[0], spec, op, operand))
        else:
            parts.append(_composite(columns, op, operand))
    return and_(*parts)


def _prefix(columns: Sequence[ColumnElement[Any]], operand: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    cols, values = [], []
    for column in columns:
        value = operand.get(str(getattr(column, "name", "")))
        if value is None:
            break
        cols.append(column)
        values.append(value)
    if not cols:
        raise ValidationFailedError("A composite key condition needs at least its first sort field")
    return cols, values


def _composite(columns: Sequence[ColumnElement[Any]], op: str, operand: Any) -> ColumnElement[bool]:
    if op == "between":
        low, high = _pair(operand, "between")
        return and_(_composite(columns, "ge", low), _composite(columns, "le", high))
    cols, values = _prefix(columns, operand)
    if op == "eq":
        return and_(*(c == v for c, v in zip(cols, values, strict=True)))
    if op == "beginsWith":
        *exact, last = zip(cols, values, strict=True)
        return and_(*(c == v for c, v in exact), last[0].startswith(str(last[1]), autoescape=True))
    if op in ("lt", "le", "gt", "ge"):
        row, bound = tuple_(*cols), tuple_(*values)
        comparisons = {"lt": row.__lt__, "le": row.__le__, "gt": row.__gt__, "ge": row.__ge__}
        compared: ColumnElement[bool] = comparisons[op](bound)
        return compared
    raise ValidationFailedError(f"Unknown key condition operator {op!r}")
