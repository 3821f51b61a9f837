"""Run a coroutine's first step now, on the caller's stack; continue it in a task only if it waits.

The send path when the server offers no direct frame writer (``app/realtime/frames.py``: another
ASGI server) or the writer refuses a frame. Delivering one event to a thousand WebSockets means a
thousand sends, and almost every one of them completes without waiting (the socket is writable:
uvicorn writes the frame and returns). Running
each through a writer task costs a wake-up and a task switch per subscriber — a fifth of the fan-out
time. ``start_eagerly`` runs the send directly and falls back to a task only when the send really
waits (back-pressure). Python 3.12's ``asyncio.eager_task_factory`` does the same for whole loops;
this is the per-call form, for 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start_eagerly(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | None:
    """``None`` when the coroutine finished in its first step; else a task that finishes it."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coroutine, waiting_on))


async def _finish(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    # The coroutine yielded what it awaits, exactly as it would to a Task's step: a future (wait
    # for it, then resume the coroutine, which reads the outcome itself) or None (a bare yield).
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
        except BaseException as exc:  # cancelled while waiting: let the coroutine clean up
            try:
                coroutine.throw(exc)
            except StopIteration as stop:
                return stop.value
            raise
        try:
            waiting_on = coroutine.send(None)
        except StopIteration as stop:
            return stop.value
