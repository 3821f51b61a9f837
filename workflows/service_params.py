"""Checking Step Functions API requests the way AWS does, with AWS's exception names and messages.

botocore already refuses requests that break its service model (a missing required member, a
string too short), so these checks matter for other clients and for the constraints botocore does
not check itself (enums, ranges, name characters, ARN shapes). Every failure is a
``WorkflowApiError`` whose ``code`` is AWS's ``__type``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workflows.errors import WorkflowApiError
from workflows.language.env import JSON

MAX_NAME_LENGTH = 80
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_DATA_LENGTH = 262144  # input, output and definition: 256 KiB
EXECUTION_STATUSES = ("SUCCEEDED", "TIMED_OUT", "PENDING_REDRIVE", "ABORTED", "FAILED", "RUNNING")

# Names may not hold white space, brackets, wildcards, these specials, or control characters
# (API_CreateActivity / API_StartExecution "name" constraints).
_BAD_NAME_CHARACTERS = set(' <>{}[]?*"#%\\^|~`$&,;:/') | {chr(c) for c in range(32)} | {chr(c) for c in range(127, 160)}
_ARN = re.compile(r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                  r"(?P<kind>[A-Za-z]+):(?P<rest>.+)$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")


def validation_error(message: str) -> WorkflowApiError:
    return WorkflowApiError("ValidationException", f"1 validation error detected: {message}")


class Request:
    """One operation's request members, read with the checks their shapes declare."""

    def __init__(self, members: Mapping[str, Any]) -> None:
        self.members = members

    def get(self, name: str) -> Any:
        return self.members.get(name)

    def string(self, name: str, *, max_length: int | None = None) -> str | None:
        value = self.members.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise WorkflowApiError("SerializationException", f"Member '{name}' must be a string")
        if max_length is not None and len(value) > max_length:
            raise validation_error(f"Value '{_quoted(value)}' at '{name}' failed to satisfy constraint: "
                                   f"Member must have length less than or equal to {max_length}")
        return value

    def required(self, name: str, *, max_length: int | None = None) -> str:
        value = self.string(name, max_length=max_length)
        if value is None:
            raise validation_error(f"Value null at '{name}' failed to satisfy constraint: Member must not be null")
        return value

    def boolean(self, name: str) -> bool:
        value = self.members.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise WorkflowApiError("SerializationException", f"Member '{name}' must be a boolean")
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.members.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise WorkflowApiError("SerializationException", f"Member '{name}' must be an integer")
        if value < low:
            raise validation_error(f"Value '{value}' at '{name}' failed to satisfy constraint: "
                                   f"Member must have value greater than or equal to {low}")
        if value > high:
            raise validation_error(f"Value '{value}' at '{name}' failed to satisfy constraint: "
                                   f"Member must have value less than or equal to {high}")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.string(name)
        if value is not None and value not in allowed:
            raise validation_error(f"Value '{value}' at '{name}' failed to satisfy constraint: "
                                   f"Member must satisfy enum value set: [{', '.join(allowed)}]")
        return value

    def page_size(self) -> int:
        return self.integer("maxResults", 0, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE

    def json_text(self, name: str) -> str | None:
        """A JSON document member (input, output, variables), at most 256 KiB."""
        return self.string(name, max_length=MAX_DATA_LENGTH)


def _quoted(value: str) -> str:
    return value if len(value) <= 64 else f"{value[:64]}..."


def check_name(name: str) -> str:
    """State machine, execution and activity names: 1-80 characters, none of the forbidden ones."""
    if not 1 <= len(name) <= MAX_NAME_LENGTH or any(char in _BAD_NAME_CHARACTERS for char in name):
        raise WorkflowApiError("InvalidName", f"Invalid Name: '{name}'")
    return name


def check_role_arn(role_arn: str) -> str:
    if not _ROLE_ARN.match(role_arn):
        raise WorkflowApiError("InvalidArn", f"Invalid Arn: '{role_arn}'")
    return role_arn


def arn_kind(arn: str, *expected: str) -> str:
    """The resource type of a Step Functions ARN (``stateMachine``, ``execution``, ``express``,
    ``activity``); an ARN of another shape or of a type not in ``expected`` is ``InvalidArn``."""
    match = _ARN.match(arn)
    if match is None:
        detail = arn if arn.startswith("arn:") else f"Invalid ARN prefix: {arn}"
        raise WorkflowApiError("InvalidArn", f"Invalid Arn: '{detail}'")
    kind = match["kind"]
    if kind not in expected:
        raise WorkflowApiError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {kind.lower()}'")
    return kind


def parse_input(text: str | None) -> str:
    """The execution input as given (``{}`` when absent); not JSON is ``InvalidExecutionInput`` with
    AWS's wording."""
    if text is None:
        return "{}"
    try:
        json.loads(text)
    except ValueError as exc:
        raise WorkflowApiError("InvalidExecutionInput",
                               f"Invalid State Machine Execution Input: '{_json_problem(text, exc)}'") from None
    return text


def _json_problem(text: str, exc: ValueError) -> str:
    """Jackson's words for the common mistakes (AWS parses with Jackson), Python's otherwise."""
    stripped = text.lstrip()
    if not stripped:
        return "Invalid execution input."
    token = re.match(r"[A-Za-z_][A-Za-z0-9_]*", stripped)
    if token is not None:
        return (f"Unrecognized token '{token.group(0)}': was expecting (JSON String, Number, Array, Object or "
                "token 'null', 'true' or 'false')")
    if stripped.startswith("{"):
        after = stripped[1:].lstrip()
        if after and after[0] not in '"}':
            return (f"Unexpected character ('{after[0]}' (code {ord(after[0])})): "
                    "was expecting double-quote to start field name")
    return str(exc)


# -- page tokens: opaque to clients, the store's resume key inside -----------------------------------

def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def page(rows: Sequence[Any], size: int, member: str, shape: Callable[[Any], JSON]) -> dict[str, JSON]:
    """A page of ``size`` from ``rows`` (fetched ``size + 1`` long: one more means a next page, resumed
    after the last row's ARN)."""
    answer: dict[str, JSON] = {member: [shape(row) for row in rows[:size]]}
    if len(rows) > size:
        answer["nextToken"] = encode_token(rows[size - 1].arn)
    return answer


def decode_token(token: str | None, max_length: int = 1024) -> str | None:
    if token is None:
        return None
    if len(token) > max_length:
        raise validation_error(f"Value '{_quoted(token)}' at 'nextToken' failed to satisfy constraint: "
                               f"Member must have length less than or equal to {max_length}")
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise WorkflowApiError("InvalidToken", "Invalid Token: 'Invalid token'") from None
