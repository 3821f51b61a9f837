"""JSONPath as Step Functions evaluates it (Jayway semantics): ``$`` the input, ``$$`` the context
object, ``$name`` a variable. OWNER: expressions helper (JSONPath mode).

A *definite* path (only single names and single indices) yields one value and raises
``PathNotFound`` when nothing matches; an *indefinite* one (``..``, ``*``, slices, filters, unions)
yields the list of matches, possibly empty. Errors carry Jayway's message (``detail``) because AWS
quotes it, e.g. ``No results for path: $['a']``.
"""

from __future__ import annotations

import math
import statistics
from functools import lru_cache
from typing import Any

from workflows.language import jsontext
from workflows.language.env import JSON, Env
from workflows.language.jsonpath_syntax import (
    CONTEXT,
    INPUT,
    VARIABLE,
    Child,
    Compare,
    Expr,
    Filter,
    Function,
    Index,
    Logic,
    Not,
    Operand,
    Path,
    PathSyntaxError,
    Scan,
    Segment,
    Slice,
    Wildcard,
    all_definite,
    normalized,
    parse,
)

__all__ = ["PathNotFound", "PathSyntaxError", "is_definite", "root_value", "select", "select_in"]


class PathNotFound(LookupError):
    def __init__(self, path: str, detail: str | None = None) -> None:
        super().__init__(detail or path)
        self.path = path
        self.detail = detail if detail is not None else f"No results for path: {path}"


_UNDEFINED: Any = object()  # a filter operand whose path matched nothing


def select(path: str, env: Env) -> JSON:
    """The value ``path`` names; a definite path that matches nothing raises ``PathNotFound``."""
    if path == "$":
        return env.input  # the default InputPath/OutputPath of nearly every state
    parsed = parse(path)
    start = root_value(path, env)
    keys = _member_names(path)
    if keys is not None:
        # Most paths are plain member chains (``$.a.b``): walk the dicts; anything else (a miss
        # included, for Jayway's exact error) takes the full evaluation.
        node = start
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            return node
    return _evaluate(parsed, start, env.input)


@lru_cache(maxsize=4096)
def _member_names(path: str) -> tuple[str, ...] | None:
    segments = parse(path).segments
    if all(isinstance(segment, Child) and len(segment.names) == 1 for segment in segments):
        return tuple(segment.names[0] for segment in segments if isinstance(segment, Child))
    return None


def select_in(path: str, value: JSON) -> JSON:
    """``path`` (rooted at ``$``) applied to ``value`` instead of the state input."""
    parsed = parse(path)
    if parsed.root != INPUT:
        raise PathSyntaxError(f"expected a path starting with '$': {path}")
    return _evaluate(parsed, value, value)


def is_definite(path: str) -> bool:
    return parse(path).definite


def root_value(path: str, env: Env) -> JSON:
    """What the path starts from: the input, the context object or the variable's value."""
    parsed = parse(path)
    if parsed.root == CONTEXT:
        return env.context
    if parsed.root == VARIABLE:
        assert parsed.variable is not None
        if parsed.variable not in env.variables:
            raise PathNotFound(path, f"The variable '${parsed.variable}' is not defined")
        return env.variables[parsed.variable]
    return env.input


def _evaluate(parsed: Path, start: JSON, document: JSON) -> JSON:
    segments = parsed.segments
    function = segments[-1] if segments and isinstance(segments[-1], Function) else None
    if function is not None:
        segments = segments[:-1]
    walker = _Walker(segments, document, strict=True)
    matches = walker.run(start)
    definite = all((isinstance(s, Child) and len(s.names) == 1) or (isinstance(s, Index) and len(s.indices) == 1)
                   for s in segments)
    if definite and not matches:
        raise PathNotFound(parsed.text, f"No results for path: {normalized(segments)}")
    result = matches[0] if definite else matches
    if function is not None:
        return _apply_function(function.name, result, parsed.text)
    return result


class _Walker:
    """Applies segments one after another, collecting matches in document order. ``strict``
    reproduces Jayway's errors for definite paths; scans and filters walk leniently."""

    def __init__(self, segments: tuple[Segment, ...], document: JSON, strict: bool) -> None:
        self.segments = segments
        self.document = document
        self.strict = strict
        # Jayway reports a missing property on the way only when the whole path is definite;
        # with a wildcard or slice further on, the path just matches nothing.
        self.path_definite = all_definite(segments)
        self.matches: list[JSON] = []

    def run(self, start: JSON) -> list[JSON]:
        self._step(start, 0, "$", True)
        return self.matches

    def _step(self, node: JSON, at: int, where: str, upstream_definite: bool) -> None:
        if at == len(self.segments):
            self.matches.append(node)
            return
        segment = self.segments[at]
        leaf = at == len(self.segments) - 1
        strict = self.strict and upstream_definite
        if isinstance(segment, Child):
            self._child(segment, node, at, where, upstream_definite, strict, leaf)
        elif isinstance(segment, Index):
            self._index(segment, node, at, where, upstream_definite, strict)
        elif isinstance(segment, Wildcard):
            for child in _children(node):
                self._step(child, at + 1, where + "[*]", False)
        elif isinstance(segment, Slice):
            if isinstance(node, list):
                for item in node[segment.start:segment.end]:
                    self._step(item, at + 1, where + "[:]", False)
            elif strict:
                raise PathNotFound(where, f"Filter: {normalized((segment,), '')} can only be applied to arrays. "
                                          f"Current context is: {jsontext.dumps(node)}")
        elif isinstance(segment, Filter):
            candidates = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
            for item in candidates:
                if _holds(segment.condition, item, self.document):
                    self._step(item, at + 1, where + "[?]", False)
        elif isinstance(segment, Scan):
            for descendant in _preorder(node):
                inner = _Walker((segment.target,), self.document, strict=False)
                for found in inner.run(descendant):
                    self._step(found, at + 1, where + "..", False)

    def _child(self, segment: Child, node: JSON, at: int, where: str, upstream_definite: bool,
               strict: bool, leaf: bool) -> None:
        if not isinstance(node, dict):
            if strict:
                property_text = ", ".join(f"'{name}'" for name in segment.names)
                raise PathNotFound(where, f"Expected to find an object with property [{property_text}] in path "
                                          f"{where} but found '{_java_class(node)}'. This is not a json object "
                                          "according to the JsonProvider: "
                                          "'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.")
            return
        if len(segment.names) > 1 and leaf:
            # Jayway merges a multi-property leaf into one object of the properties present.
            self._step({name: node[name] for name in segment.names if name in node}, at + 1, where, False)
            return
        definite = upstream_definite and len(segment.names) == 1
        for name in segment.names:
            path = f"{where}['{name}']"
            if name in node:
                self._step(node[name], at + 1, path, definite)
            elif not leaf and strict and self.path_definite:
                raise PathNotFound(path, f"Missing property in path {path}")

    def _index(self, segment: Index, node: JSON, at: int, where: str, upstream_definite: bool,
               strict: bool) -> None:
        if not isinstance(node, list):
            if strict:
                if node is None:
                    raise PathNotFound(where, f"The path {where} is null")
                raise PathNotFound(where, f"Filter: {normalized((segment,), '')} can only be applied to arrays. "
                                          f"Current context is: {jsontext.dumps(node)}")
            return
        definite = upstream_definite and len(segment.indices) == 1
        for index in segment.indices:
            effective = index + len(node) if index < 0 else index
            if 0 <= effective < len(node):
                self._step(node[effective], at + 1, f"{where}[{index}]", definite)


def _children(node: JSON) -> list[JSON]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _preorder(node: JSON) -> list[JSON]:
    nodes = [node]
    for child in _children(node):
        nodes.extend(_preorder(child))
    return nodes


def _java_class(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "com.fasterxml.jackson.databind.node.BooleanNode"
    if isinstance(value, int):
        return "com.fasterxml.jackson.databind.node.IntNode"
    if isinstance(value, float):
        return "com.fasterxml.jackson.databind.node.DoubleNode"
    if isinstance(value, str):
        return "com.fasterxml.jackson.databind.node.TextNode"
    return "com.fasterxml.jackson.databind.node.ArrayNode"


# --- filters ----------------------------------------------------------------------------------

def _holds(expr: Expr, item: JSON, document: JSON) -> bool:
    if isinstance(expr, Logic):
        if expr.operator == "&&":
            return all(_holds(part, item, document) for part in expr.parts)
        return any(_holds(part, item, document) for part in expr.parts)
    if isinstance(expr, Not):
        return not _holds(expr.inner, item, document)
    return _compare(expr, item, document)


def _operand_value(operand: Operand, item: JSON, document: JSON) -> JSON:
    if operand.path is None:
        return operand.literal
    start = document if operand.path.root == INPUT else item
    walker = _Walker(operand.path.segments, document, strict=False)
    matches = walker.run(start)
    if operand.path.definite:
        return matches[0] if matches else _UNDEFINED
    return matches


def _compare(expr: Compare, item: JSON, document: JSON) -> bool:
    left = _operand_value(expr.left, item, document)
    if expr.operator is None:
        return left is not _UNDEFINED
    assert expr.right is not None
    if expr.operator == "=~":
        return (isinstance(left, str) and expr.right.regex is not None
                and expr.right.regex.fullmatch(left) is not None)
    right = _operand_value(expr.right, item, document)
    if left is _UNDEFINED or right is _UNDEFINED:
        return expr.operator == "!="
    operator = expr.operator
    if operator == "==":
        return json_equal(left, right)
    if operator == "!=":
        return not json_equal(left, right)
    if operator in ("<", "<=", ">", ">="):
        return _ordered(left, right, operator)
    if operator in ("in", "nin"):
        found = isinstance(right, list) and any(json_equal(left, member) for member in right)
        return found if operator == "in" else not found
    if operator in ("subsetof", "anyof", "noneof"):
        if not (isinstance(left, list) and isinstance(right, list)):
            return False
        hits = [any(json_equal(member, other) for other in right) for member in left]
        return all(hits) if operator == "subsetof" else any(hits) if operator == "anyof" else not any(hits)
    if operator == "size":
        return isinstance(left, (list, str)) and is_number(right) and len(left) == right
    # empty
    return isinstance(left, (list, str)) and isinstance(right, bool) and (len(left) == 0) == right


def _ordered(left: JSON, right: JSON, operator: str) -> bool:
    if (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        if operator == "<":
            return bool(left < right)
        if operator == "<=":
            return bool(left <= right)
        if operator == ">":
            return bool(left > right)
        return bool(left >= right)
    return False


def is_number(value: JSON) -> bool:
    """JSON numbers only: booleans are never numbers."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_equal(left: JSON, right: JSON) -> bool:
    """Equality of JSON values: numbers by value, booleans only with booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    return type(left) is type(right) and bool(left == right)


# --- functions --------------------------------------------------------------------------------

def _apply_function(name: str, value: JSON, path: str) -> JSON:
    if name in ("length", "size"):
        if isinstance(value, (list, dict, str)):
            return len(value)
        raise PathNotFound(path, f"Aggregation function attempted to calculate value using empty array ({path})")
    if name == "keys":
        if isinstance(value, dict):
            return list(value.keys())
        raise PathNotFound(path, f"Function keys() can only be applied to objects ({path})")
    if name in ("first", "last"):
        if isinstance(value, list) and value:
            return value[0] if name == "first" else value[-1]
        raise PathNotFound(path, f"Aggregation function attempted to calculate value using empty array ({path})")
    numbers = [item for item in value if is_number(item)] if isinstance(value, list) else []
    if not numbers:
        raise PathNotFound(path, f"Aggregation function attempted to calculate value using empty array ({path})")
    if name == "min":
        return float(min(numbers))
    if name == "max":
        return float(max(numbers))
    if name == "sum":
        return float(math.fsum(numbers))
    if name == "avg":
        return float(math.fsum(numbers) / len(numbers))
    return float(statistics.pstdev(numbers))  # stddev
