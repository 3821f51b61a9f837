"""One contract over every pub/sub: in-process and Redis (the server on 127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from app.pubsub import MemoryPubSub, PubSub
from tests.conftest import missing_service, redis_available

REDIS_URL = "redis://127.0.0.1:6379/0"


class Buses:
    """Instances that share one broker (a fresh key prefix per test, so runs never collide)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.prefix = f"trellis-test-{secrets.token_hex(4)}:"
        self.shared = MemoryPubSub()
        self.opened: list[PubSub] = []

    async def __call__(self) -> PubSub:
        if self.kind == "memory":
            return self.shared  # one process: every "instance" is the same in-process bus
        from app.pubsub.redis import RedisPubSub

        pubsub = RedisPubSub(REDIS_URL, prefix=self.prefix)
        await pubsub.start()
        self.opened.append(pubsub)
        return pubsub

    async def close(self) -> None:
        for pubsub in self.opened:
            await pubsub.close()


async def _buses(kind: str) -> AsyncIterator[Buses]:
    if kind == "redis" and not await redis_available():
        missing_service("Redis on 127.0.0.1:6379")
    buses = Buses(kind)
    yield buses
    await buses.close()


@pytest.fixture(params=["memory", "redis"])
async def make_pubsub(request: pytest.FixtureRequest) -> AsyncIterator[Buses]:
    async for buses in _buses(request.param):
        yield buses


@pytest.fixture
async def make_redis_pubsub() -> AsyncIterator[Buses]:
    async for buses in _buses("redis"):
        yield buses


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.arrived = asyncio.Event()

    def __call__(self, topic: str, message: bytes) -> None:
        self.messages.append((topic, message))
        self.arrived.set()

    async def wait_for(self, count: int) -> None:
        async def enough() -> None:
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), 5.0)


async def test_a_message_reaches_its_topics_subscribers_only(make_pubsub):
    bus = await make_pubsub()
    orders, products = Inbox(), Inbox()
    await bus.subscribe("Mutation.createOrder", orders)
    await bus.subscribe("Mutation.createProduct", products)
    await bus.publish("Mutation.createOrder", b'{"id": "1"}')
    await orders.wait_for(1)
    await asyncio.sleep(0.05)
    assert orders.messages == [("Mutation.createOrder", b'{"id": "1"}')]
    assert products.messages == []


async def test_messages_from_one_publisher_arrive_in_order(make_pubsub):
    bus = await make_pubsub()
    inbox = Inbox()
    await bus.subscribe("t", inbox)
    for i in range(500):
        await bus.publish("t", str(i).encode())
    await inbox.wait_for(500)
    assert [int(m) for _, m in inbox.messages] == list(range(500))


async def test_after_unsubscribing_nothing_more_arrives(make_pubsub):
    bus = await make_pubsub()
    kept, dropped = Inbox(), Inbox()
    await bus.subscribe("t", kept)
    unsubscribe = await bus.subscribe("t", dropped)
    await bus.publish("t", b"1")
    await kept.wait_for(1)
    await dropped.wait_for(1)
    unsubscribe()
    await bus.publish("t", b"2")
    await kept.wait_for(2)
    assert [m for _, m in dropped.messages] == [b"1"]


async def test_a_failing_handler_does_not_stop_the_others(make_pubsub, caplog):
    bus = await make_pubsub()

    def broken(topic: str, message: bytes) -> None:
        raise RuntimeError("subscriber bug")

    inbox = Inbox()
    await bus.subscribe("t", broken)
    await bus.subscribe("t", inbox)
    await bus.publish("t", b"x")
    await inbox.wait_for(1)
    assert "subscriber bug" in caplog.text


async def test_every_instance_receives_each_message_exactly_once(make_pubsub):
    first, second = await make_pubsub(), await make_pubsub()
    here, there = Inbox(), Inbox()
    await first.subscribe("t", here)
    await second.subscribe("t", there)
    await first.publish("t", b"from-first")
    await second.publish("t", b"from-second")
    await here.wait_for(2)
    await there.wait_for(2)
    await asyncio.sleep(0.1)  # an echo of its own message would arrive by now
    assert sorted(m for _, m in here.messages) == [b"from-first", b"from-second"]
    assert sorted(m for _, m in there.messages) == [b"from-first", b"from-second"]


async def test_a_dropped_redis_connection_is_re_established_and_subscriptions_resume(make_redis_pubsub):
    import redis.asyncio as aioredis

    subscriber, publisher = await make_redis_pubsub(), await make_redis_pubsub()
    inbox = Inbox()
    await subscriber.subscribe("t", inbox)
    admin = aioredis.from_url(REDIS_URL)
    try:
        killed = await admin.client_kill_filter(_type="pubsub", skipme=True)
        assert killed >= 1
    finally:
        await admin.aclose()

    async def delivered_again() -> None:
        # Messages sent while the subscriber is reconnecting are lost (at most once); keep
        # publishing until one gets through.
        while not inbox.messages:
            await publisher.publish("t", b"after")
            await asyncio.sleep(0.05)

    await asyncio.wait_for(delivered_again(), 10)
    assert inbox.messages[0] == ("t", b"after")
