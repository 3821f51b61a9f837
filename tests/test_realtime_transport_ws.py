"""graphql-transport-ws at /graphql: gql's WebSocket transport, and raw frames for every close code."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import API_KEY
from tests.realtime_support import LiveServer, frozen_clock, live_server, until_closed

pytestmark = pytest.mark.timeout(30)
PROTOCOL = "graphql-transport-ws"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("transport"), init_timeout_ms=400,
                     max_subscriptions_per_connection=2) as live:
        yield live


def gql_transport(server: LiveServer, payload: dict[str, Any] | None = None) -> WebsocketsTransport:
    return WebsocketsTransport(url=server.ws("/graphql"), subprotocols=[PROTOCOL],
                               init_payload=payload if payload is not None else {"x-api-key": API_KEY})


async def test_gql_runs_queries_mutations_and_subscriptions_over_one_socket(server):
    before = server.subscription_count()
    async with Client(transport=gql_transport(server)) as session:
        async def first_event() -> Any:
            async for result in session.subscribe(gql("subscription { onCreateNote { title colour } }")):
                return result
            return None

        event = asyncio.ensure_future(first_event())
        await server.wait_for_subscriptions(before + 1)
        created = await session.execute(gql('mutation { createNote(input: {title: "ws", colour: "green"}) { title } }'))
        assert created == {"createNote": {"title": "ws"}}
        assert await asyncio.wait_for(event, 10) == {"onCreateNote": {"title": "ws", "colour": "green"}}
        listed = await session.execute(gql("{ listNotes { items { title } } }"))
        assert {"title": "ws"} in listed["listNotes"]["items"]


async def test_an_oidc_token_in_the_init_payload_authenticates(server):
    before = server.subscription_count()
    async with Client(transport=gql_transport(server, {"Authorization": server.token()})) as session:
        async def first_event() -> Any:
            async for result in session.subscribe(gql("subscription { onNoteForOidc { title } }")):
                return result
            return None

        event = asyncio.ensure_future(first_event())
        await server.wait_for_subscriptions(before + 1)
        await server.create_note("for oidc")
        assert await asyncio.wait_for(event, 10) == {"onNoteForOidc": {"title": "for oidc"}}
        with pytest.raises(TransportQueryError) as denied:  # listNotes is for the default mode only
            await session.execute(gql("{ listNotes { items { id } } }"))
        assert denied.value.errors[0]["errorType"] == "Unauthorized"


async def test_a_subscribe_that_cannot_start_gets_an_error_message_and_the_socket_stays(server):
    async with Client(transport=gql_transport(server)) as session:
        with pytest.raises(TransportQueryError) as denied:
            async for _ in session.subscribe(gql("subscription { onNoteForIam { id } }")):
                pass
        assert denied.value.errors[0]["errorType"] == "Unauthorized"
        assert await session.execute(gql("{ listNotes { items { id } } }"))


# -- raw frames -------------------------------------------------------------------------------------


async def opened(server: LiveServer, init: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 ack: bool = True) -> ClientConnection:
    ws = await connect(server.ws("/graphql"), subprotocols=[PROTOCOL], additional_headers=headers)
    if init is not None:
        await ws.send(json.dumps(init))
        if ack:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "connection_ack"}
    return ws


INIT = {"type": "connection_init", "payload": {"x-api-key": API_KEY}}


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    await until_closed(ws)
    return ws.close_code, ws.close_reason


async def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


def subscribe(sid: str, query: str) -> str:
    return json.dumps({"id": sid, "type": "subscribe", "payload": {"query": query}})


async def test_the_api_key_may_come_from_the_upgrade_headers(server):
    ws = await opened(server, {"type": "connection_init"}, headers={"x-api-key": API_KEY})
    await ws.send(subscribe("q", "{ listNotes { items { id } } }"))
    assert (await recv(ws))["type"] == "next"
    assert await recv(ws) == {"id": "q", "type": "complete"}
    await ws.close()


async def test_ping_is_answered_with_pong(server):
    ws = await opened(server, INIT)
    await ws.send(json.dumps({"type": "ping", "payload": {"n": 1}}))
    assert await recv(ws) == {"type": "pong", "payload": {"n": 1}}
    await ws.send(json.dumps({"type": "pong"}))  # unsolicited pongs are allowed and ignored
    await ws.close()


@pytest.mark.parametrize("frame", [
    "{not json",
    json.dumps({"type": "start", "id": "1"}),
    json.dumps({"id": "1", "type": "subscribe"}),
    json.dumps({"type": "subscribe", "payload": {"query": "{ listNotes { items { id } } }"}}),
    json.dumps({"type": "complete"}),
    json.dumps(["connection_init"]),
])
async def test_an_invalid_message_closes_with_4400(server, frame):
    ws = await opened(server, INIT)
    await ws.send(frame)
    code, _reason = await closed_with(ws)
    assert code == 4400


async def test_subscribe_before_the_ack_closes_with_4401(server):
    ws = await opened(server)
    await ws.send(subscribe("1", "subscription { onCreateNote { id } }"))
    assert await closed_with(ws) == (4401, "Unauthorized")


async def test_credentials_that_do_not_authenticate_close_with_4403(server):
    ws = await opened(server, {"type": "connection_init", "payload": {"x-api-key": "da2-nopenopenopenopenopenope"}},
                      ack=False)
    assert await closed_with(ws) == (4403, "Forbidden")
    ws = await opened(server, {"type": "connection_init"}, ack=False)  # no credential at all
    assert await closed_with(ws) == (4403, "Forbidden")


async def test_no_connection_init_in_time_closes_with_4408(server):
    ws = await opened(server)
    started = time.monotonic()
    assert await closed_with(ws) == (4408, "Connection initialisation timeout")
    assert time.monotonic() - started < 3


async def test_a_duplicate_subscription_id_closes_with_4409(server):
    ws = await opened(server, INIT)
    await ws.send(subscribe("dup", "subscription { onCreateNote { id } }"))
    await ws.send(subscribe("dup", "subscription { onCreateNote { title } }"))
    assert await closed_with(ws) == (4409, "Subscriber for dup already exists")


async def test_a_second_connection_init_closes_with_4429(server):
    ws = await opened(server, INIT)
    await ws.send(json.dumps(INIT))
    assert await closed_with(ws) == (4429, "Too many initialisation requests")


async def test_a_handshake_without_the_subprotocol_closes_with_4406(server):
    ws = await connect(server.ws("/graphql"))
    assert await closed_with(ws) == (4406, "Subprotocol not acceptable")


async def test_a_cookie_bearing_handshake_from_a_foreign_origin_is_refused(server):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(server.ws("/graphql"), subprotocols=[PROTOCOL], origin="https://evil.example",
                      additional_headers={"cookie": "session=1"})
    assert refused.value.response.status_code == 403


async def test_errors_complete_and_limits_per_operation(server):
    ws = await opened(server, INIT)
    await ws.send(subscribe("bad", "subscription { onCreateNote { nope } }"))
    invalid = await recv(ws)
    assert invalid["type"] == "error" and invalid["id"] == "bad"
    assert invalid["payload"][0]["errorType"] == "ValidationError"
    await ws.send(subscribe("a", "subscription { onCreateNote { title } }"))
    await ws.send(subscribe("b", "subscription { onCreateNote { id } }"))
    await ws.send(subscribe("c", "subscription { onCreateNote { id } }"))  # the limit is 2 here
    limited = await recv(ws)
    assert limited["id"] == "c" and limited["payload"][0]["errorType"] == "MaxSubscriptionsReachedError"
    await ws.send(json.dumps({"id": "b", "type": "complete"}))
    await server.create_note("only a")
    event = await recv(ws)
    assert event == {"id": "a", "type": "next", "payload": {"data": {"onCreateNote": {"title": "only a"}}}}
    await ws.close()


async def test_no_event_is_delivered_after_the_token_expires(server):
    token_exp = time.time() + 600
    now = [token_exp - 10]
    before = server.subscription_count()
    with frozen_clock(server, lambda: now[0]):
        ws = await opened(server, {"type": "connection_init", "payload": {"Authorization": server.token(ttl=600)}})
        await ws.send(subscribe("s", "subscription { onNoteForOidc { title } }"))
        await server.wait_for_subscriptions(before + 1)
        await server.create_note("in time")
        assert (await recv(ws))["payload"]["data"] == {"onNoteForOidc": {"title": "in time"}}
        now[0] = token_exp + 1
        await server.create_note("too late")
        expired = await recv(ws)
        assert expired["type"] == "error" and expired["id"] == "s"
        assert expired["payload"][0]["errorType"] == "UnauthorizedException"
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}  # no complete, no event: the next frame is the pong
        await ws.close()
