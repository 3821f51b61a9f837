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

from graphql import GraphQLSchema, value_from_ast_untyped

from app.pubsub import PubSub

TOPIC_PREFIX = "mutation:"


def topic_for(mutation: str) -> str:
    return TOPIC_PREFIX + mutation


def subscribed_mutations(schema: GraphQLSchema, field_name: str) -> tuple[str, ...]:
    subscription_type = schema.subscription_type
    field_def = subscription_type.fields.get(field_name) if subscription_type is not None else None
    node = field_def.ast_node if field_def is not None else None
    for directive in (node.directives or ()) if node is not None else ():
        if directive.name.value == "aws_subscribe":
            for argument in directive.arguments or ():
                if argument.name.value == "mutations":
                    value = value_from_ast_untyped(argument.value)
                    return tuple(str(v) for v in value or ())
    return ()


def all_subscribed_mutations(schema: GraphQLSchema) -> set[str]:
    subscription_type = schema.subscription_type
    names = subscription_type.fields if subscription_type is not None else {}
    return {m for name in names for m in subscribed_mutations(schema, name)}


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
        topic = topic_for(mutation)
        if self.pubsub.wants(topic):  # no subscriber anywhere: nothing to encode
            await self.pubsub.publish(topic, ChangeEvent(mutation, model, item).encode())
