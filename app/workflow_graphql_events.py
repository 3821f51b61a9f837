"""Workflow subscription events: the engine's ``ExecutionObserver`` that publishes each committed
step of an execution on the topics ``onExecutionEvent`` and ``onExecutionStatusChanged`` name.

The subscription fields name internal topics in ``@aws_subscribe`` (``trellis:...``, a name no
mutation can have), so the ordinary subscription engine delivers these events over both WebSocket
protocols, filtered by the ``executionArn`` argument, to every instance sharing the pub/sub.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from app.pubsub import PubSub
from app.realtime.events import ChangeEvent, topic_for
from app.workflow_graphql_resolvers import date_text, event_shape
from workflows.engine.records import HistoryEvent

log = logging.getLogger("trellis.workflows.graphql")

STATUS_TOPIC_NAME = "trellis:workflows.executionStatus"
EVENT_TOPIC_NAME = "trellis:workflows.executionEvent"
_END_EVENTS = {
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}


def status_change(execution_arn: str, state_machine_arn: str, events: Sequence[HistoryEvent],
                  status: str) -> dict[str, Any] | None:
    """The status item of a committed step, or None when the step neither started nor ended it."""
    started = next((e for e in events if e.type == "ExecutionStarted"), None)
    ended = next((e for e in events if e.type in _END_EVENTS), None)
    if status == "RUNNING" and started is None:
        return None
    item: dict[str, Any] = {"executionArn": execution_arn, "stateMachineArn": state_machine_arn, "status": status,
                            "output": None, "error": None, "cause": None}
    moment = ended or started or (events[-1] if events else None)
    item["date"] = date_text(moment.timestamp if moment is not None else time.time())
    if ended is not None and ended.details:
        details = ended.details.get(_END_EVENTS[ended.type]) or {}
        item["output"] = details.get("output")
        item["error"] = details.get("error")
        item["cause"] = details.get("cause")
    return item


class WorkflowEventPublisher:
    """An ``ExecutionObserver``: each committed step becomes events on the workflow topics.

    ``execution_changed`` is called synchronously by the engine and must not block, so it only
    queues; one task publishes in order (a subscriber sees an execution's events as committed)."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.status_topic = topic_for(STATUS_TOPIC_NAME)
        self.event_topic = topic_for(EVENT_TOPIC_NAME)
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def execution_changed(self, execution_arn: str, state_machine_arn: str, events: Sequence[HistoryEvent],
                          status: str) -> None:
        if self.pubsub.wants(self.event_topic):
            for event in events:
                item = event_shape(execution_arn, event)
                self._enqueue(self.event_topic, ChangeEvent(EVENT_TOPIC_NAME, None, item).encode())
        if self.pubsub.wants(self.status_topic):
            change = status_change(execution_arn, state_machine_arn, events, status)
            if change is not None:
                self._enqueue(self.status_topic, ChangeEvent(STATUS_TOPIC_NAME, None, change).encode())

    def _enqueue(self, topic: str, message: bytes) -> None:
        self._queue.put_nowait((topic, message))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._publish(), name="trellis-workflow-events")

    async def _publish(self) -> None:
        while not self._queue.empty():
            topic, message = self._queue.get_nowait()
            try:
                await self.pubsub.publish(topic, message)
            except Exception:  # one failed publish must not stop the next
                log.exception("publishing a workflow event on %s failed", topic)

    async def close(self) -> None:
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)


TOPIC_MESSAGE_TOPIC_NAME = "trellis:workflows.topicMessage"


class TopicMessagePublisher:
    """Where ``sns:publish`` tasks deliver: the ``onTopicMessage(topicArn)`` subscription. Topics
    need no creating — a topic ARN is the filter subscribers give."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.topic = topic_for(TOPIC_MESSAGE_TOPIC_NAME)

    async def publish(self, topic_arn: str, message: str, subject: str | None,
                      attributes: Mapping[str, Any]) -> str:
        message_id = str(uuid.uuid4())
        item = {"topicArn": topic_arn, "messageId": message_id, "message": message, "subject": subject,
                "attributes": json.dumps(dict(attributes)) if attributes else None, "date": date_text(time.time())}
        # Published when the task runs; the message id is the task's result either way.
        await self.pubsub.publish(self.topic, ChangeEvent(TOPIC_MESSAGE_TOPIC_NAME, None, item).encode())
        return message_id
