"""JSON text the way AWS Step Functions writes it into cause texts and ``States.JsonToString``:
compact (no spaces), non-ASCII characters left as they are, and numbers as Java prints doubles
(``1.0``, ``1.0E20``) because the service is written in Java (Jackson)."""

from __future__ import annotations

import json
import math
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (a decoded JSON value)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def java_double(number: float) -> str:
    """``Double.toString``: plain decimal for 1e-3 <= |x| < 1e7, else ``d.dddE±n`` (no ``+``)."""
    if math.isnan(number) or math.isinf(number):
        # Not JSON; say what Java would rather than crash while reporting another error.
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    magnitude = abs(number)
    if 1e-3 <= magnitude < 1e7:
        return repr(number)  # Python's repr is plain decimal throughout this range
    mantissa, exponent = _shortest_scientific(magnitude)
    if "." not in mantissa:
        mantissa += ".0"
    sign = "-" if number < 0 else ""
    return f"{sign}{mantissa}E{exponent}"


def _shortest_scientific(magnitude: float) -> tuple[str, int]:
    """The fewest significant digits that read back as ``magnitude``, as (mantissa, exponent)."""
    for precision in range(17):
        candidate = f"{magnitude:.{precision}e}"
        if float(candidate) == magnitude:
            break
    mantissa, exponent = candidate.split("e")
    return mantissa, int(exponent)


def _write(value: Any, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(java_double(value))
    elif isinstance(value, str):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, dict):
        parts.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                parts.append(",")
            parts.append(json.dumps(str(key), ensure_ascii=False))
            parts.append(":")
            _write(item, parts)
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        parts.append(json.dumps(str(value), ensure_ascii=False))
