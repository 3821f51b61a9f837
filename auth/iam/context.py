"""The request context: condition keys (case-insensitive) mapped to their values."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

__all__ = ["ContextValue", "RequestContext", "Scalar", "scalar_to_string"]

Scalar = str | bool | int | float | Decimal | datetime | bytes | ipaddress.IPv4Address | ipaddress.IPv6Address
ContextValue = Scalar | Sequence[Scalar] | None


def scalar_to_string(value: Scalar) -> str | None:
    """The string form used by string/ARN operators and policy variables; ``None`` when there is none (bytes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return None
    return str(value)


def _normalise_value(key: str, value: ContextValue) -> tuple[Scalar, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | bool | int | float | Decimal | datetime):
        return (value,)
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return (value,)
    if isinstance(value, date):
        raise TypeError(f"context key {key!r}: use a datetime, not a date")
    out: list[Scalar] = []
    for item in value:
        if item is None:
            continue
        if isinstance(item, list | tuple | set | frozenset | dict):
            raise TypeError(f"context key {key!r}: nested collections are not condition values")
        out.append(item)
    return tuple(out)


class RequestContext:
    """Normalised request context. Keys are compared case-insensitively, as AWS documents for context key names."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, ContextValue] | None = None) -> None:
        self._values: dict[str, tuple[Scalar, ...]] = {}
        for key, value in (values or {}).items():
            lowered = key.lower()
            if lowered in self._values:
                raise ValueError(f"context key {key!r} is given twice (keys are case-insensitive)")
            self._values[lowered] = _normalise_value(key, value)

    def set(self, key: str, value: ContextValue) -> None:
        self._values[key.lower()] = _normalise_value(key, value)

    def has(self, key: str) -> bool:
        return key.lower() in self._values

    def get(self, key: str) -> tuple[Scalar, ...]:
        """The values of ``key``; an empty tuple when the key is absent or has no value."""
        return self._values.get(key.lower(), ())

    def variable(self, key: str) -> str | None:
        """Value for a policy variable: only single-valued keys resolve (multivalued keys cannot be variables)."""
        values = self._values.get(key.lower(), ())
        if len(values) != 1:
            return None
        return scalar_to_string(values[0])
