"""The subscription engine below the WebSocket protocols: filters, auth at start and per event,
payloads through the subscription's own selection, and one render per group of alike subscribers."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.execution import GraphQLRequest
from app.pubsub import MemoryPubSub
from app.realtime.events import ChangePublisher
from app.realtime.subscriptions import DELIVERY_SLICE, SubscriptionEngine, SubscriptionError
from auth.field_rules import FieldUnauthorizedError
from auth.modes import AuthMode, Identity

SCHEMA = """
type Item @model {
  id: ID!
  name: String!
  colour: String
  size: Int
  secret: String @aws_iam
  parts: [Part] @hasMany
}
type Part @model { id: ID! label: String! }
type Memo @model @auth(rules: [{allow: owner}, {allow: public, operations: [get, list]}]) { id: ID! text: String! }
"""

API = Identity(AuthMode.API_KEY)


def pool_user(name: str) -> Identity:
    claims = {"sub": f"sub-{name}", "cognito:username": name}
    return Identity(AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": f"sub-{name}", "claims": claims, "username": name})


class Received:
    def __init__(self) -> None:
        self.payloads: list[tuple[str, dict]] = []
        self.raw: list[bytes] = []

    def __call__(self, subscription, payload: bytes) -> None:
        self.raw.append(payload)
        self.payloads.append((subscription.id, json.loads(payload)))


@pytest.fixture
async def engine_and_client(make_client, tmp_path):
    config = '[auth]\ndefault = "API_KEY"\nadditional = ["AMAZON_COGNITO_USER_POOLS"]\n' \
             '[auth.cognito_user_pools]\nissuer = "https://pool.example"\n'
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", schema=SCHEMA, config=config)
    runtime = client.runtime
    pubsub = MemoryPubSub()
    runtime.resolvers.change_listeners.append(ChangePublisher(pubsub))
    operations = runtime.loaded.model.operations
    model_of_field = {c.split(".", 1)[1]: op.model for c, op in operations.items() if c.startswith("Subscription.")}
    engine = SubscriptionEngine(runtime.executor, runtime.resolvers, runtime.field_guards, runtime.loaded.model.models,
                                model_of_field, pubsub)
    yield engine, client
    await engine.close()


async def start(engine, query: str, variables=None, identity: Identity = API, sid: str = "s1") -> Received:
    received = Received()
    subscription = engine.prepare(sid, GraphQLRequest(query, variables), identity, received)
    await engine.register(subscription)
    return received


async def settle(engine) -> None:
    while engine._worker is not None and not engine._worker.done():
        await engine._worker


async def test_a_mutation_reaches_subscribers_through_their_own_selection(engine_and_client):
    engine, client = engine_and_client
    received = await start(engine, "subscription { onCreateItem { name colour size } }")
    await client.data('mutation { createItem(input: {name: "kite", colour: "red", size: 3}) { id } }')
    await settle(engine)
    # The mutation selected only id; the subscriber gets every field it asked for.
    assert received.payloads == [("s1", {"data": {"onCreateItem": {"name": "kite", "colour": "red", "size": 3}}})]


async def test_the_model_filter_argument_selects_events(engine_and_client):
    engine, client = engine_and_client
    red = await start(engine, 'subscription { onCreateItem(filter: {colour: {in: ["red", "pink"]}}) { name } }')
    big = await start(engine, "subscription { onCreateItem(filter: {size: {gt: 5}}) { name } }", sid="s2")
    for name, colour, size in (("a", "red", 1), ("b", "blue", 9), ("c", "pink", 7)):
        await client.data("mutation($n: String!, $c: String, $s: Int) { createItem(input: {name: $n, colour: $c, "
                          "size: $s}) { id } }", {"n": name, "c": colour, "s": size})
    await settle(engine)
    assert [p["data"]["onCreateItem"]["name"] for _, p in red.payloads] == ["a", "c"]
    assert [p["data"]["onCreateItem"]["name"] for _, p in big.payloads] == ["b", "c"]


async def test_alike_subscribers_share_one_rendered_payload(engine_and_client):
    engine, client = engine_and_client
    received = Received()
    for i in range(50):
        await engine.register(engine.prepare(f"s{i}", GraphQLRequest("subscription { onCreateItem { name } }"),
                                             API, received))
    await client.data('mutation { createItem(input: {name: "x"}) { id } }')
    await settle(engine)
    assert len(received.raw) == 50
    assert len({id(raw) for raw in received.raw}) == 1  # the very same bytes object: serialised once


async def test_a_large_fan_out_lets_the_loop_run_between_slices_and_keeps_event_order(engine_and_client):
    engine, client = engine_and_client
    count = DELIVERY_SLICE * 2 + 10
    order: list[tuple[str, str]] = []  # (subscription id or "loop", item name)

    def deliver(subscription, payload: bytes) -> None:
        order.append((subscription.id, json.loads(payload)["data"]["onCreateItem"]["name"]))

    for i in range(count):
        await engine.register(engine.prepare(f"s{i}", GraphQLRequest("subscription { onCreateItem { name } }"),
                                             API, deliver))
    ticks = 0

    async def other_work() -> None:  # what the loop also has to serve: requests, other sockets
        nonlocal ticks
        while True:
            ticks += 1
            order.append(("loop", ""))
            await asyncio.sleep(0)

    other = asyncio.ensure_future(other_work())
    for name in ("first", "second"):
        await client.data(f'mutation {{ createItem(input: {{name: "{name}"}}) {{ id }} }}')
    await settle(engine)
    other.cancel()
    names = [name for who, name in order if who != "loop"]
    assert names == ["first"] * count + ["second"] * count  # every subscriber, events in publish order
    first_event = [who for who, _ in order[:order.index((f"s{count - 1}", "first")) + 1]]
    first_delivery = first_event.index("s0")
    # The other work ran between the first and the last delivery of one event, once per slice.
    assert first_event[first_delivery:].count("loop") >= 2


async def test_events_queued_together_reach_each_subscriber_in_one_call_in_publish_order(engine_and_client):
    engine, _client = engine_and_client
    calls: dict[str, list[list[str]]] = {}

    def record(subscription, payloads: list[bytes]) -> None:
        names = [next(iter(json.loads(p)["data"].values()))["name"] for p in payloads]
        calls.setdefault(subscription.id, []).append(names)

    def one(subscription, payload: bytes) -> None:
        record(subscription, [payload])

    for sid, query, variables, many in [
        ("all", "subscription { onCreateItem { name } }", None, record),
        ("red", "subscription($f: ModelSubscriptionItemFilterInput) { onCreateItem(filter: $f) { name } }",
         {"f": {"colour": {"eq": "red"}}}, record),
        ("plain", "subscription { onCreateItem { name } }", None, None),  # no deliver_many: one call per event
        ("updates", "subscription { onUpdateItem { name } }", None, record),
    ]:
        subscription = engine.prepare(sid, GraphQLRequest(query, variables), API, one, deliver_many=many)
        await engine.register(subscription)
    publisher = ChangePublisher(engine.pubsub)
    # Published back to back, before the engine's worker runs: they queue up together.
    await publisher("createItem", "Item", {"id": "1", "name": "a", "colour": "red"})
    await publisher("createItem", "Item", {"id": "2", "name": "b", "colour": "blue"})
    await publisher("createItem", "Item", {"id": "3", "name": "c", "colour": "red"})
    await publisher("updateItem", "Item", {"id": "1", "name": "a2", "colour": "red"})
    await publisher("createItem", "Item", {"id": "4", "name": "d", "colour": "red"})
    await settle(engine)
    assert calls["all"] == [["a", "b", "c"], ["d"]]  # a topic change ends a batch: publish order holds
    assert calls["red"] == [["a", "c"], ["d"]]  # each event filtered on its own
    assert calls["plain"] == [["a"], ["b"], ["c"], ["d"]]
    assert calls["updates"] == [["a2"]]


async def test_relations_in_the_selection_are_loaded_per_event(engine_and_client):
    engine, client = engine_and_client
    received = await start(engine, "subscription { onUpdateItem { name parts { items { label } } } }")
    item = (await client.data('mutation { createItem(input: {name: "bike"}) { id } }'))["createItem"]
    await client.data('mutation($i: ID!) { createPart(input: {label: "wheel", itemPartsId: $i}) { id } }',
                      {"i": item["id"]})
    await client.data('mutation($i: ID!) { updateItem(input: {id: $i, name: "bicycle"}) { id } }', {"i": item["id"]})
    await settle(engine)
    assert received.payloads[0][1] == {"data": {"onUpdateItem": {"name": "bicycle",
                                                                 "parts": {"items": [{"label": "wheel"}]}}}}


async def test_a_field_the_caller_may_not_read_is_null_with_an_error_in_the_event(engine_and_client):
    engine, client = engine_and_client
    received = await start(engine, "subscription { onCreateItem { name secret } }")
    await client.data('mutation { createItem(input: {name: "n", secret: "s"}) { id } }')
    await settle(engine)
    payload = received.payloads[0][1]
    assert payload["data"] == {"onCreateItem": {"name": "n", "secret": None}}
    assert payload["errors"][0]["errorType"] == "Unauthorized"


async def test_owners_receive_only_their_own_rows(engine_and_client):
    engine, _client = engine_and_client
    alice = await start(engine, "subscription { onCreateMemo { text owner } }", identity=pool_user("alice"))
    bob = await start(engine, "subscription { onCreateMemo { text owner } }", identity=pool_user("bob"), sid="s2")
    publisher = engine.pubsub
    from app.realtime.events import ChangeEvent, topic_for

    for owner, text in (("sub-alice::alice", "for alice"), ("sub-bob::bob", "for bob")):
        event = ChangeEvent("createMemo", "Memo", {"id": text, "text": text, "owner": owner})
        await publisher.publish(topic_for("createMemo"), event.encode())
    await settle(engine)
    assert [p["data"]["onCreateMemo"]["text"] for _, p in alice.payloads] == ["for alice"]
    assert [p["data"]["onCreateMemo"]["text"] for _, p in bob.payloads] == ["for bob"]


async def test_a_subscription_its_rules_do_not_grant_is_refused_at_start(engine_and_client):
    engine, _client = engine_and_client
    with pytest.raises(FieldUnauthorizedError):
        engine.prepare("s1", GraphQLRequest("subscription { onCreateMemo { text } }"), API, Received())
    with pytest.raises(SubscriptionError):
        engine.prepare("s1", GraphQLRequest("query { listItems { items { id } } }"), API, Received())
    with pytest.raises(SubscriptionError):
        engine.prepare("s1", GraphQLRequest("subscription { onCreateItem { nope } }"), API, Received())


async def test_a_subscription_whose_credential_expired_gets_nothing_more(engine_and_client):
    engine, client = engine_and_client
    now = [1000.0]
    engine.clock = lambda: now[0]
    expired: list[str] = []
    received = Received()
    subscription = engine.prepare("s1", GraphQLRequest("subscription { onCreateItem { name } }"), API, received,
                                  expire=lambda s: expired.append(s.id), expires_at=1100.0)
    await engine.register(subscription)
    await client.data('mutation { createItem(input: {name: "before"}) { id } }')
    await settle(engine)
    now[0] = 1100.0
    await client.data('mutation { createItem(input: {name: "after"}) { id } }')
    await settle(engine)
    assert [p["data"]["onCreateItem"]["name"] for _, p in received.payloads] == ["before"]
    assert expired == ["s1"]
    assert engine.count() == 0


CUSTOM_SCHEMA = """
type Alert { id: ID! level: Int! text: String! source: String }
type Query { ping: String }
type Mutation { raise(level: Int!, text: String!): Alert }
type Subscription { onAlert(level: Int): Alert @aws_subscribe(mutations: ["raise"]) }
"""


def raise_alert(ctx):
    # The resolver returns more than the mutation selects; subscribers may ask for all of it.
    return {"id": "a1", "level": ctx.arguments["level"], "text": ctx.arguments["text"], "source": "pager"}


async def test_a_custom_mutation_publishes_its_whole_result_and_arguments_filter(make_client, tmp_path):
    config = '[resolvers."Mutation.raise"]\nhandler = "tests.test_subscription_engine:raise_alert"\n'
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", schema=CUSTOM_SCHEMA, config=config)
    engine = client.runtime.subscriptions
    severe = await start(engine, "subscription { onAlert(level: 3) { text source } }")
    every = await start(engine, "subscription { onAlert { level } }", sid="s2")
    await client.data('mutation { raise(level: 1, text: "minor") { id } }')
    await client.data('mutation { raise(level: 3, text: "major") { id } }')
    await settle(engine)
    assert [p for _, p in severe.payloads] == [{"data": {"onAlert": {"text": "major", "source": "pager"}}}]
    assert [p["data"]["onAlert"]["level"] for _, p in every.payloads] == [1, 3]


def test_aws_subscribe_naming_a_missing_mutation_is_a_schema_problem(tmp_path):
    from app.errors import ConfigError
    from app.runtime import build
    from app.settings import load_settings

    schema = tmp_path / "schema.graphql"
    schema.write_text(CUSTOM_SCHEMA.replace('mutations: ["raise"]', 'mutations: ["nope"]'))
    with pytest.raises(ConfigError) as caught:
        build(load_settings(schema, environ={}))
    assert any("'nope'" in p.message for p in caught.value.problems)


class SlowSubscribePubSub(MemoryPubSub):
    """A broker whose SUBSCRIBE takes a moment, as Redis's does."""

    async def subscribe(self, topic, handler):
        import asyncio

        await asyncio.sleep(0.01)
        return await super().subscribe(topic, handler)


async def test_subscriptions_started_together_subscribe_their_topic_once(engine_and_client):
    import asyncio

    engine, client = engine_and_client
    engine.pubsub = pubsub = SlowSubscribePubSub()
    client.runtime.resolvers.change_listeners.append(ChangePublisher(pubsub))
    received = Received()
    subscriptions = [engine.prepare(f"s{i}", GraphQLRequest("subscription { onCreateItem { name } }"), API,
                                    received) for i in range(5)]
    await asyncio.gather(*(engine.register(s) for s in subscriptions))
    await client.data('mutation { createItem(input: {name: "once"}) { id } }')
    await settle(engine)
    assert len(received.payloads) == 5  # one each, not one per concurrent SUBSCRIBE


TICKETS_SCHEMA = """
type Ticket { id: ID! severity: Int! priority: String group: String tags: [String] }
type Query { ping: String }
type Mutation { createTicket(severity: Int!, priority: String, group: String, tags: [String]): Ticket }
type Subscription {
  onSpecialTicket: Ticket @aws_subscribe(mutations: ["createTicket"])
  onGroupTicket(group: String!): Ticket @aws_subscribe(mutations: ["createTicket"])
  onBadFilter: Ticket @aws_subscribe(mutations: ["createTicket"])
}
"""
TICKETS_CONFIG = "".join(
    f'[resolvers."{coordinate}"]\nhandler = "tests.test_subscription_engine:{name}"\n'
    for coordinate, name in (("Mutation.createTicket", "create_ticket"), ("Subscription.onSpecialTicket", "special"),
                             ("Subscription.onGroupTicket", "group_only"), ("Subscription.onBadFilter", "bad_filter"))
)
TICKET_COUNTER = [0]


def create_ticket(ctx):
    TICKET_COUNTER[0] += 1
    return {"id": f"t{TICKET_COUNTER[0]}", **ctx.arguments}


def special(ctx):
    # AppSync's documented example: severe and urgent, or anything for security.
    ctx.extensions.set_subscription_filter({"filterGroup": [
        {"filters": [{"fieldName": "severity", "operator": "ge", "value": 7},
                     {"fieldName": "priority", "operator": "in", "value": ["high", "highest"]}]},
        {"filters": [{"fieldName": "group", "operator": "eq", "value": "security"}]},
    ]})


def group_only(ctx):
    from resolvers import util

    if ctx.arguments["group"] == "payroll" and not ctx.identity:
        util.error("Not Authorized to subscribe to payroll tickets", "Unauthorized")
    ctx.extensions.set_subscription_filter(util.to_subscription_filter(
        {"group": {"eq": ctx.arguments["group"]}, "or": [{"severity": {"gt": 5}}, {"tags": {"containsAny": ["vip"]}}]}
    ))


def bad_filter(ctx):
    ctx.extensions.set_subscription_filter({"filterGroup": [{"filters": [{"fieldName": "x", "operator": "like"}]}]})


@pytest.fixture
async def tickets(make_client, tmp_path):
    return await make_client(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", schema=TICKETS_SCHEMA,
                               config=TICKETS_CONFIG)


CREATE_TICKET = ("mutation($s: Int!, $p: String, $g: String, $t: [String]) "
                 "{ createTicket(severity: $s, priority: $p, group: $g, tags: $t) { id } }")


async def test_a_subscription_resolver_sets_an_enhanced_filter_groups_ord_filters_anded(tickets):
    engine = tickets.runtime.subscriptions
    special_ = await start(engine, "subscription { onSpecialTicket { severity priority group } }")
    ops = await start(engine, 'subscription { onGroupTicket(group: "ops") { severity group tags } }', sid="s2")
    for severity, priority, group, tags in ((9, "high", "ops", None), (9, "low", "ops", ["vip"]),
                                            (2, "low", "security", None), (3, "highest", "ops", None),
                                            (8, "high", "sales", None)):
        await tickets.data(CREATE_TICKET, {"s": severity, "p": priority, "g": group, "t": tags})
    await settle(engine)
    assert [(p["data"]["onSpecialTicket"]["severity"], p["data"]["onSpecialTicket"]["group"])
            for _, p in special_.payloads] == [(9, "ops"), (2, "security"), (8, "sales")]
    # ops only, and severe or tagged vip; the group argument is compared because the filter says so.
    assert [(p["data"]["onGroupTicket"]["severity"], p["data"]["onGroupTicket"]["tags"]) for _, p in ops.payloads] \
        == [(9, None), (9, ["vip"])]


async def test_a_subscription_resolver_can_refuse_and_a_bad_filter_is_refused(tickets):
    from app.errors import ResolverError, ValidationFailedError

    engine = tickets.runtime.subscriptions
    refused = engine.prepare("s1", GraphQLRequest('subscription { onGroupTicket(group: "payroll") { id } }'), API,
                             Received())
    with pytest.raises(ResolverError) as caught:
        await engine.register(refused)
    assert caught.value.error_type == "Unauthorized"
    bad = engine.prepare("s2", GraphQLRequest("subscription { onBadFilter { id } }"), API, Received())
    with pytest.raises(ValidationFailedError, match="operator 'like'"):
        await engine.register(bad)
    assert engine.count() == 0


def test_enhanced_filter_operators_and_paths():
    from app.realtime.filters import parse_filter

    def holds(operator, value, item):
        return parse_filter({"filterGroup": [{"filters": [
            {"fieldName": "a.b", "operator": operator, "value": value}]}]}).matches({"a": item})

    assert holds("eq", 3, {"b": 3}) and not holds("eq", 3, {"b": "3"})
    assert holds("ne", 3, {}) and holds("between", [1, 5], {"b": 5}) and not holds("between", [1, 5], {"b": 6})
    assert holds("beginsWith", "ab", {"b": "abc"}) and not holds("beginsWith", "ab", {"b": 1})
    assert holds("contains", "x", {"b": ["x", "y"]}) and holds("notContains", "z", {"b": "xy"})
    assert holds("containsAny", ["q", "y"], {"b": ["x", "y"]}) and not holds("containsAny", ["q"], {"b": "q"})
    assert holds("in", [1, 2], {"b": 2}) and holds("notIn", [1, 2], {"b": 3})
    assert not holds("gt", 1, {"b": "text"}) and not holds("lt", 1, {})
    for bad in ({"filterGroup": []}, {"filterGroup": [{"filters": []}]},
                {"filterGroup": [{"filters": [{"fieldName": "a.b.c.d.e.f", "operator": "eq", "value": 1}]}]},
                {"filterGroup": [{"filters": [{"fieldName": "a", "operator": "in", "value": [1, 2, 3, 4, 5, 6]}]}]},
                {"filterGroup": [{"filters": [{"fieldName": "a", "operator": "between", "value": [1]}]}]}):
        with pytest.raises(Exception, match=r"filter|levels|at most|exactly"):
            parse_filter(bad)
