"""The engine's one source of time, injectable so Wait states, timeouts and retries run in tests
without sleeping."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """Time moves only when a test says so (``advance``), or — with ``auto_advance`` — jumps to the
    earliest deadline anyone waits for once every other task is idle, so a whole execution with
    Wait states finishes instantly and in deadline order."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((deadline, future))
        try:
            await future
        finally:
            self._waiters = [(d, f) for d, f in self._waiters if f is not future]

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    def set(self, moment: float) -> None:
        self._now = max(self._now, moment)
        for deadline, future in list(self._waiters):
            if deadline <= self._now and not future.done():
                future.set_result(None)

    def next_deadline(self) -> float | None:
        pending = [d for d, f in self._waiters if not f.done()]
        return min(pending) if pending else None

    def advance_to_next(self) -> bool:
        """Jump to the earliest pending deadline; False when nobody waits."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        self.set(deadline)
        return True


def iso8601(moment: float) -> str:
    """AWS's timestamp form in the context object and history: millisecond precision, ``Z``."""
    milliseconds = int(moment * 1000)
    return f"{_whole_second(milliseconds // 1000)}.{milliseconds % 1000:03d}Z"


@functools.lru_cache(maxsize=64)
def _whole_second(second: int) -> str:
    # Every state entered in the same second shares this (formatting dominated a Pass loop).
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
