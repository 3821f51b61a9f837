"""Collecting validation findings, and the small type checks every validator needs.

Locations are JSON-pointer-like paths in AWS's style: ``/States/A/Next``,
``/States/P/Branches[0]/States/X``, ``/States/C/Choices[1]/And[0]/Variable``; the root is ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.language.env import JSON

SCHEMA_VALIDATION_FAILED = "SCHEMA_VALIDATION_FAILED"
INVALID_JSON_DESCRIPTION = "INVALID_JSON_DESCRIPTION"
MISSING_TRANSITION_TARGET = "MISSING_TRANSITION_TARGET"
MISSING_END_STATE = "MISSING_END_STATE"
DUPLICATE_STATE_NAME = "DUPLICATE_STATE_NAME"
INVALID_STATE_NAME = "INVALID_STATE_NAME"
INVALID_RESOURCE = "INVALID_RESOURCE"
NO_DOLLAR = "NO_DOLLAR"                              # warnings
PASS_RESULT_IS_STATIC = "PASS_RESULT_IS_STATIC"  # noqa: S105 - a diagnostic code, not a secret


@dataclass(frozen=True)
class Diagnostic:
    """One finding, in ValidateStateMachineDefinition's shape."""

    severity: str   # "ERROR" | "WARNING"
    code: str       # e.g. "SCHEMA_VALIDATION_FAILED", "MISSING_TRANSITION_TARGET"
    message: str
    location: str   # e.g. "/States/Foo/Next"; "" when the finding is about no place in particular

    def __str__(self) -> str:
        """As CreateStateMachine quotes it: ``CODE: message at /location``."""
        # A JSON syntax error's message already ends with its location.
        at_end = not self.location or self.message.endswith(self.location)
        return f"{self.code}: {self.message}" if at_end else f"{self.code}: {self.message} at {self.location}"


def child(location: str, name: str | int) -> str:
    """The location of a field (``name``) or array element (``int``) under ``location``."""
    if isinstance(name, int):
        return f"{location}[{name}]"
    return f"/{name}" if location == "/" else f"{location}/{name}"


# JSON type names as AWS's "must be a ..." messages spell them.
_TYPE_WORDS = {"string": "a STRING", "boolean": "a BOOLEAN", "integer": "an INTEGER", "number": "a NUMBER",
               "object": "an OBJECT", "array": "an ARRAY"}


def has_type(value: JSON, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


class Report:
    """The findings so far; validators append to it and read nothing back but ``ok``-style checks."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, location: str) -> None:
        self.diagnostics.append(Diagnostic("ERROR", code, message, location))

    def warning(self, code: str, message: str, location: str) -> None:
        self.diagnostics.append(Diagnostic("WARNING", code, message, location))

    def schema(self, message: str, location: str) -> None:
        self.error(SCHEMA_VALIDATION_FAILED, message, location)

    def expect_type(self, container: dict[str, JSON], name: str, json_type: str, location: str) -> bool:
        """True when ``container[name]`` is absent or of ``json_type``; else report it."""
        if name not in container or has_type(container[name], json_type):
            return True
        self.schema(f"The value for the field '{name}' must be {_TYPE_WORDS[json_type]}", child(location, name))
        return False

    def require(self, container: dict[str, JSON], names: tuple[str, ...], location: str) -> bool:
        missing = [name for name in names if name not in container]
        if missing:
            self.schema(f"These fields are required: [{', '.join(missing)}]", location)
        return not missing

    def only(self, container: dict[str, JSON], allowed: frozenset[str], location: str) -> None:
        for name in container:
            if name not in allowed:
                self.schema(f"Field '{name}' is not supported", location)

    def exclusive(self, container: dict[str, JSON], names: tuple[str, ...], location: str) -> None:
        present = [name for name in names if name in container]
        if len(present) > 1:
            self.schema(f"These fields cannot be used together: [{', '.join(present)}]", location)
