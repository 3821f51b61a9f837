"""A durable message queue with SQS's semantics, in Trellis's own database (SQLite or PostgreSQL).

Workflows send to it (``arn:aws:states:::sqs:sendMessage``) and clients use it through the
SQS-compatible API (``app/sqs.py``). What it keeps from SQS:

* **visibility timeout** — a received message stays hidden for the timeout and reappears unless
  deleted; each receive hands out a new **receipt handle**, and only the latest one deletes the
  message or changes its visibility (an older one is accepted and ignored, as SQS does);
* **delays** (queue ``DelaySeconds`` or per message), **retention** (older messages are dropped),
  **long polling** (``wait_seconds``; woken at once by sends on this instance, by polling otherwise),
  **purge** (once a minute), a **dead-letter queue** (``RedrivePolicy``) and queue attributes;
* **FIFO basics** — ``.fifo`` queues need ``MessageGroupId``; a group with a message in flight
  delivers nothing else until that message is deleted or reappears; sends are de-duplicated for
  five minutes by ``MessageDeduplicationId`` or, with ``ContentBasedDeduplication``, the body's
  SHA-256; every message gets a ``SequenceNumber``.

Errors are ``QueueError``s carrying SQS's JSON error shape name (``QueueDoesNotExist``) and its
legacy query code (``AWS.SimpleQueueService.NonExistentQueue``), which botocore reads from the
``x-amzn-query-error`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from datasources.sql import SqlDatabase
from workflows.clock import Clock, SystemClock
from workflows.queue_rules import (
    COMPUTED_ATTRIBUTES,
    DEDUP_OR_GROUP,
    DEDUP_SECONDS,
    DEFAULT_SENDER,
    FIFO_ATTRIBUTES,
    FREE_ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    PURGE_INTERVAL,
    QueueError,
    QueueRecord,
    ReceivedMessage,
    SentMessage,
    attributes_size,
    check_attributes,
    check_body,
    check_message_attributes,
    check_queue_name,
    chosen_names,
    invalid_parameter,
    md5_of_attributes,
    md5_of_body,
    missing_parameter,
    out_of_range,
    parse_receipt,
    queue_not_found,
    receipt_handle,
    timestamp_ms,
)

metadata = MetaData()

queues_table = Table(
    "sqs_queues", metadata,
    Column("name", String(80), primary_key=True),
    Column("attributes", Text, nullable=False),          # JSON {name: value} of the attributes set
    Column("created", Float, nullable=False),
    Column("modified", Float, nullable=False),
    Column("next_sequence", Integer, nullable=False),    # orders messages; FIFO's SequenceNumber
    Column("purged", Float),                             # when PurgeQueue last ran
)

messages_table = Table(
    "sqs_messages", metadata,
    Column("id", String(36), primary_key=True),
    Column("queue", String(80), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("attributes", Text),                          # JSON of the message attributes, as sent
    Column("md5_body", String(32), nullable=False),
    Column("md5_attributes", String(32)),
    Column("group_id", String(128)),
    Column("dedup_id", String(128)),
    Column("sender", String(128), nullable=False),
    Column("sent", Float, nullable=False),
    Column("visible_at", Float, nullable=False),          # hidden until then: delayed or in flight
    Column("receipt", String(256)),                      # the latest receipt handle; None = never received
    Column("receive_count", Integer, nullable=False, default=0),
    Column("first_received", Float),
)
Index("sqs_messages_ready", messages_table.c.queue, messages_table.c.visible_at, messages_table.c.sequence)

dedup_table = Table(
    "sqs_dedup", metadata,
    Column("queue", String(80), primary_key=True),
    Column("dedup_id", String(128), primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("expires", Float, nullable=False),
)

# -- the store ---------------------------------------------------------------------------------------------


@dataclass
class QueueStore:
    """Queues and their messages in ``db``; ``account_id``/``region`` name them (``QueueArn``)."""

    db: SqlDatabase
    clock: Clock = field(default_factory=SystemClock)
    account_id: str = "000000000000"
    region: str = "us-east-1"
    poll_seconds: float = 0.5       # how often a long poll looks for messages sent by other instances
    _ready: bool = field(default=False, init=False)
    _setup_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _waiters: dict[str, set[asyncio.Future[None]]] = field(default_factory=dict, init=False)

    async def setup(self) -> None:
        """Create the tables (once; every operation calls this, so callers need not)."""
        if self._ready:
            return
        async with self._setup_lock:
            if not self._ready:
                await self.db.run(lambda conn: metadata.create_all(conn))
                self._ready = True

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def name_from_url(self, url: Any) -> str:
        """The queue a ``QueueUrl`` names (``<any host>/<account>/<name>``), else ``QueueDoesNotExist``.

        Only the path counts, so URLs written for AWS (``https://sqs.<region>.amazonaws.com/...``)
        keep working."""
        if not isinstance(url, str) or not url:
            raise missing_parameter("QueueUrl")
        path = url.split("://", 1)[-1].split("?", 1)[0]
        parts = [p for p in path.split("/")[1:] if p]
        if len(parts) != 2 or parts[0] != self.account_id:
            raise queue_not_found()
        return parts[1]

    # -- queues -----------------------------------------------------------------------------------------

    async def create_queue(self, name: Any, attributes: Any = None) -> QueueRecord:
        raw = attributes if isinstance(attributes, Mapping) else {}
        fifo = str(raw.get("FifoQueue", "false")).lower() == "true"
        name = check_queue_name(name, fifo)
        wanted = check_attributes(attributes, fifo)
        await self.setup()
        now = self.clock.now()

        def work(conn: Connection) -> QueueRecord:
            existing = conn.execute(select(queues_table).where(queues_table.c.name == name)).first()
            if existing is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(queues_table).values(name=name, attributes=json.dumps(wanted),
                                                                 created=now, modified=now, next_sequence=1))
                    return QueueRecord(name, wanted, now, now)
                except IntegrityError:  # created at this moment elsewhere: answer as for an existing queue
                    existing = conn.execute(select(queues_table).where(queues_table.c.name == name)).one()
            record = _queue(existing)
            differing = sorted(k for k, v in wanted.items() if _effective(record, k) != v)
            if differing:
                raise QueueError("QueueNameExists", "A queue already exists with the same name and a different "
                                 f"value for attribute {differing[0]}", "QueueAlreadyExists")
            return record

        return await self.db.write(work)

    async def get_queue(self, name: str) -> QueueRecord | None:
        await self.setup()
        row = await self.db.read(lambda conn: conn.execute(
            select(queues_table).where(queues_table.c.name == name)).first())
        return None if row is None else _queue(row)

    async def require(self, name: str) -> QueueRecord:
        record = await self.get_queue(name)
        if record is None:
            raise queue_not_found()
        return record

    async def list_queues(self, prefix: str = "", after: str | None = None, limit: int = 1000) -> list[str]:
        await self.setup()

        def work(conn: Connection) -> list[str]:
            query = select(queues_table.c.name).order_by(queues_table.c.name).limit(limit)
            if prefix:
                query = query.where(queues_table.c.name.startswith(prefix, autoescape=True))
            if after is not None:
                query = query.where(queues_table.c.name > after)
            return [row.name for row in conn.execute(query)]
        return await self.db.read(work)

    async def delete_queue(self, name: str) -> None:
        await self.setup()

        def work(conn: Connection) -> None:
            if conn.execute(delete(queues_table).where(queues_table.c.name == name)).rowcount == 0:
                raise queue_not_found()
            conn.execute(delete(messages_table).where(messages_table.c.queue == name))
            conn.execute(delete(dedup_table).where(dedup_table.c.queue == name))
        await self.db.write(work)

    async def set_attributes(self, name: str, attributes: Any) -> None:
        record = await self.require(name)
        if isinstance(attributes, Mapping) and "FifoQueue" in attributes:
            if str(attributes["FifoQueue"]).lower() != str(record.fifo).lower():
                raise invalid_parameter("Invalid value for the parameter FifoQueue. Reason: Modifying queue type "
                                        "is not supported.")
            attributes = {k: v for k, v in attributes.items() if k != "FifoQueue"}
        changes = check_attributes(attributes, record.fifo)
        now = self.clock.now()

        def work(conn: Connection) -> None:
            row = conn.execute(select(queues_table).where(queues_table.c.name == name)).first()
            if row is None:
                raise queue_not_found()
            merged = {**json.loads(row.attributes), **changes}
            merged = {k: v for k, v in merged.items() if v != ""}  # an empty value removes Policy, RedrivePolicy
            conn.execute(update(queues_table).where(queues_table.c.name == name)
                         .values(attributes=json.dumps(merged), modified=now))
        await self.db.write(work)

    async def attributes(self, name: str, names: Sequence[str] = ("All",)) -> dict[str, str]:
        record = await self.require(name)
        known = {*NUMERIC_ATTRIBUTES, *FREE_ATTRIBUTES, *COMPUTED_ATTRIBUTES, *FIFO_ATTRIBUTES}
        for wanted in names:
            if wanted != "All" and wanted not in known:
                raise QueueError("InvalidAttributeName", f"Unknown Attribute {wanted}.")
        now = self.clock.now()

        def counts(conn: Connection) -> tuple[int, int, int]:
            m = messages_table.c
            hidden = m.visible_at > now

            def count(condition: Any) -> Any:
                return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

            row = conn.execute(select(count(m.visible_at <= now), count(and_(hidden, m.receipt.is_not(None))),
                                      count(and_(hidden, m.receipt.is_(None)))).where(m.queue == name)).one()
            return int(row[0]), int(row[1]), int(row[2])

        visible, in_flight, delayed = await self.db.read(counts)
        values: dict[str, str] = {
            "QueueArn": self.queue_arn(name),
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(int(record.created)),
            "LastModifiedTimestamp": str(int(record.modified)),
            **{k: str(_effective(record, k)) for k in NUMERIC_ATTRIBUTES},
            "SqsManagedSseEnabled": record.attributes.get("SqsManagedSseEnabled", "true"),
            **{k: v for k, v in record.attributes.items() if k in FREE_ATTRIBUTES},
        }
        if record.fifo:
            values.update(FifoQueue="true", ContentBasedDeduplication=str(record.content_based_deduplication).lower(),
                          DeduplicationScope=record.attributes.get("DeduplicationScope", "queue"),
                          FifoThroughputLimit=record.attributes.get("FifoThroughputLimit", "perQueue"))
        if "All" in names:
            return values
        return {k: values[k] for k in names if k in values}

    async def purge(self, name: str) -> None:
        await self.setup()
        now = self.clock.now()

        def work(conn: Connection) -> None:
            row = conn.execute(select(queues_table).where(queues_table.c.name == name)).first()
            if row is None:
                raise queue_not_found()
            if row.purged is not None and now - row.purged < PURGE_INTERVAL:
                raise QueueError("PurgeQueueInProgress", f"Only one PurgeQueue operation on {name} is allowed every "
                                 "60 seconds.", "AWS.SimpleQueueService.PurgeQueueInProgress", 403)
            conn.execute(delete(messages_table).where(messages_table.c.queue == name))
            conn.execute(update(queues_table).where(queues_table.c.name == name).values(purged=now))
        await self.db.write(work)

    # -- messages ---------------------------------------------------------------------------------------

    async def send(self, name: str, body: Any, attributes: Any = None, *, delay_seconds: Any = None,
                   group_id: Any = None, dedup_id: Any = None, sender: str = DEFAULT_SENDER) -> SentMessage:
        record = await self.require(name)
        body = check_body(body)
        checked = check_message_attributes(attributes)
        size = len(body.encode("utf-8")) + attributes_size(checked)
        limit = record.number("MaximumMessageSize")
        if size > limit:
            raise invalid_parameter(f"One or more parameters are invalid. Reason: Message must be shorter than "
                                    f"{limit} bytes.")
        delay = record.number("DelaySeconds")
        if delay_seconds is not None:
            if record.fifo:
                raise invalid_parameter(f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: The "
                                        "request include parameter that is not valid for this queue type.")
            if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int) or not 0 <= delay_seconds <= 900:
                raise out_of_range("DelaySeconds", delay_seconds, 0, 900)
            delay = delay_seconds
        group, dedup = self._fifo_fields(record, body, group_id, dedup_id)
        now = self.clock.now()
        md5_body, md5_attributes = md5_of_body(body), md5_of_attributes(checked)
        message_id = str(uuid.uuid4())

        def work(conn: Connection) -> SentMessage:
            sequence = _next_sequence(conn, name)
            if dedup is not None:
                d = dedup_table.c
                conn.execute(delete(dedup_table).where(d.queue == name, d.expires <= now))
                earlier = conn.execute(select(dedup_table).where(d.queue == name, d.dedup_id == dedup)).first()
                if earlier is not None:  # a duplicate: accepted, not enqueued, answered with the first message
                    return SentMessage(earlier.message_id, md5_body, md5_attributes, f"{earlier.sequence:020d}")
                conn.execute(insert(dedup_table).values(queue=name, dedup_id=dedup, message_id=message_id,
                                                        sequence=sequence, expires=now + DEDUP_SECONDS))
            conn.execute(insert(messages_table).values(
                id=message_id, queue=name, sequence=sequence, body=body,
                attributes=json.dumps(checked) if checked else None, md5_body=md5_body, md5_attributes=md5_attributes,
                group_id=group, dedup_id=dedup, sender=sender, sent=now, visible_at=now + delay, receipt=None,
                receive_count=0, first_received=None))
            return SentMessage(message_id, md5_body, md5_attributes, f"{sequence:020d}" if record.fifo else None)

        sent = await self.db.write(work)
        self._wake(name)
        return sent

    @staticmethod
    def _fifo_fields(record: QueueRecord, body: str, group_id: Any, dedup_id: Any) -> tuple[str | None, str | None]:
        for label, value in (("MessageGroupId", group_id), ("MessageDeduplicationId", dedup_id)):
            if value is not None and (not isinstance(value, str) or not DEDUP_OR_GROUP.match(value)):
                raise invalid_parameter(f"Value {value} for parameter {label} is invalid. Reason: It can only "
                                        "contain alphanumeric characters and punctuation, 1 to 128 in length.")
        if not record.fifo:
            if dedup_id is not None:
                raise invalid_parameter(f"Value {dedup_id} for parameter MessageDeduplicationId is invalid. Reason: "
                                        "The request includes a parameter that is not valid for this queue type.")
            return group_id, None
        if group_id is None:
            raise missing_parameter("MessageGroupId")
        if dedup_id is None:
            if not record.content_based_deduplication:
                raise invalid_parameter("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
            dedup_id = hashlib.sha256(body.encode("utf-8")).hexdigest()
        return group_id, dedup_id

    async def receive(self, name: str, max_messages: int = 1, visibility_timeout: int | None = None,
                      wait_seconds: int | None = None, system_attributes: Sequence[str] = (),
                      attribute_names: Sequence[str] = ()) -> list[ReceivedMessage]:
        """Up to ``max_messages`` visible messages, hidden for the visibility timeout; with
        ``wait_seconds`` (else the queue's ``ReceiveMessageWaitTimeSeconds``), wait that long for one."""
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or not 1 <= max_messages <= 10:
            raise invalid_parameter(f"Value {max_messages} for parameter MaxNumberOfMessages is invalid. "
                                    "Reason: Must be between 1 and 10, if provided.")
        if visibility_timeout is not None and (isinstance(visibility_timeout, bool) or not isinstance(
                visibility_timeout, int) or not 0 <= visibility_timeout <= 43200):
            raise out_of_range("VisibilityTimeout", visibility_timeout, 0, 43200)
        if wait_seconds is not None and (isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int)
                                         or not 0 <= wait_seconds <= 20):
            raise out_of_range("WaitTimeSeconds", wait_seconds, 0, 20)
        record = await self.require(name)
        wait = record.number("ReceiveMessageWaitTimeSeconds") if wait_seconds is None else wait_seconds
        timeout = record.number("VisibilityTimeout") if visibility_timeout is None else visibility_timeout
        deadline = self.clock.now() + wait
        while True:
            waiter = self._waiter(name)  # registered before looking, so a send in between still wakes us
            try:
                taken = await self.db.write(lambda conn: self._take(conn, record, max_messages, timeout))
                if taken or self.clock.now() >= deadline:
                    return [self._received(row, system_attributes, attribute_names) for row in taken]
                await self._nap(waiter, min(deadline, self.clock.now() + self.poll_seconds))
            finally:
                self._waiters.get(name, set()).discard(waiter)

    def _take(self, conn: Connection, record: QueueRecord, limit: int, timeout: int) -> list[dict[str, Any]]:
        m = messages_table.c
        now = self.clock.now()
        name = record.name
        retention = record.number("MessageRetentionPeriod")
        conn.execute(delete(messages_table).where(m.queue == name, m.sent < now - retention))
        query = select(messages_table).where(m.queue == name, m.visible_at <= now)
        if record.fifo:
            busy = select(m.group_id).where(m.queue == name, m.receipt.is_not(None), m.visible_at > now)
            query = query.where(m.group_id.not_in(busy))
        query = query.order_by(m.sequence).limit(limit).with_for_update(skip_locked=True)
        redrive = record.redrive
        taken = []
        for row in conn.execute(query).all():
            if (redrive is not None and row.receive_count >= redrive[1] and redrive[0] != name
                    and conn.execute(select(queues_table.c.name).where(queues_table.c.name == redrive[0])).first()):
                # Received maxReceiveCount times already: it moves to the dead-letter queue instead.
                conn.execute(update(messages_table).where(m.id == row.id).values(
                    queue=redrive[0], receipt=None, receive_count=0, first_received=None,
                    sequence=_next_sequence(conn, redrive[0])))
                continue
            receipt = receipt_handle(name, row.id)
            changed = conn.execute(update(messages_table).where(m.id == row.id, m.visible_at <= now).values(
                receipt=receipt, receive_count=row.receive_count + 1, visible_at=now + timeout,
                first_received=row.first_received if row.first_received is not None else now)).rowcount
            if changed:
                first = row.first_received if row.first_received is not None else now
                taken.append({**row._asdict(), "receipt": receipt, "receive_count": row.receive_count + 1,
                              "first_received": first})
        return taken

    @staticmethod
    def _received(row: Mapping[str, Any], system: Sequence[str], names: Sequence[str]) -> ReceivedMessage:
        every = {
            "SenderId": row["sender"],
            "SentTimestamp": timestamp_ms(row["sent"]),
            "ApproximateReceiveCount": str(row["receive_count"]),
            "ApproximateFirstReceiveTimestamp": timestamp_ms(row["first_received"]),
        }
        if row["group_id"] is not None:
            every["MessageGroupId"] = row["group_id"]
        if row["dedup_id"] is not None:
            every["MessageDeduplicationId"] = row["dedup_id"]
            every["SequenceNumber"] = f"{row['sequence']:020d}"
        wanted = set(every) if "All" in system else set(system)
        stored: dict[str, Any] = json.loads(row["attributes"]) if row["attributes"] else {}
        chosen = {n: stored[n] for n in chosen_names(names, sorted(stored))}
        return ReceivedMessage(row["id"], row["receipt"], row["body"], row["md5_body"],
                               {k: v for k, v in every.items() if k in wanted}, chosen, md5_of_attributes(chosen))

    async def delete(self, name: str, receipt_handle: Any) -> None:
        """Delete the message the latest receipt handle names; an outdated handle is accepted and
        changes nothing (SQS's rule)."""
        await self.require(name)
        message_id = parse_receipt(receipt_handle, name)
        await self.db.write(lambda conn: conn.execute(delete(messages_table).where(
            messages_table.c.id == message_id, messages_table.c.receipt == receipt_handle)))

    async def change_visibility(self, name: str, receipt_handle: Any, seconds: Any) -> None:
        await self.require(name)
        message_id = parse_receipt(receipt_handle, name)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 43200:
            raise out_of_range("VisibilityTimeout", seconds, 0, 43200)
        now = self.clock.now()

        def work(conn: Connection) -> None:
            m = messages_table.c
            row = conn.execute(select(messages_table).where(m.id == message_id)).first()
            if row is None or row.receipt != receipt_handle:
                raise invalid_parameter(f"Value {receipt_handle} for parameter ReceiptHandle is invalid. Reason: "
                                        "Message does not exist or is not available for visibility timeout change.")
            if row.visible_at <= now:
                raise QueueError("MessageNotInflight", "Message is not in flight.",
                                 "AWS.SimpleQueueService.MessageNotInflight")
            conn.execute(update(messages_table).where(m.id == message_id).values(visible_at=now + seconds))
        await self.db.write(work)
        if seconds == 0:
            self._wake(name)

    # -- long polling -----------------------------------------------------------------------------------

    def _waiter(self, name: str) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, set()).add(waiter)
        return waiter

    def _wake(self, name: str) -> None:
        for waiter in self._waiters.pop(name, set()):
            if not waiter.done():
                waiter.set_result(None)

    async def _nap(self, waiter: asyncio.Future[None], until: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep_until(until))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sleeper


def _queue(row: Any) -> QueueRecord:
    return QueueRecord(row.name, json.loads(row.attributes), row.created, row.modified)


def _effective(record: QueueRecord, attribute: str) -> str:
    if attribute in NUMERIC_ATTRIBUTES:
        return str(record.number(attribute))
    if attribute == "ContentBasedDeduplication":
        return str(record.content_based_deduplication).lower()
    return record.attributes.get(attribute, "")


def _next_sequence(conn: Connection, name: str) -> int:
    # The UPDATE takes the queue row's lock first, so concurrent senders get distinct numbers.
    q = queues_table.c
    conn.execute(update(queues_table).where(q.name == name).values(next_sequence=q.next_sequence + 1))
    value = conn.execute(select(q.next_sequence).where(q.name == name)).scalar_one_or_none()
    if value is None:
        raise queue_not_found()
    return int(value) - 1
