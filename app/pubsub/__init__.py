"""Pub/sub: in-process by default, Redis when several instances share subscribers."""

from app.pubsub.base import Handler, PubSub, Unsubscribe
from app.pubsub.memory import MemoryPubSub


def open_pubsub(redis_url: str | None) -> PubSub:
    if not redis_url:
        return MemoryPubSub()
    from app.pubsub.redis import RedisPubSub

    return RedisPubSub(redis_url)


__all__ = ["Handler", "MemoryPubSub", "PubSub", "Unsubscribe", "open_pubsub"]
