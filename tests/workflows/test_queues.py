"""The durable queue store (``workflows.queues``) on SQLite and PostgreSQL, with a manual clock:
visibility timeouts, receipt handles, delays, retention, FIFO groups and de-duplication, dead letters."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from datasources.sql import open_database
from workflows.clock import ManualClock
from workflows.queue_rules import QueueError, md5_of_attributes
from workflows.queues import QueueStore

ACCOUNT = "123456789012"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[QueueStore]:
    db = open_database(database_url)
    queues = QueueStore(db, ManualClock(), account_id=ACCOUNT)
    yield queues
    await db.close()


def clock(store: QueueStore) -> ManualClock:
    assert isinstance(store.clock, ManualClock)
    return store.clock


async def code_of(awaitable: object) -> str:
    with pytest.raises(QueueError) as caught:
        await awaitable  # type: ignore[misc]
    return caught.value.code


async def test_a_received_message_stays_hidden_for_the_visibility_timeout(store: QueueStore) -> None:
    await store.create_queue("orders", {"VisibilityTimeout": "10"})
    sent = await store.send("orders", "hello")
    assert sent.md5_body == hashlib.md5(b"hello", usedforsecurity=False).hexdigest()
    [first] = await store.receive("orders")
    assert first.message_id == sent.message_id and first.body == "hello"
    assert await store.receive("orders") == []
    clock(store).advance(9)
    assert await store.receive("orders") == []
    clock(store).advance(1)
    [again] = await store.receive("orders", system_attributes=["ApproximateReceiveCount"])
    assert again.message_id == sent.message_id and again.receipt_handle != first.receipt_handle
    assert again.system_attributes == {"ApproximateReceiveCount": "2"}


async def test_only_the_latest_receipt_handle_deletes_a_message(store: QueueStore) -> None:
    await store.create_queue("orders")
    await store.send("orders", "x")
    [first] = await store.receive("orders", visibility_timeout=0)
    [second] = await store.receive("orders", visibility_timeout=30)
    await store.delete("orders", first.receipt_handle)  # outdated: accepted, nothing happens
    assert (await store.attributes("orders"))["ApproximateNumberOfMessagesNotVisible"] == "1"
    await store.delete("orders", second.receipt_handle)
    clock(store).advance(60)
    assert await store.receive("orders") == []
    assert await code_of(store.delete("orders", "not-a-handle")) == "ReceiptHandleIsInvalid"
    assert await code_of(store.delete("other", second.receipt_handle)) == "QueueDoesNotExist"


async def test_change_visibility_needs_a_message_in_flight(store: QueueStore) -> None:
    await store.create_queue("orders")
    await store.send("orders", "x")
    [message] = await store.receive("orders")
    await store.change_visibility("orders", message.receipt_handle, 100)
    clock(store).advance(99)
    assert await store.receive("orders") == []
    clock(store).advance(1)
    assert await code_of(store.change_visibility("orders", message.receipt_handle, 5)) == "MessageNotInflight"
    assert await code_of(store.change_visibility("orders", message.receipt_handle, 43201)) \
        == "InvalidParameterValueException"


async def test_delays_hold_messages_back_and_order_is_kept(store: QueueStore) -> None:
    await store.create_queue("orders", {"DelaySeconds": "5"})
    await store.send("orders", "queue-delay")
    await store.send("orders", "no-delay", delay_seconds=0)
    attributes = await store.attributes("orders")
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attributes["ApproximateNumberOfMessages"] == "1"
    assert [m.body for m in await store.receive("orders", 10)] == ["no-delay"]
    clock(store).advance(5)
    assert [m.body for m in await store.receive("orders", 10)] == ["queue-delay"]
    assert await code_of(store.send("orders", "x", delay_seconds=901)) == "InvalidParameterValueException"


async def test_messages_older_than_the_retention_period_are_dropped(store: QueueStore) -> None:
    await store.create_queue("orders", {"MessageRetentionPeriod": "60"})
    await store.send("orders", "old")
    clock(store).advance(61)
    await store.send("orders", "new")
    assert [m.body for m in await store.receive("orders", 10)] == ["new"]


async def test_message_attributes_are_validated_filtered_and_digested(store: QueueStore) -> None:
    await store.create_queue("orders")
    attributes = {"trace.id": {"DataType": "String", "StringValue": "t-1"},
                  "count": {"DataType": "Number", "StringValue": "3"}}
    sent = await store.send("orders", "x", attributes)
    assert sent.md5_attributes == md5_of_attributes(attributes)
    [message] = await store.receive("orders", attribute_names=["trace.*"])
    assert message.message_attributes == {"trace.id": attributes["trace.id"]}
    assert message.md5_attributes == md5_of_attributes({"trace.id": attributes["trace.id"]})
    bad = {"n": {"DataType": "Number", "StringValue": "three"}}
    assert await code_of(store.send("orders", "x", bad)) == "InvalidParameterValueException"
    assert await code_of(store.send("orders", "x", {"AWS.x": {"DataType": "String", "StringValue": "v"}})) \
        == "InvalidParameterValueException"


def test_the_attribute_digest_follows_sqss_length_prefixed_encoding() -> None:
    # name, type, transport byte (1 = string), value: each length-prefixed big-endian
    encoded = (b"\x00\x00\x00\x01a" + b"\x00\x00\x00\x06String" + b"\x01" + b"\x00\x00\x00\x01x")
    expected = hashlib.md5(encoded, usedforsecurity=False).hexdigest()
    assert md5_of_attributes({"a": {"DataType": "String", "StringValue": "x"}}) == expected
    assert md5_of_attributes({}) is None


async def test_bodies_and_sizes_are_checked(store: QueueStore) -> None:
    await store.create_queue("small", {"MaximumMessageSize": "1024"})
    assert await code_of(store.send("small", "x" * 1025)) == "InvalidParameterValueException"
    assert await code_of(store.send("small", "")) == "MissingParameter"
    assert await code_of(store.send("small", "bad \x00 char")) == "InvalidParameterValueException"
    assert await code_of(store.send("missing", "x")) == "QueueDoesNotExist"


async def test_fifo_groups_deliver_in_order_one_in_flight_at_a_time(store: QueueStore) -> None:
    await store.create_queue("jobs.fifo", {"FifoQueue": "true"})
    for body, group in (("a1", "a"), ("b1", "b"), ("a2", "a")):
        await store.send("jobs.fifo", body, group_id=group, dedup_id=body)
    first = await store.receive("jobs.fifo", 10)
    assert [m.body for m in first] == ["a1", "b1", "a2"]
    assert await store.receive("jobs.fifo", 10) == []
    clock(store).advance(30)
    # "a1" reappears; "a2" must not be delivered while "a1" is in flight again
    again = await store.receive("jobs.fifo", 1)
    assert [m.body for m in again] == ["a1"]
    assert [m.body for m in await store.receive("jobs.fifo", 10)] == ["b1"]
    await store.delete("jobs.fifo", again[0].receipt_handle)
    clock(store).advance(30)
    assert [m.body for m in await store.receive("jobs.fifo", 10)] == ["b1", "a2"]


async def test_fifo_sends_are_deduplicated_for_five_minutes(store: QueueStore) -> None:
    await store.create_queue("jobs.fifo", {"FifoQueue": "true"})
    first = await store.send("jobs.fifo", "x", group_id="g", dedup_id="d")
    assert (await store.send("jobs.fifo", "x", group_id="g", dedup_id="d")).message_id == first.message_id
    clock(store).advance(301)
    assert (await store.send("jobs.fifo", "x", group_id="g", dedup_id="d")).message_id != first.message_id
    assert await code_of(store.send("jobs.fifo", "x", group_id="g")) == "InvalidParameterValueException"
    assert await code_of(store.send("jobs.fifo", "x", dedup_id="d2")) == "MissingParameter"
    assert await code_of(store.send("jobs.fifo", "x", group_id="g", dedup_id="e", delay_seconds=1)) \
        == "InvalidParameterValueException"


async def test_queue_names_and_attributes_are_validated(store: QueueStore) -> None:
    assert await code_of(store.create_queue("has space")) == "InvalidParameterValueException"
    assert await code_of(store.create_queue("x" * 81)) == "InvalidParameterValueException"
    assert await code_of(store.create_queue("jobs.fifo")) == "InvalidParameterValueException"
    assert await code_of(store.create_queue("jobs", {"FifoQueue": "true"})) == "InvalidParameterValueException"
    assert await code_of(store.create_queue("q", {"VisibilityTimeout": "43201"})) == "InvalidAttributeValue"
    assert await code_of(store.create_queue("q", {"ContentBasedDeduplication": "true"})) == "InvalidAttributeName"
    await store.create_queue("q", {"VisibilityTimeout": "5"})
    assert await code_of(store.create_queue("q", {"VisibilityTimeout": "6"})) == "QueueNameExists"
    assert (await store.create_queue("q", {"VisibilityTimeout": "5"})).name == "q"
    assert await code_of(store.set_attributes("q", {"FifoQueue": "true"})) == "InvalidParameterValueException"


async def test_a_message_received_too_often_moves_to_the_dead_letter_queue(store: QueueStore) -> None:
    await store.create_queue("dead")
    policy = f'{{"deadLetterTargetArn": "{store.queue_arn("dead")}", "maxReceiveCount": 2}}'
    await store.create_queue("orders", {"RedrivePolicy": policy, "VisibilityTimeout": "1"})
    await store.send("orders", "poison")
    for _ in range(2):
        assert len(await store.receive("orders")) == 1
        clock(store).advance(1)
    assert await store.receive("orders") == []
    assert [m.body for m in await store.receive("dead")] == ["poison"]


async def test_queues_are_listed_purged_and_deleted(store: QueueStore) -> None:
    for name in ("b", "a", "ab"):
        await store.create_queue(name)
    assert await store.list_queues() == ["a", "ab", "b"]
    assert await store.list_queues("a") == ["a", "ab"]
    assert await store.list_queues(after="a", limit=1) == ["ab"]
    await store.send("a", "x")
    await store.purge("a")
    assert await store.receive("a") == []
    assert await code_of(store.purge("a")) == "PurgeQueueInProgress"
    clock(store).advance(60)
    await store.purge("a")
    await store.delete_queue("a")
    assert await store.get_queue("a") is None
    assert await code_of(store.delete_queue("a")) == "QueueDoesNotExist"


def parked_event(store: QueueStore, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set whenever a long poll on ``store`` found nothing and starts to wait."""
    parked = asyncio.Event()
    nap = store._nap

    async def noted(waiter: asyncio.Future[None], until: float) -> None:
        parked.set()
        await nap(waiter, until)

    monkeypatch.setattr(store, "_nap", noted)
    return parked


async def test_a_long_poll_wakes_when_a_message_is_sent_and_ends_at_its_deadline(
        store: QueueStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await store.create_queue("orders")
    parked = parked_event(store, monkeypatch)
    polling = asyncio.create_task(store.receive("orders", wait_seconds=20))
    await asyncio.wait_for(parked.wait(), 10)
    await store.send("orders", "now")
    assert [m.body for m in await asyncio.wait_for(polling, 10)] == ["now"]

    parked.clear()
    empty = asyncio.create_task(store.receive("orders", wait_seconds=20))
    await asyncio.wait_for(parked.wait(), 10)
    clock(store).advance(20)
    assert await asyncio.wait_for(empty, 10) == []


def test_queue_urls_name_queues_by_account_and_name_whatever_the_host(store: QueueStore) -> None:
    assert store.name_from_url(f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/orders") == "orders"
    assert store.name_from_url(f"http://127.0.0.1:8000/{ACCOUNT}/orders") == "orders"
    with pytest.raises(QueueError):
        store.name_from_url("http://127.0.0.1:8000/999999999999/orders")
    with pytest.raises(QueueError):
        store.name_from_url("http://127.0.0.1:8000/orders")


async def test_two_instances_receiving_at_once_never_get_the_same_message(database_url: str) -> None:
    shared = ManualClock()
    databases = [open_database(database_url), open_database(database_url)]
    try:
        first, second = (QueueStore(db, shared, account_id=ACCOUNT) for db in databases)
        await first.create_queue("orders")
        for n in range(30):
            await first.send("orders", f"m{n}")
        batches = await asyncio.gather(*(store.receive("orders", 4) for store in (first, second) for _ in range(5)))
        bodies = [m.body for batch in batches for m in batch]
        assert len(bodies) == len(set(bodies)) == 30
    finally:
        for db in databases:
            await db.close()
