"""The subscription engine: which subscriptions an event reaches, and what each receives.

``prepare`` checks a subscription at ``start`` (the document validates, it is one subscription
field, the caller's mode may read that field, the model's ``@auth`` rules let them ``listen``)
and works out what it listens to: the mutations named by ``@aws_subscribe``. ``register`` puts it
on those topics (one pub/sub handler per topic per instance, however many subscribers).

For each event: subscriptions whose filters pass (AppSync's argument filtering — a subscription
argument that is set must equal the item's field of that name — the ``@model`` ``filter``
argument, and owner/group rows for callers whose rules grant rows only) are grouped by what
they would receive (document, variables, and the caller's access class); each group's payload
is executed and serialised once and handed, as bytes, to every member's ``deliver``.

A large fan-out yields to the event loop every ``DELIVERY_SLICE`` subscribers, so requests and
other connections are served while it runs (the next mutations' commits overlap this event's
delivery). Events still reach every subscriber in the order they were published: one task delivers
them. Events that queued up meanwhile on the same topic are delivered together (at most
``EVENT_BATCH``): each is filtered and rendered on its own, then a subscriber that receives several
gets them in one call (``deliver_many``, one socket write for all) — under load, fewer writes per
event; alone, an event goes out as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution import Executor as GraphQLExecutor
from graphql.execution import execute_subscription_event
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, is_awaitable

from app.error_format import format_error
from app.errors import TrellisError
from app.execution import Executor, GraphQLRequest
from app.pubsub import PubSub, Unsubscribe
from app.realtime.events import ChangeEvent, subscribed_mutations, topic_for
from app.realtime.filters import EnhancedFilter, parse_filter
from auth.field_rules import FieldUnauthorizedError, GuardCache, denied_message
from auth.modes import Identity
from resolvers.context import RequestInfo, RequestScope
from resolvers.model.auth import Access
from resolvers.model.match import matches
from resolvers.model.spec import ModelSpec
from resolvers.runtime import ResolverRuntime

log = logging.getLogger("trellis.realtime")

DELIVERY_SLICE = 64
EVENT_BATCH = 32

Deliver = Callable[["Subscription", bytes], None]
DeliverMany = Callable[["Subscription", list[bytes]], None]
Expire = Callable[["Subscription"], None]


class SubscriptionError(TrellisError):
    error_type = "BadRequestException"


@dataclass(eq=False)
class Subscription:
    id: str
    request: GraphQLRequest
    document: DocumentNode
    field_name: str
    arguments: Mapping[str, Any]
    mutations: tuple[str, ...]
    identity: Identity
    access: Access
    group_key: str  # equal for subscriptions that receive the same payload (a str: its hash is cached)
    executor: GraphQLExecutor[Any]
    root: FieldNode
    deliver: Deliver
    expire: Expire | None = None
    expires_at: float | None = None  # epoch seconds: the credential's own expiry
    headers: Mapping[str, str] = field(default_factory=dict)
    enhanced_filter: EnhancedFilter | None = None  # set by the field's resolver at start
    unfiltered: bool = False  # no argument set, no row rule, no enhanced filter: every event passes
    expiry: asyncio.TimerHandle | None = None  # ends the subscription at ``expires_at``
    deliver_many: DeliverMany | None = None  # several events at once, in order (else ``deliver`` each)


def _root_field(document: DocumentNode, operation_name: str | None) -> tuple[OperationDefinitionNode, FieldNode]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1:
        raise SubscriptionError("Could not determine which operation to run: give a valid operationName")
    operation = operations[0]
    if operation.operation is not OperationType.SUBSCRIPTION:
        raise SubscriptionError("Only subscription operations are accepted here")
    fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(fields) != 1 or len(operation.selection_set.selections) != 1:
        raise SubscriptionError("A subscription must select exactly one top-level field")
    return operation, fields[0]


class SubscriptionEngine:
    def __init__(self, executor: Executor, resolvers: ResolverRuntime, field_guards: GuardCache,
                 models: Mapping[str, ModelSpec], model_of_field: Mapping[str, str], pubsub: PubSub,
                 clock: Callable[[], float] = time.time,
                 resolvers_at_start: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.executor = executor
        self.schema = executor.schema
        self.resolvers = resolvers
        self.field_guards = field_guards
        self.models = models
        self.model_of_field = model_of_field  # subscription field -> @model type it watches
        self.pubsub = pubsub
        self.clock = clock
        self.resolvers_at_start = dict(resolvers_at_start or {})
        self._by_topic: dict[str, dict[Subscription, None]] = {}
        self._topic_handles: dict[str, Unsubscribe] = {}
        self._topic_pending: dict[str, asyncio.Future[None]] = {}
        self.max_pending_events = 10_000
        self._events: deque[tuple[str, bytes]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._row_rules = any(
            rule.row_level for m in models.values() if m.auth is not None for rule in m.auth.rules
        )

    # -- start ----------------------------------------------------------------------------------

    def prepare(self, subscription_id: str, request: GraphQLRequest, identity: Identity, deliver: Deliver,
                expire: Expire | None = None, expires_at: float | None = None,
                deliver_many: DeliverMany | None = None) -> Subscription:
        """Check a subscription at ``start``; raise a ``TrellisError`` (AppSync's shape) if it cannot run."""
        prepared = self.executor.prepare(request.query)
        if prepared.document is None:
            raise SubscriptionError("; ".join(e.message for e in prepared.errors),
                                    error_info={"errors": [format_error(e, False) for e in prepared.errors]})
        _operation, root = _root_field(prepared.document, request.operation_name)
        field_name = root.name.value
        guard = self.field_guards.guard_for(identity)
        if guard is not None and ("Subscription", field_name) in guard.denied:
            raise FieldUnauthorizedError(denied_message("Subscription", field_name))
        subscription_type = self.schema.subscription_type
        assert subscription_type is not None  # validation passed, so the schema has one
        # Built once: variables coerced and the caller's field guard fixed; each event runs a copy.
        built = GraphQLExecutor.build(
            self.schema, prepared.document, raw_variable_values=dict(request.variables or {}),
            operation_name=request.operation_name, middleware=[guard] if guard is not None else None,
        )
        if isinstance(built, list):
            raise SubscriptionError("; ".join(e.message for e in built))
        try:
            arguments = get_argument_values(subscription_type.fields[field_name], root, built.variable_values)
        except GraphQLError as exc:
            raise SubscriptionError(exc.message) from exc
        access = Access(True)
        model_name = self.model_of_field.get(field_name)
        spec = self.models.get(model_name) if model_name else None
        if spec is not None and spec.auth is not None:
            access = spec.auth.access(identity, "listen")
            if not access.allowed:
                raise FieldUnauthorizedError(denied_message("Subscription", field_name))
        variables = json.dumps(request.variables or {}, sort_keys=True, default=str)
        owner_key = None
        if self._row_rules and identity.appsync is not None:
            claims = identity.appsync.get("claims") or {}
            owner_key = (claims.get("sub"), claims.get("username") or claims.get("cognito:username"))
        group_key = json.dumps([request.query, request.operation_name, variables, identity.mode,
                                sorted(identity.groups), identity.policy_cache_key, sorted(identity.denied_fields),
                                owner_key], default=repr)
        return Subscription(
            id=subscription_id, request=request, document=prepared.document, field_name=field_name,
            arguments=arguments, mutations=subscribed_mutations(self.schema, field_name), identity=identity,
            executor=built, root=root,
            access=access, group_key=group_key, deliver=deliver, expire=expire, expires_at=expires_at,
            deliver_many=deliver_many,
        )

    async def register(self, subscription: Subscription) -> None:
        """Run the field's resolver (it may refuse with a ``TrellisError``, or set an enhanced filter),
        then put the subscription on its topics; returns once events published from now on reach it."""
        await self._run_resolver(subscription)
        subscription.unfiltered = (subscription.access.predicate is None and subscription.enhanced_filter is None
                                   and all(value is None for value in subscription.arguments.values()))
        if subscription.expires_at is not None:
            # Ended when its credential expires, whether or not an event comes (each event checks too).
            delay = max(0.0, subscription.expires_at - self.clock())
            subscription.expiry = asyncio.get_running_loop().call_later(delay, self._expire, subscription)
        for mutation in subscription.mutations:
            topic = topic_for(mutation)
            members = self._by_topic.setdefault(topic, {})
            members[subscription] = None
            if topic in self._topic_handles:
                continue
            pending = self._topic_pending.get(topic)
            if pending is not None:
                await asyncio.shield(pending)  # another start is subscribing this topic right now
                continue
            # Claimed before awaiting, so concurrent starts subscribe the topic once (not once each,
            # which would deliver every event twice).
            pending = self._topic_pending[topic] = asyncio.get_running_loop().create_future()
            try:
                self._topic_handles[topic] = await self.pubsub.subscribe(topic, self._on_message)
            finally:
                del self._topic_pending[topic]
                pending.set_result(None)

    async def _run_resolver(self, subscription: Subscription) -> None:
        resolve = self.resolvers_at_start.get(subscription.field_name)
        if resolve is None:
            return
        subscription_type = self.schema.subscription_type
        assert subscription_type is not None
        scope = RequestScope(runtime=self.resolvers, request=RequestInfo(headers=subscription.headers),
                             identity=subscription.identity.appsync, caller=subscription.identity)
        start = subscription.executor.build_per_event_executor(None)
        start.context_value = scope
        info = start.build_resolve_info(subscription_type.fields[subscription.field_name], [subscription.root],
                                        subscription_type, Path(None, subscription.field_name, "Subscription"))
        result = resolve(None, info, **subscription.arguments)
        if is_awaitable(result):
            await result
        if scope.subscription_filter is not None:
            subscription.enhanced_filter = parse_filter(scope.subscription_filter)

    def unregister(self, subscription: Subscription) -> None:
        if subscription.expiry is not None:
            subscription.expiry.cancel()
            subscription.expiry = None
        for mutation in subscription.mutations:
            topic = topic_for(mutation)
            members = self._by_topic.get(topic)
            if members is None:
                continue
            members.pop(subscription, None)
            if not members:
                del self._by_topic[topic]
                handle = self._topic_handles.pop(topic, None)
                if handle is not None:
                    handle()

    def _expire(self, subscription: Subscription) -> None:
        """The credential that authorised it has expired: nothing more is delivered."""
        registered = any(subscription in self._by_topic.get(topic_for(m), ()) for m in subscription.mutations)
        self.unregister(subscription)
        if registered and subscription.expire is not None:
            subscription.expire(subscription)

    def count(self) -> int:
        return len({s for members in self._by_topic.values() for s in members})

    # -- events ---------------------------------------------------------------------------------

    def _on_message(self, topic: str, raw: bytes) -> None:
        # Events are rendered one after another by one task, so every subscriber sees them in
        # the order they were published; the pub/sub handler itself only enqueues.
        if topic not in self._by_topic:
            return
        if len(self._events) >= self.max_pending_events:
            log.warning("subscription event queue full (%d): dropping an event on %s", len(self._events), topic)
            return
        self._events.append((topic, raw))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="trellis-subscription-events")

    async def _work(self) -> None:
        events = self._events
        while events:
            topic, raw = events.popleft()
            batch = [raw]
            while events and events[0][0] == topic and len(batch) < EVENT_BATCH:
                batch.append(events.popleft()[1])
            try:
                await self._dispatch(topic, batch)
            except Exception:  # one bad event must not stop delivery of the next
                log.exception("delivering an event on %s failed", topic)

    async def close(self) -> None:
        for handle in self._topic_handles.values():
            handle()
        self._topic_handles.clear()
        self._by_topic.clear()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _dispatch(self, topic: str, raws: list[bytes]) -> None:
        members = self._by_topic.get(topic)
        if not members:
            return
        events: list[ChangeEvent] = []
        for raw in raws:
            try:
                events.append(ChangeEvent.decode(raw))
            except (ValueError, KeyError, TypeError):
                log.warning("undecodable change event on %s", topic)
        now = self.clock()
        listening: list[Subscription] = []
        for subscription in tuple(members):
            if subscription.expires_at is not None and now >= subscription.expires_at:
                self._expire(subscription)
            else:
                listening.append(subscription)
        if len(events) == 1:
            for group, payload in await self._rendered(listening, events[0]):
                await self._deliver(group, payload)
            return
        plans: list[dict[Subscription, bytes]] = []
        for event in events:
            plan: dict[Subscription, bytes] = {}
            for group, payload in await self._rendered(listening, event):
                plan.update(dict.fromkeys(group, payload))
            plans.append(plan)
        await self._deliver_several(listening, plans)

    async def _rendered(self, listening: list[Subscription], event: ChangeEvent
                        ) -> list[tuple[list[Subscription], bytes]]:
        """The subscriptions this event reaches, in groups that receive the same bytes."""
        groups: dict[str, list[Subscription]] = {}
        item = event.item
        for subscription in listening:
            if subscription.unfiltered or self._passes(subscription, item):
                group = groups.get(subscription.group_key)
                if group is None:
                    groups[subscription.group_key] = [subscription]
                else:
                    group.append(subscription)
        return [(group, await self._render(group[0], event)) for group in groups.values()]

    @staticmethod
    async def _deliver(group: list[Subscription], payload: bytes) -> None:
        for start in range(0, len(group), DELIVERY_SLICE):
            if start:
                await asyncio.sleep(0)  # let the loop serve others (see the module docstring)
            for subscription in group[start:start + DELIVERY_SLICE]:
                subscription.deliver(subscription, payload)

    @staticmethod
    async def _deliver_several(listening: list[Subscription], plans: list[dict[Subscription, bytes]]) -> None:
        for start in range(0, len(listening), DELIVERY_SLICE):
            if start:
                await asyncio.sleep(0)
            for subscription in listening[start:start + DELIVERY_SLICE]:
                payloads = [payload for plan in plans if (payload := plan.get(subscription)) is not None]
                if len(payloads) == 1:
                    subscription.deliver(subscription, payloads[0])
                elif payloads and subscription.deliver_many is not None:
                    subscription.deliver_many(subscription, payloads)
                else:
                    for payload in payloads:
                        subscription.deliver(subscription, payload)

    def _passes(self, subscription: Subscription, item: Mapping[str, Any]) -> bool:
        predicate = subscription.access.predicate
        if predicate is not None and not matches(item, predicate):
            return False  # another owner's row, whatever the filters say
        if subscription.enhanced_filter is not None:
            return subscription.enhanced_filter.matches(item)
        for name, value in subscription.arguments.items():
            if value is None:
                continue
            if name == "filter" and self.model_of_field.get(subscription.field_name):
                if not matches(item, value):
                    return False
            elif item.get(name) != value:
                return False
        return True

    async def _render(self, first: Subscription, event: ChangeEvent) -> bytes:
        """The payload of ``event`` for ``first``'s group, executed and serialised once."""
        per_event = first.executor.build_per_event_executor({first.field_name: dict(event.item)})
        # A fresh scope per event: batch loaders must not serve one event's rows to the next.
        per_event.context_value = RequestScope(runtime=self.resolvers, request=RequestInfo(headers=first.headers),
                                               identity=first.identity.appsync, caller=first.identity)
        result = execute_subscription_event(per_event)
        if is_awaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [format_error(e, False) for e in result.errors]
        return json.dumps(body, separators=(",", ":")).encode()
