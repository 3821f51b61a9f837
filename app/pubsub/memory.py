"""In-process pub/sub: the embedded default for a single Trellis instance."""

from __future__ import annotations

import logging

from app.pubsub.base import Handler, Unsubscribe

log = logging.getLogger("trellis.pubsub")


class Topics:
    """Handlers by topic, shared by the in-process and Redis implementations."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def add(self, topic: str, handler: Handler) -> bool:
        """Register; True when this is the topic's first handler."""
        handlers = self._handlers.setdefault(topic, [])
        handlers.append(handler)
        return len(handlers) == 1

    def remove(self, topic: str, handler: Handler) -> bool:
        """Unregister; True when the topic has no handlers left."""
        handlers = self._handlers.get(topic)
        if handlers is None or handler not in handlers:
            return False
        handlers.remove(handler)
        if not handlers:
            del self._handlers[topic]
            return True
        return False

    def has(self, topic: str) -> bool:
        return topic in self._handlers

    def topics(self) -> list[str]:
        return list(self._handlers)

    def deliver(self, topic: str, message: bytes) -> None:
        # A copy: a handler may unsubscribe (itself or another) while being called.
        for handler in tuple(self._handlers.get(topic, ())):
            try:
                handler(topic, message)
            except Exception:  # one broken subscriber must not stop the others
                log.exception("pub/sub handler for %s failed", topic)


class MemoryPubSub:
    """Delivery is a direct call on the publisher's event loop: no copy, no broker."""

    def __init__(self) -> None:
        self.topics = Topics()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def wants(self, topic: str) -> bool:
        return self.topics.has(topic)

    async def publish(self, topic: str, message: bytes) -> None:
        self.topics.deliver(topic, message)

    async def subscribe(self, topic: str, handler: Handler) -> Unsubscribe:
        self.topics.add(topic, handler)

        def unsubscribe() -> None:
            self.topics.remove(topic, handler)

        return unsubscribe
