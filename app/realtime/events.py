"""Change events: what a successful mutation publishes for subscriptions to pick up.

The event carries the *whole* item as stored (not what the mutation happened to select), so each
subscription renders it through its own selection set. Topics are per mutation field, as
``@aws_subscribe(mutations: [...])`` names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.pubsub import PubSub

TOPIC_PREFIX = "mutation:"


def topic_for(mutation: str) -> str:
    return TOPIC_PREFIX + mutation


@dataclass(frozen=True)
class ChangeEvent:
    mutation: str  # the Mutation field that made the change, e.g. "createOrder"
    model: str | None  # the @model type, when the change is a model item
    item: Mapping[str, Any]

    def encode(self) -> bytes:
        return json.dumps({"mutation": self.mutation, "model": self.model, "item": self.item},
                          separators=(",", ":"), default=str).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ChangeEvent:
        body = json.loads(raw)
        return cls(str(body["mutation"]), body.get("model"), body["item"])


class ChangePublisher:
    """A change listener (see ``ResolverRuntime.change_listeners``) that publishes to pub/sub."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub

    async def __call__(self, mutation: str, model: str | None, item: Mapping[str, Any]) -> None:
        event = ChangeEvent(mutation, model, item)
        await self.pubsub.publish(topic_for(mutation), event.encode())
