"""Validation of a JSON-protocol request body against the members an operation reads.

botocore validates before sending, but anything can reach ``POST /``: every member is checked for
type and length here, so a handler only ever sees well-formed values (or Cognito answers
``InvalidParameterException`` naming the member, as it does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from auth.userpool.errors import invalid_parameter

_NO_SPACE = re.compile(r"\S+")


class Params:
    def __init__(self, body: bytes) -> None:
        try:
            value = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid_parameter("The request body is not valid JSON.") from exc
        if not isinstance(value, dict):
            raise invalid_parameter("The request body must be a JSON object.")
        self.raw: dict[str, Any] = value

    def _missing(self, name: str) -> Exception:
        return invalid_parameter(f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
                                 "Member must not be null")

    def string(self, name: str, *, max_length: int = 2048, min_length: int = 1,
               no_space: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not min_length <= len(value) <= max_length:
            raise invalid_parameter(f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
                                    f"Member must have length between {min_length} and {max_length}")
        if no_space and not _NO_SPACE.fullmatch(value):
            raise invalid_parameter(f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
                                    "Member must satisfy regular expression pattern: [\\S]+")
        return value

    def required(self, name: str, **limits: Any) -> str:
        value = self.string(name, **limits)
        if value is None:
            raise self._missing(name)
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is not None and not isinstance(value, bool):
            raise invalid_parameter(f"Value at '{name}' must be a boolean.")
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid_parameter(f"Value at '{name}' must be an integer between {low} and {high}.")
        return value

    def string_map(self, name: str) -> dict[str, str]:
        value = self.raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= 131072 for k, v in value.items()
        ):
            raise invalid_parameter(f"Value at '{name}' must be a map of strings.")
        return dict(value)

    def attributes(self, name: str) -> dict[str, str]:
        """An ``AttributeListType``: ``[{"Name": ..., "Value": ...}]``, as a dict (last one wins)."""
        value = self.raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, list):
            raise invalid_parameter(f"Value at '{name}' must be a list of attributes.")
        out: dict[str, str] = {}
        for item in value:
            if not isinstance(item, Mapping):
                raise invalid_parameter(f"Value at '{name}' must be a list of attributes.")
            attribute, text = item.get("Name"), item.get("Value", "")
            if not isinstance(attribute, str) or not 1 <= len(attribute) <= 32:
                raise invalid_parameter(f"Attribute names in '{name}' must be strings of 1 to 32 characters.")
            if not isinstance(text, str) or len(text) > 2048:
                raise invalid_parameter(f"Attribute values in '{name}' must be strings of at most 2048 characters.")
            out[attribute] = text
        return out

    def object(self, name: str) -> Mapping[str, Any]:
        value = self.raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise invalid_parameter(f"Value at '{name}' must be an object.")
        return value
