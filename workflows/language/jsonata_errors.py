"""How a failure inside a JSONata expression reads in AWS's cause.

AWS writes ``... threw an error during evaluation. <CODE>: <message>`` where the message is
jsonata-js's catalog text with its ``{{value}}`` placeholders JSON-rendered. The library's
catalog (ported from jsonata-java) says "Object" wherever jsonata-js says "function" and inserts
values unquoted, so the message is rebuilt here from the code and the values the exception
carries.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from jsonata.jexception import JException

from workflows.language.jsonata_functions import FunctionError

# What jsonata-js calls the element type a signature's array parameter asks for (T0412).
_ARRAY_ELEMENT_TYPES = {
    "a": "arrays", "b": "booleans", "f": "functions", "n": "numbers", "o": "objects", "s": "strings",
}

class EvaluationLimitExceeded(Exception):
    """An expression ran longer than the evaluator allows."""

    def __init__(self, steps: int) -> None:
        super().__init__(f"Evaluation exceeded {steps} steps. Check for infinite loop")


_PLACEHOLDER = re.compile(r"\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}")


def failure_text(error: BaseException) -> tuple[str, str]:
    """``(separator, text)``: the text to append to "threw an error during evaluation" and how to
    join it — ``". "`` before a coded JSONata message, ``": "`` before a bare one."""
    if isinstance(error, FunctionError):
        return ". ", f"{error.code}: {error.message}"
    if isinstance(error, JException) and error.error in JException.error_codes:
        return ". ", f"{error.error}: {_message(error)}"
    if isinstance(error, ZeroDivisionError):  # jsonata-js's text for a non-finite number
        return ". ", "D1001: Number out of range: null"
    return ": ", str(error) or type(error).__name__


def _message(error: JException) -> str:
    template = JException.error_codes[error.error]
    if template == "{{{message}}}":  # $error()/$assert(): the caller's own message
        return str(error.current)
    values = [error.current, error.expected, error.extra]
    if error.error == "T0412" and isinstance(error.extra, str):
        values[2] = _ARRAY_ELEMENT_TYPES.get(error.extra[:1], error.extra)
    position = iter(range(len(values)))

    def substitute(match: re.Match[str]) -> str:
        index = next(position, None)
        value = values[index] if index is not None else None
        raw = match.group(1) is not None  # triple braces insert the value as is
        return str(value) if raw else _json(value)

    # "Object" in this catalog is always jsonata-js's "function" (a search-and-replace in the port).
    return _PLACEHOLDER.sub(substitute, template.replace("Object", "function"))


def _json(value: Any) -> str:
    """``JSON.stringify``: a non-finite number is ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
