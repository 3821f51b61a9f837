"""ASL timestamps, as Choice's Timestamp* operators and the Wait state read them.

The spec asks for RFC 3339 with an uppercase ``T`` and ``Z``; AWS's own wording of the Wait error
("not a valid ISO-8601 extended offset date-time format string") is the description of Java's
``DateTimeFormatter.ISO_OFFSET_DATE_TIME``, and its recordings agree with that parser: a date,
``T``, ``HH:mm`` with optional ``:ss`` and up to nine fraction digits, then ``Z`` or an offset
``±HH:MM[:ss]`` (at most 18 hours); letters are case-insensitive; fields are checked strictly (no
month 13, hour 25 or February 30th). A space separator, a missing zone or a date alone is not a
timestamp — the Timestamp* operators then simply do not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_OFFSET_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})"
    r"(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"([Zz]|[+-]\d{2}:\d{2}(?::\d{2})?)",
    re.ASCII,  # \d must not accept other scripts' digits
)

_NANOS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Timestamp:
    """An instant with nanosecond precision (fractions finer than Python's microseconds still
    compare exactly)."""

    epoch_nanos: int

    @property
    def epoch_seconds(self) -> float:
        return self.epoch_nanos / _NANOS_PER_SECOND

    @property
    def whole_epoch_seconds(self) -> int:
        """Seconds with the fraction dropped: AWS's Wait state truncates to the second."""
        return self.epoch_nanos // _NANOS_PER_SECOND


def parse_timestamp(value: object) -> Timestamp | None:
    """``value`` as a timestamp, or None when it is not a string in ASL's timestamp format."""
    if not isinstance(value, str):
        return None
    match = _OFFSET_DATE_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
    second = int(match.group(6) or 0)
    fraction, zone = match.group(7), match.group(8)
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # month 13, February 30th, hour 24, second 60, ...
        return None
    offset = _zone_offset(zone)
    if offset is None:
        return None
    instant = local - offset
    # Whole seconds as an integer, so distant dates lose no precision to float arithmetic.
    seconds = (instant - _EPOCH) // timedelta(seconds=1)
    nanos = int((fraction or "0").ljust(9, "0"))
    return Timestamp(seconds * _NANOS_PER_SECOND + nanos)


def is_timestamp(value: object) -> bool:
    return parse_timestamp(value) is not None


_MAX_OFFSET = timedelta(hours=18)  # java.time.ZoneOffset's range


def _zone_offset(zone: str) -> timedelta | None:
    if zone in ("Z", "z"):
        return timedelta(0)
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    seconds = int(zone[7:9]) if len(zone) > 6 else 0
    if minutes > 59 or seconds > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if offset > _MAX_OFFSET:
        return None
    return -offset if zone[0] == "-" else offset
