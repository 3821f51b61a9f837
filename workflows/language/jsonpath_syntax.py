"""The parsed form of a JSONPath (Jayway dialect, as Step Functions accepts it).

A path is a root — ``$`` (the input), ``$$`` (the context object) or ``$name`` (a variable) — and
segments. Filter expressions (``[?(...)]``) parse into a small tree of ``Compare``/``Logic``/``Not``
nodes over ``Operand``s. Parsing is pure and cached; evaluation lives in ``jsonpath``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

INPUT = "input"
CONTEXT = "context"
VARIABLE = "variable"

_VARIABLE_ROOT = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_INTEGER = re.compile(r"-?\d+")
_NAME_STOP = ".[( \t"
FUNCTIONS = ("length", "size", "min", "max", "avg", "sum", "stddev", "keys", "first", "last")


class PathSyntaxError(ValueError):
    pass


# --- segments ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Child:
    names: tuple[str, ...]           # one name: definite; several: Jayway's multi-property select


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Index:
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Slice:
    start: int | None
    end: int | None


@dataclass(frozen=True)
class Filter:
    condition: Expr


@dataclass(frozen=True)
class Scan:
    """``..`` followed by ``target``: ``target`` applied to every node at or below this one."""

    target: Segment


@dataclass(frozen=True)
class Function:
    name: str


Segment = Child | Wildcard | Index | Slice | Filter | Scan | Function


# --- filter expressions -----------------------------------------------------------------------

@dataclass(frozen=True)
class Operand:
    """A literal (``path is None``) or a path relative to ``@`` (the item) or ``$`` (the input)."""

    literal: Any = None
    path: Path | None = None
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Compare:
    left: Operand
    operator: str | None              # None: an existence test of ``left``
    right: Operand | None = None


@dataclass(frozen=True)
class Logic:
    operator: str                     # "&&" or "||"
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    inner: Expr


Expr = Compare | Logic | Not


@dataclass(frozen=True)
class Path:
    text: str
    root: str                         # INPUT, CONTEXT, VARIABLE, or "item" (``@`` in a filter)
    variable: str | None
    segments: tuple[Segment, ...]

    @property
    def definite(self) -> bool:
        return all_definite(self.segments)


def all_definite(segments: tuple[Segment, ...]) -> bool:
    """Only single names, single indices (and a closing function): the path names one value."""
    return all(_is_definite(segment) for segment in segments)


def _is_definite(segment: Segment) -> bool:
    if isinstance(segment, Child):
        return len(segment.names) == 1
    if isinstance(segment, Index):
        return len(segment.indices) == 1
    return isinstance(segment, Function)


def normalized(segments: tuple[Segment, ...], prefix: str = "$") -> str:
    """Jayway's normalized form of a definite path, as its messages print it: ``$['a'][0]``."""
    text = prefix
    for segment in segments:
        if isinstance(segment, Child):
            text += "[" + ",".join(f"'{name}'" for name in segment.names) + "]"
        elif isinstance(segment, Index):
            text += "[" + ",".join(str(index) for index in segment.indices) + "]"
        elif isinstance(segment, Wildcard):
            text += "[*]"
        elif isinstance(segment, Slice):
            text += f"[{'' if segment.start is None else segment.start}:{'' if segment.end is None else segment.end}]"
        elif isinstance(segment, Filter):
            text += "[?]"
        elif isinstance(segment, Scan):
            text += ".." + normalized((segment.target,), "")
        else:
            text += f".{segment.name}()"
    return text


# --- parsing ----------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def parse(text: str) -> Path:
    if text.startswith("$$"):
        root, variable, position = CONTEXT, None, 2
    elif text.startswith("@"):
        root, variable, position = "item", None, 1
    elif (match := _VARIABLE_ROOT.match(text)) is not None:
        root, variable, position = VARIABLE, match.group(1), match.end()
    elif text.startswith("$"):
        root, variable, position = INPUT, None, 1
    else:
        raise PathSyntaxError(f"a path must start with '$': {text}")
    segments = _Segments(text, position).parse()
    return Path(text, root, variable, tuple(segments))


class _Segments:
    def __init__(self, text: str, position: int) -> None:
        self.text = text
        self.position = position

    def fail(self, why: str) -> PathSyntaxError:
        return PathSyntaxError(f"{why} at position {self.position} in path: {self.text}")

    def parse(self) -> list[Segment]:
        segments: list[Segment] = []
        text = self.text
        while self.position < len(text):
            if text.startswith("..", self.position):
                self.position += 2
                if self.position < len(text) and text[self.position] == "[":
                    segments.append(Scan(self.bracket()))
                else:
                    segments.append(Scan(self.dotted()))
            elif text[self.position] == ".":
                self.position += 1
                segments.append(self.dotted())
            elif text[self.position] == "[":
                segments.append(self.bracket())
            else:
                raise self.fail("unexpected character")
            if isinstance(segments[-1], Function) and self.position < len(text):
                raise self.fail("a function must end the path")
        return segments

    def dotted(self) -> Segment:
        text = self.text
        if self.position < len(text) and text[self.position] == "*":
            self.position += 1
            return Wildcard()
        start = self.position
        while self.position < len(text) and text[self.position] not in _NAME_STOP:
            self.position += 1
        name = text[start:self.position]
        if not name:
            raise self.fail("empty property name")
        if text.startswith("()", self.position):
            if name not in FUNCTIONS:
                raise self.fail(f"unknown function {name}()")
            self.position += 2
            return Function(name)
        return Child((name,))

    def bracket(self) -> Segment:
        text = self.text
        close = _matching_bracket(text, self.position)
        if close < 0:
            raise self.fail("unclosed '['")
        inner = text[self.position + 1:close].strip()
        self.position = close + 1
        if inner == "*":
            return Wildcard()
        if inner.startswith("?"):
            body = inner[1:].strip()
            if not (body.startswith("(") and body.endswith(")")):
                raise self.fail("a filter must be written [?(...)]")
            return Filter(parse_filter(body[1:-1]))
        if inner[:1] in "'\"":
            return Child(tuple(_split_quoted(inner, self)))
        if ":" in inner:
            start_text, _, end_text = inner.partition(":")
            return Slice(_optional_int(start_text, self), _optional_int(end_text, self))
        parts = [part.strip() for part in inner.split(",")]
        if not parts or not all(_INTEGER.fullmatch(part) for part in parts):
            raise self.fail(f"invalid array index [{inner}]")
        return Index(tuple(int(part) for part in parts))


def _optional_int(text: str, where: _Segments) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not _INTEGER.fullmatch(text):
        raise where.fail(f"invalid slice bound '{text}'")
    return int(text)


def _matching_bracket(text: str, open_at: int) -> int:
    depth, quote, position = 0, "", open_at
    while position < len(text):
        char = text[position]
        if quote:
            if char == "\\":
                position += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return position
        position += 1
    return -1


def _split_quoted(inner: str, where: _Segments) -> list[str]:
    names: list[str] = []
    position = 0
    while position < len(inner):
        quote = inner[position]
        if quote not in "'\"":
            raise where.fail("expected a quoted property name")
        position += 1
        name: list[str] = []
        while position < len(inner) and inner[position] != quote:
            # Only an escaped delimiter is unescaped; any other backslash is part of the name
            # (AWS reads $['a\"b'] as the key a\"b: see the recorded escape-sequence case).
            if inner.startswith("\\" + quote, position):
                position += 1
            name.append(inner[position])
            position += 1
        if position >= len(inner):
            raise where.fail("unclosed quote")
        names.append("".join(name))
        position += 1
        while position < len(inner) and inner[position] in " \t":
            position += 1
        if position < len(inner):
            if inner[position] != ",":
                raise where.fail("expected ',' between property names")
            position += 1
            while position < len(inner) and inner[position] in " \t":
                position += 1
    return names


# --- filter expressions -----------------------------------------------------------------------

_OPERATORS = ("==", "!=", "<=", ">=", "=~", "<", ">")
_WORD_OPERATORS = ("in", "nin", "subsetof", "anyof", "noneof", "size", "empty")


def parse_filter(text: str) -> Expr:
    parser = _FilterParser(text)
    expr = parser.disjunction()
    parser.skip_space()
    if parser.position != len(text):
        raise PathSyntaxError(f"unexpected text in filter: {text[parser.position:]}")
    return expr


class _FilterParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def take(self, token: str) -> bool:
        self.skip_space()
        if self.text.startswith(token, self.position):
            self.position += len(token)
            return True
        return False

    def disjunction(self) -> Expr:
        parts = [self.conjunction()]
        while self.take("||"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Logic("||", tuple(parts))

    def conjunction(self) -> Expr:
        parts = [self.unary()]
        while self.take("&&"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Logic("&&", tuple(parts))

    def unary(self) -> Expr:
        self.skip_space()
        if self.text.startswith("!", self.position) and not self.text.startswith("!=", self.position):
            self.position += 1
            return Not(self.unary())
        if self.take("("):
            inner = self.disjunction()
            if not self.take(")"):
                raise PathSyntaxError(f"missing ')' in filter: {self.text}")
            return inner
        left = self.operand()
        operator = self.operator()
        if operator is None:
            return Compare(left, None)
        return Compare(left, operator, self.operand())

    def operator(self) -> str | None:
        self.skip_space()
        for operator in _OPERATORS:
            if self.text.startswith(operator, self.position):
                self.position += len(operator)
                return operator
        for word in _WORD_OPERATORS:
            end = self.position + len(word)
            if self.text.startswith(word, self.position) and (end >= len(self.text) or not self.text[end].isalnum()):
                self.position = end
                return word
        return None

    def operand(self) -> Operand:
        self.skip_space()
        text, start = self.text, self.position
        if start >= len(text):
            raise PathSyntaxError(f"missing operand in filter: {text}")
        char = text[start]
        if char in "@$":
            end = start + 1
            depth, quote = 0, ""
            while end < len(text):
                c = text[end]
                if quote:
                    if c == quote:
                        quote = ""
                elif c in "'\"":
                    quote = c
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                elif depth == 0 and (c.isspace() or c in "=!<>&|)"):
                    break
                end += 1
            self.position = end
            return Operand(path=parse(text[start:end]))
        if char in "'\"":
            end = start + 1
            chars: list[str] = []
            while end < len(text) and text[end] != char:
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                chars.append(text[end])
                end += 1
            self.position = end + 1
            return Operand(literal="".join(chars))
        if char == "/":
            end = text.index("/", start + 1) if "/" in text[start + 1:] else -1
            if end < 0:
                raise PathSyntaxError(f"unclosed regular expression in filter: {text}")
            flags_end = end + 1
            while flags_end < len(text) and text[flags_end].isalpha():
                flags_end += 1
            flags = re.IGNORECASE if "i" in text[end + 1:flags_end] else 0
            self.position = flags_end
            return Operand(regex=re.compile(text[start + 1:end], flags))
        if char in "[{":
            decoder = json.JSONDecoder()
            try:
                value, end = decoder.raw_decode(text.replace("'", '"'), start)
            except ValueError as error:
                raise PathSyntaxError(f"invalid literal in filter: {text[start:]}") from error
            self.position = end
            return Operand(literal=value)
        match = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null").match(text, start)
        if match is None:
            raise PathSyntaxError(f"invalid operand in filter: {text[start:]}")
        self.position = match.end()
        return Operand(literal=json.loads(match.group(0)))
