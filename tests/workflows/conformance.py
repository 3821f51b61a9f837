"""The AWS conformance cases (``/work/shared/asl-conformance/cases.jsonl``, recorded against real
Step Functions): loading them and comparing a run's result with AWS's, placeholders and all."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.conftest import missing_service


def _cases_path() -> Path:
    """``$TRELLIS_ASL_CONFORMANCE``, else ``../shared/asl-conformance/`` beside the checkout, else the
    workplace's shared folder (a CI clone may live elsewhere)."""
    configured = os.environ.get("TRELLIS_ASL_CONFORMANCE")
    if configured:
        return Path(configured)
    beside = Path(__file__).resolve().parents[3] / "shared" / "asl-conformance" / "cases.jsonl"
    return beside if beside.exists() else Path("/work/shared/asl-conformance/cases.jsonl")


CASES_PATH = _cases_path()

# AWS's recording stands for volatile values with these (see the file's README).
_ACCOUNT = "111111111111"
_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
_TOKEN = re.compile(r"<[^<>]+>")
_JSON_SCALAR = (int, float)
# The recording's own name for the execution role; several cases use it without listing it in
# extra_placeholders.
_ALWAYS_PLACEHOLDERS = ("snf_role_arn",)

# Recordings whose event order was normalised (Parallel branches interleave); see events_match.
_NOT_IN_NORMALISED_RECORDINGS = frozenset({"ParallelStateSucceeded"})


def recorded_cases() -> list[dict[str, Any]]:
    """The recorded cases; without the file a test skips — but under ``CI=true`` it fails, so the
    suite never passes without AWS's recordings."""
    if not CASES_PATH.exists():
        missing_service(f"AWS's conformance recordings ({CASES_PATH})", "are missing")
    return load_cases()


def load_cases(path: Path = CASES_PATH) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


class Mismatch(AssertionError):
    pass


def string_matches(expected: str, actual: str, extra: Sequence[str] = ()) -> bool:
    if expected == actual or expected in extra:
        return True
    if expected == "date":
        return _ISO_8601.fullmatch(actual) is not None
    if expected == "timestamp":
        return True
    pattern = _pattern(expected, extra)
    return pattern is not None and re.fullmatch(pattern, actual, re.DOTALL) is not None


def _pattern(expected: str, extra: Sequence[str]) -> str | None:
    """``expected`` as a regular expression with its placeholders as wildcards, or None when it
    has no placeholder."""
    wildcards = [re.escape(word) for word in sorted(extra, key=len, reverse=True) if word]
    splitter = re.compile("|".join([_TOKEN.pattern, re.escape(_ACCOUNT), *wildcards]))
    parts: list[str] = []
    position = 0
    found = False
    for match in splitter.finditer(expected):
        found = True
        parts.append(re.escape(expected[position:match.start()]))
        parts.append(r"\d{12}" if match.group() == _ACCOUNT else ".*?")
        position = match.end()
    if not found:
        return None
    parts.append(re.escape(expected[position:]))
    return "".join(parts)


def values_match(expected: Any, actual: Any, extra: Sequence[str] = ()) -> bool:
    """Equal as JSON (key order aside; numbers by value; booleans only equal booleans), with
    placeholder strings in ``expected`` matching what they stand for."""
    if isinstance(expected, str):
        if isinstance(actual, str):
            return string_matches(expected, actual, extra)
        return expected in extra or expected == "timestamp"
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, _JSON_SCALAR):
        return isinstance(actual, _JSON_SCALAR) and expected == actual
    if expected is None:
        return actual is None
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            values_match(item, other, extra) for item, other in zip(expected, actual, strict=True))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            values_match(value, actual[key], extra) for key, value in expected.items())
    return bool(expected == actual)


def causes_match(expected: str | None, actual: str | None, extra: Sequence[str] = ()) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if string_matches(expected, actual, extra):
        return True
    try:
        return values_match(json.loads(expected), json.loads(actual), extra)
    except ValueError:
        return False


def events_match(case: dict[str, Any], actual: list[str]) -> bool:
    expected: list[str] = case["events"]
    if not case.get("events_order_normalised"):
        return expected == actual
    # These recordings were re-ordered (and lost ParallelStateSucceeded, which AWS does record —
    # see the Step Functions HistoryEventType list) when normalised: compare as multisets.
    kept = [event for event in actual if event not in _NOT_IN_NORMALISED_RECORDINGS or event in expected]
    return Counter(expected) == Counter(kept)


def compare(case: dict[str, Any], status: str, output: Any, error: str | None, cause: str | None,
            event_types: list[str]) -> list[str]:
    """What differs from AWS's recording (empty: conformant)."""
    expect = case["expect"]
    extra = [*(case.get("extra_placeholders") or []), *_ALWAYS_PLACEHOLDERS]
    problems: list[str] = []
    if status != expect["status"]:
        problems.append(f"status {status!r} != AWS {expect['status']!r} (error={error!r}, cause={cause!r})")
        return problems
    if status == "TIMED_OUT":
        return problems
    if status == "SUCCEEDED" and not values_match(expect.get("output"), output, extra):
        problems.append(f"output {json.dumps(output)} != AWS {json.dumps(expect.get('output'))}")
    if status == "FAILED":
        if expect.get("error") != error:
            problems.append(f"error {error!r} != AWS {expect.get('error')!r}")
        if not causes_match(expect.get("cause"), cause, extra):
            problems.append(f"cause {cause!r} != AWS {expect.get('cause')!r}")
    if "events" in case and not events_match(case, event_types):
        problems.append(f"events {event_types} != AWS {case['events']}")
    return problems
