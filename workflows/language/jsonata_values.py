"""Values crossing the border between ASL's JSON and the ``jsonata`` library.

The library (jsonata-python) tells JSON ``null`` from JSONata *undefined* only by a marker: Python
``None`` is undefined and ``Utils.NULL_VALUE`` is null. So JSON going in has its ``None``s replaced
by the marker (otherwise a variable holding ``null`` would read as undefined), and results coming
out are turned back into plain JSON values, failing on what JSON cannot hold (functions, regexes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from jsonata.utils import Utils

from workflows.language.env import JSON

NULL: Any = Utils.NULL_VALUE

# A float holding an integral value is written as an integer (AWS prints ``1.5 + 1.5`` as ``3``)
# while it is exactly representable as a 64-bit integer; past that AWS keeps the double.
_LARGEST_INTEGRAL_DOUBLE = 2.0**63


class UnsupportedResult(TypeError):
    """The result holds something JSON cannot represent (a function, a regex, ...)."""


def to_jsonata(value: JSON) -> Any:
    """A JSON value as the library should see it: ``None`` → the null marker, recursively. Returns
    new containers, so the library can never change the caller's data."""
    if value is None:
        return NULL
    if isinstance(value, Mapping):
        return {key: to_jsonata(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonata(item) for item in value]
    return value


def from_jsonata(value: Any) -> JSON:
    """A library result (not undefined) as a plain JSON value.

    Inside objects an undefined value drops its key (as ``JSON.stringify`` does in jsonata-js);
    inside arrays it becomes ``null``. Raises ``UnsupportedResult`` for non-JSON values."""
    if value is None or value is NULL:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Mapping):
        return {str(key): from_jsonata(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [from_jsonata(item) for item in value]
    raise UnsupportedResult(type(value).__name__)


def _number(value: float) -> JSON:
    if math.isnan(value):
        return "NaN"  # JSON has no literal for these; AWS writes JavaScript's names as strings
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < _LARGEST_INTEGRAL_DOUBLE:
        return int(value)
    return value


def json_type_name(value: JSON) -> str:
    """JSONata's/JSON's name for the type of a plain JSON value, as AWS's messages spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def compact_json(value: JSON) -> str:
    """``value`` as AWS quotes it in messages: JSON without spaces."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def js_number_text(value: float) -> str:
    """How JavaScript writes a finite number (``Number.prototype.toString``): in full below 1e21,
    with an exponent from there and below 1e-6 (``1e+21``, ``1.5e-7``)."""
    if value == 0:
        return "0"
    if value < 0:
        return "-" + js_number_text(-value)
    # repr gives the shortest digits that read back as the same double, as JavaScript chooses them.
    _, digit_tuple, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + exponent  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def stringify(value: Any, indent: int = 0, *, level: int = 0) -> str:
    """jsonata-js's ``$string`` serialisation: ``JSON.stringify`` with every number first rounded
    to 15 significant digits and functions written as ``""``. ``value`` is a library value."""
    if value is None or value is NULL:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "null"
        return js_number_text(float(f"{value:.15g}"))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        entries = [(json.dumps(str(key), ensure_ascii=False), item) for key, item in value.items() if item is not None]
        return _container("{", "}", [f"{key}:{' ' if indent else ''}{stringify(item, indent, level=level + 1)}"
                                     for key, item in entries], indent, level)
    if isinstance(value, list | tuple):
        return _container("[", "]", [stringify(item, indent, level=level + 1) for item in value], indent, level)
    return '""'  # a function (JSON.stringify's replacer in jsonata-js turns it into "")


def _container(opening: str, closing: str, parts: list[str], indent: int, level: int) -> str:
    if not parts:
        return opening + closing
    if not indent:
        return opening + ",".join(parts) + closing
    inner = "\n" + " " * (indent * (level + 1))
    return opening + inner + ("," + inner).join(parts) + "\n" + " " * (indent * level) + closing
