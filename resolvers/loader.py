"""A per-request batch loader: keys asked for in the same tick are fetched in one call.

graphql-core starts the resolvers of sibling list items together, so every ``load`` made while
completing one list lands in the same batch; that is what keeps relationship loading at one query
per level instead of one per parent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLoader(Generic[K, V]):
    def __init__(self, batch: Callable[[list[K]], Awaitable[Mapping[K, V]]], default: V) -> None:
        self._batch = batch
        self._default = default
        self._pending: dict[K, asyncio.Future[V]] = {}
        self._scheduled = False

    def load(self, key: K) -> asyncio.Future[V]:
        future = self._pending.get(key)
        if future is not None:
            return future
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending[key] = future
        if not self._scheduled:
            self._scheduled = True
            # Two hops: sibling resolvers started by the same gather all run before we fetch.
            loop.call_soon(lambda: loop.call_soon(lambda: loop.create_task(self._dispatch())))
        return future

    async def _dispatch(self) -> None:
        pending, self._pending, self._scheduled = self._pending, {}, False
        try:
            found = await self._batch(list(pending))
        except Exception as exc:  # noqa: BLE001 - every waiter sees the batch failure
            for future in pending.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for key, future in pending.items():
            if not future.done():
                future.set_result(found.get(key, self._default))
