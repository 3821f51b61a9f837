"""Parser of the intrinsic-function syntax: ``States.Name(arg, ...)`` where an argument is a string
literal in single quotes (escapes ``\\'`` ``\\{`` ``\\}`` ``\\\\``), a number, ``true``/``false``/
``null``, a path (``$.x``, ``$$.x``, ``$var``) or a nested call."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from workflows.language.env import JSON

_NAME = re.compile(r"States\.([A-Za-z0-9]+)\(")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_WORDS: dict[str, JSON] = {"true": True, "false": False, "null": None}


class IntrinsicSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Literal:
    value: JSON
    # For a string literal: its text with ``\{``/``\}`` still marked, so States.Format can tell an
    # escaped brace from a placeholder. Pieces alternate text and None (a ``{}`` placeholder).
    template: tuple[str | None, ...] | None = None


@dataclass(frozen=True)
class PathArgument:
    path: str


@dataclass(frozen=True)
class Call:
    name: str                         # without "States.", e.g. "Format"
    arguments: tuple[Argument, ...]
    text: str


Argument = Literal | PathArgument | Call


def looks_like_call(text: str) -> bool:
    return _NAME.match(text.strip()) is not None


@lru_cache(maxsize=2048)
def parse(text: str) -> Call:
    parser = _Parser(text.strip())
    call = parser.call()
    parser.skip_space()
    if parser.position != len(parser.text):
        raise parser.fail("unexpected text after the function call")
    return call


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def fail(self, why: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{why} at position {self.position} in {self.text!r}")

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def call(self) -> Call:
        start = self.position
        match = _NAME.match(self.text, self.position)
        if match is None:
            raise self.fail("expected States.<Function>(")
        self.position = match.end()
        arguments: list[Argument] = []
        self.skip_space()
        if self.text.startswith(")", self.position):
            self.position += 1
            return Call(match.group(1), (), self.text[start:self.position])
        while True:
            arguments.append(self.argument())
            self.skip_space()
            if self.text.startswith(",", self.position):
                self.position += 1
                continue
            if self.text.startswith(")", self.position):
                self.position += 1
                return Call(match.group(1), tuple(arguments), self.text[start:self.position])
            raise self.fail("expected ',' or ')'")

    def argument(self) -> Argument:
        self.skip_space()
        text = self.text
        if self.position >= len(text):
            raise self.fail("missing argument")
        char = text[self.position]
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if text.startswith("States.", self.position):
            return self.call()
        number = _NUMBER.match(text, self.position)
        if number is not None:
            self.position = number.end()
            literal = number.group(0)
            return Literal(float(literal) if number.group(1) or number.group(2) else int(literal))
        for word, value in _WORDS.items():
            if text.startswith(word, self.position):
                self.position += len(word)
                return Literal(value)
        raise self.fail("invalid argument")

    def string(self) -> Literal:
        text = self.text
        self.position += 1  # opening quote
        value: list[str] = []
        pieces: list[str | None] = []
        current: list[str] = []
        while True:
            if self.position >= len(text):
                raise self.fail("unclosed string literal")
            char = text[self.position]
            if char == "\\" and self.position + 1 < len(text):
                escaped = text[self.position + 1]
                value.append(escaped)
                current.append(escaped)
                self.position += 2
                continue
            if char == "'":
                self.position += 1
                break
            if char == "{" and text.startswith("{}", self.position):
                value.append("{}")
                pieces.append("".join(current))
                pieces.append(None)
                current = []
                self.position += 2
                continue
            value.append(char)
            current.append(char)
            self.position += 1
        pieces.append("".join(current))
        return Literal("".join(value), tuple(pieces))

    def path(self) -> PathArgument:
        text = self.text
        start = self.position
        depth, quote = 0, ""
        while self.position < len(text):
            char = text[self.position]
            if quote:
                if char == "\\":
                    self.position += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"" and depth > 0:
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            self.position += 1
        path = text[start:self.position].rstrip()
        if not path:
            raise self.fail("empty path")
        return PathArgument(path)
