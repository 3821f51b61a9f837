"""Retry and Catch: which error names an ``ErrorEquals`` list matches, which Retrier applies, how long
to back off, and which Catcher takes over."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from workflows.errors import ALL, HEARTBEAT_TIMEOUT, RUNTIME, TASK_FAILED, TIMEOUT
from workflows.language.env import JSON

DEFAULT_INTERVAL_SECONDS = 1.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


# A missed heartbeat is a kind of timeout: AWS documents States.Timeout as covering both.
_TIMEOUTS = frozenset({TIMEOUT, HEARTBEAT_TIMEOUT})


def error_matches(error_equals: Sequence[str], error: str | None) -> bool:
    """States.ALL matches every error but States.Runtime (which no Retry or Catch handles);
    States.TaskFailed matches every error but the timeouts (and Runtime); States.Timeout also
    matches States.HeartbeatTimeout."""
    if error == RUNTIME:
        return False
    for name in error_equals:
        if name in (error, ALL):
            return True
        if name == TASK_FAILED and error not in _TIMEOUTS:
            return True
        if name == TIMEOUT and error == HEARTBEAT_TIMEOUT:
            return True
    return False


@dataclass(frozen=True)
class RetryDecision:
    retrier_index: int
    delay_seconds: float


def decide_retry(retriers: Sequence[Mapping[str, JSON]], attempts: Sequence[int], error: str | None,
                 random: Callable[[], float]) -> RetryDecision | None:
    """The first Retrier whose ErrorEquals matches decides alone: a retry after its backoff, or —
    once its MaxAttempts are used up — none (then Catch gets the error)."""
    for index, retrier in enumerate(retriers):
        if not error_matches(retrier.get("ErrorEquals", ()), error):
            continue
        made = attempts[index] if index < len(attempts) else 0
        if made >= int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)):
            return None
        return RetryDecision(index, backoff_seconds(retrier, made, random))
    return None


def backoff_seconds(retrier: Mapping[str, JSON], retries_made: int, random: Callable[[], float]) -> float:
    interval = float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS))
    rate = float(retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE))
    delay = interval * rate ** retries_made
    cap = retrier.get("MaxDelaySeconds")
    if cap is not None:
        delay = min(delay, float(cap))
    if retrier.get("JitterStrategy") == "FULL":
        # FULL jitter: uniformly anywhere between no wait and the computed backoff.
        delay *= random()
    return delay


def counted_attempts(attempts: Sequence[int], retrier_count: int, retried: int) -> tuple[int, ...]:
    counts = [*attempts, *([0] * max(0, retrier_count - len(attempts)))]
    counts[retried] += 1
    return tuple(counts)


def find_catcher(catchers: Sequence[Mapping[str, JSON]], error: str | None) -> Mapping[str, JSON] | None:
    for catcher in catchers:
        if error_matches(catcher.get("ErrorEquals", ()), error):
            return catcher
    return None


def error_output(error: str | None, cause: str | None) -> dict[str, JSON]:
    """What a Catcher passes on: ``{"Error", "Cause"}`` (a field AWS has no value for is left out)."""
    output: dict[str, JSON] = {}
    if error is not None:
        output["Error"] = error
    if cause is not None:
        output["Cause"] = cause
    return output
