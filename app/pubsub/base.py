"""The pub/sub protocol: how a published change reaches every Trellis instance's subscribers.

A ``PubSub`` carries opaque byte messages on named topics. Each instance registers one handler
per topic it has subscribers for (the real-time layer fans out from there), so the number of
handlers is small even with many thousands of WebSocket subscriptions.

Delivery is at most once, as on AppSync: a message published while an instance is disconnected
from the broker is not replayed to it. Messages on one topic from one publisher arrive in the
order they were published. Handlers are plain callables run on the event loop; they must not
block (the real-time layer only enqueues).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Handler = Callable[[str, bytes], None]


class Unsubscribe(Protocol):
    def __call__(self) -> None: ...


class PubSub(Protocol):
    async def start(self) -> None:
        """Connect to the broker, if any."""
        ...

    async def close(self) -> None:
        ...

    def wants(self, topic: str) -> bool:
        """Could anyone (on any instance) receive ``topic``? False lets a publisher skip encoding."""
        ...

    async def publish(self, topic: str, message: bytes) -> None:
        """Hand ``message`` to every subscriber of ``topic`` (on every instance)."""
        ...

    async def subscribe(self, topic: str, handler: Handler) -> Unsubscribe:
        """Call ``handler(topic, message)`` for each message on ``topic`` until unsubscribed.

        Returns once the subscription is live: a message published after this returns is delivered.
        """
        ...
