"""Policy-variable templates and wildcard patterns.

A string from a ``Resource``/``NotResource`` element or from a condition value is parsed once, when the policy is
loaded, into a :class:`Template`: a sequence of parts, each either text written in the policy (where ``*`` and ``?``
are wildcards if the element allows them), a literal character produced by ``${*}``, ``${?}`` or ``${$}``, or a
variable reference ``${key}`` / ``${key, 'default'}``.

Variables are substituted only in policies whose ``Version`` is ``2012-10-17``; under ``2008-10-17`` the whole string
is plain text, exactly as AWS treats it. A variable whose key is missing from the request context (or is multivalued)
and that has no default makes the whole template unresolvable; the caller treats the element as not matching.
Substituted values are always literal: a ``*`` inside a user name never acts as a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Literal",
    "Template",
    "TemplateError",
    "Text",
    "Variable",
    "compile_pattern",
    "glob_match",
    "parse_template",
]

_SPECIAL = {"*": "*", "?": "?", "$": "$"}
# Characters AWS's policy validator rejects inside a variable name (Access Analyzer: "Unsupported symbol in variable").
_NAME_RE = re.compile(r"[A-Za-z0-9_:/.+=@\-]+")


class TemplateError(ValueError):
    """A malformed ``${...}`` reference (missing brace or quote, empty name, unsupported symbol)."""


@dataclass(frozen=True, slots=True)
class Text:
    """Text written in the policy; ``*`` and ``?`` are wildcards when the element supports them."""

    text: str


@dataclass(frozen=True, slots=True)
class Literal:
    """Text that is always matched literally (``${*}``, ``${?}``, ``${$}``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Variable:
    """``${name}`` or ``${name, 'default'}``; ``key`` is the lower-cased context key."""

    name: str
    key: str
    default: str | None


Part = Text | Literal | Variable


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    parts: tuple[Part, ...]

    @property
    def has_variables(self) -> bool:
        return any(isinstance(p, Variable) for p in self.parts)

    def resolve(self, lookup: Callable[[str], str | None]) -> tuple[tuple[str, bool], ...] | None:
        """Substitute variables. Returns ``(text, is_literal)`` segments, or ``None`` when a variable has no value.

        ``lookup`` receives a lower-cased key and returns its single string value, or ``None`` when the key is absent
        or cannot be used as a variable (multivalued).
        """
        out: list[tuple[str, bool]] = []
        for part in self.parts:
            if isinstance(part, Text):
                out.append((part.text, False))
            elif isinstance(part, Literal):
                out.append((part.text, True))
            else:
                value = lookup(part.key)
                if value is None:
                    if part.default is None:
                        return None
                    value = part.default
                out.append((value, True))
        return tuple(out)


def _parse_reference(body: str, source: str) -> Part:
    """Parse the inside of ``${...}`` (without the braces)."""
    stripped = body.strip()
    if stripped in _SPECIAL and stripped == body:
        return Literal(_SPECIAL[stripped])
    name_part, sep, rest = body.partition(",")
    name = name_part.strip()
    if not name:
        raise TemplateError(f"empty policy variable in {source!r}")
    if not _NAME_RE.fullmatch(name):
        raise TemplateError(f"unsupported symbol in policy variable ${{{body}}} in {source!r}")
    if not sep:
        return Variable(name, name.lower(), None)
    default = rest.strip()
    if len(default) < 2 or not (default.startswith("'") and default.endswith("'")):
        raise TemplateError(f"default value of ${{{body}}} must be in single quotes in {source!r}")
    inner = default[1:-1]
    # Inside the quotes a single quote is written as two single quotes.
    if "'" in inner.replace("''", ""):
        raise TemplateError(f"unescaped quote in the default value of ${{{body}}} in {source!r}")
    return Variable(name, name.lower(), inner.replace("''", "'"))


def _find_close(source: str, start: int) -> int:
    """Index of the ``}`` closing a reference whose body begins at ``start``; quotes may contain ``}``."""
    in_quote = False
    i = start
    while i < len(source):
        ch = source[i]
        if ch == "'":
            if in_quote and i + 1 < len(source) and source[i + 1] == "'":
                i += 2
                continue
            in_quote = not in_quote
        elif ch == "}" and not in_quote:
            return i
        i += 1
    raise TemplateError(f"missing closing brace in policy variable in {source!r}")


def parse_template(source: str, *, variables: bool) -> Template:
    """Parse ``source``; when ``variables`` is false (Version 2008-10-17) the string is plain text."""
    if not variables or "${" not in source:
        return Template(source, (Text(source),) if source else ())
    parts: list[Part] = []
    buf: list[str] = []
    i = 0
    while i < len(source):
        if source.startswith("${", i):
            end = _find_close(source, i + 2)
            if buf:
                parts.append(Text("".join(buf)))
                buf = []
            parts.append(_parse_reference(source[i + 2 : end], source))
            i = end + 1
        else:
            buf.append(source[i])
            i += 1
    if buf:
        parts.append(Text("".join(buf)))
    return Template(source, tuple(parts))


@lru_cache(maxsize=4096)
def compile_pattern(segments: tuple[tuple[str, bool], ...], *, arn: bool, ignore_case: bool = False) -> re.Pattern[str]:
    """Wildcard pattern (``*`` any run, ``?`` one character) over non-literal segments.

    With ``arn`` and a pattern of six colon-separated parts, each of the first five parts is matched on its own
    (wildcards do not cross ``:``), as AWS documents for ARN matching; the sixth part (the resource) may contain
    colons. Shorter patterns such as ``arn:aws:appsync:*`` are matched as a whole string.
    """
    segment_aware = arn and sum(t.count(":") for t, _ in segments) >= 5
    colons = 0
    pieces: list[str] = []
    for text, literal in segments:
        for ch in text:
            in_prefix = segment_aware and colons < 5
            if ch == ":":
                colons += 1
            if literal or ch not in "*?":
                pieces.append(re.escape(ch))
            elif ch == "*":
                pieces.append("[^:]*" if in_prefix else ".*")
            else:
                pieces.append("[^:]" if in_prefix else ".")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(pieces), flags)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whole-string wildcard match of a plain pattern (no variables)."""
    return compile_pattern(((pattern, False),), arn=False, ignore_case=ignore_case).fullmatch(value) is not None
