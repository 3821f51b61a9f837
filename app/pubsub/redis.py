"""Redis pub/sub: several Trellis instances behind a load balancer see each other's changes.

Each instance delivers its own messages to its own subscribers directly (no round trip) and
sends them to Redis for the others; a message coming back from Redis with this instance's origin
is skipped. One connection per instance SUBSCRIBEs to exactly the topics it has subscribers for.
If the connection to Redis drops, the reader reconnects with backoff and re-subscribes; messages
published meanwhile do not reach this instance (at most once, as on AppSync).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.pubsub.base import Handler, Unsubscribe
from app.pubsub.memory import Topics

log = logging.getLogger("trellis.pubsub")
_SEPARATOR = b"|"


class RedisPubSub:
    def __init__(self, url: str, prefix: str = "trellis:", max_backoff_seconds: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.origin = secrets.token_hex(8).encode()
        self.max_backoff_seconds = max_backoff_seconds
        self.topics = Topics()
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}

    async def start(self) -> None:
        self._client = aioredis.from_url(self.url)
        await self._client.ping()  # fail at start-up, not at the first publish
        self._pubsub = self._client.pubsub()
        self._reader = asyncio.create_task(self._read(), name="trellis-redis-pubsub")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    def _channel(self, topic: str) -> str:
        return self.prefix + topic

    def wants(self, topic: str) -> bool:
        return True  # subscribers on other instances are not known here

    async def publish(self, topic: str, message: bytes) -> None:
        self.topics.deliver(topic, message)
        await self._client.publish(self._channel(topic), self.origin + _SEPARATOR + message)

    async def subscribe(self, topic: str, handler: Handler) -> Unsubscribe:
        if self.topics.add(topic, handler):
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._confirmations.setdefault(self._channel(topic), []).append(confirmed)
            await self._pubsub.subscribe(self._channel(topic))
            self._subscribed.set()
            await asyncio.wait_for(confirmed, timeout=10)

        def unsubscribe() -> None:
            if self.topics.remove(topic, handler):
                asyncio.get_running_loop().create_task(self._drop(topic))

        return unsubscribe

    async def _drop(self, topic: str) -> None:
        if not self.topics.has(topic):  # not re-subscribed meanwhile
            with contextlib.suppress(RedisConnectionError, OSError):
                await self._pubsub.unsubscribe(self._channel(topic))

    async def _read(self) -> None:
        backoff = 0.05
        while True:
            await self._subscribed.wait()
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                backoff = 0.05
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis pub/sub connection lost (%s); reconnecting in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
                continue
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        kind = message["type"]
        if kind == "subscribe":
            for waiter in self._confirmations.pop(channel, ()):
                if not waiter.done():
                    waiter.set_result(None)
            return
        if kind != "message":
            return
        data: bytes = message["data"]
        origin, _, payload = data.partition(_SEPARATOR)
        if origin == self.origin:
            return  # delivered locally when published
        self.topics.deliver(channel.removeprefix(self.prefix), payload)
