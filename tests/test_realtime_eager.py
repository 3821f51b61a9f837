"""``start_eagerly``: a coroutine's first step runs on the caller's stack; the rest, if any, in a task."""

from __future__ import annotations

import asyncio

import pytest

from app.realtime.eager import start_eagerly


async def test_a_coroutine_that_never_waits_finishes_on_the_spot():
    ran: list[str] = []

    async def send() -> None:
        ran.append("sent")

    assert start_eagerly(send()) is None
    assert ran == ["sent"]  # no task, no loop iteration needed


async def test_a_coroutine_that_waits_is_finished_by_a_task_with_its_result():
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def send() -> int:
        steps.append("before")
        value = await gate
        await asyncio.sleep(0)  # a bare yield too
        steps.append("after")
        return value * 2

    pending = start_eagerly(send())
    assert pending is not None and steps == ["before"]
    gate.set_result(21)
    assert await pending == 42
    assert steps == ["before", "after"]


async def test_an_exception_after_waiting_reaches_the_task():
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send() -> None:
        await gate
        raise ConnectionResetError("gone")

    pending = start_eagerly(send())
    gate.set_result(None)
    with pytest.raises(ConnectionResetError):
        await pending


async def test_cancelling_the_task_cancels_the_coroutine_inside():
    cleaned: list[str] = []

    async def send() -> None:
        try:
            await asyncio.get_running_loop().create_future()  # waits forever
        finally:
            cleaned.append("finally")

    pending = start_eagerly(send())
    assert pending is not None
    await asyncio.sleep(0)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert cleaned == ["finally"]
