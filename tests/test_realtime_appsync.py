"""AppSync's real-time protocol at /graphql/realtime: gql's AppSync transport in every auth mode, and
raw frames for each error AppSync answers with."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.appsync_auth import (
    AppSyncApiKeyAuthentication,
    AppSyncIAMAuthentication,
    AppSyncJWTAuthentication,
)
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import API_KEY
from tests.realtime_support import ADMIN, REGION, LiveServer, frozen_clock, live_server, until_closed

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("appsync"), keepalive_seconds=0.2,
                     max_subscriptions_per_connection=3) as live:
        yield live


def api_key_auth(server: LiveServer, key: str = API_KEY) -> AppSyncApiKeyAuthentication:
    return AppSyncApiKeyAuthentication(host=server.host, api_key=key)


def transport(server: LiveServer, auth: Any) -> AppSyncWebsocketsTransport:
    return AppSyncWebsocketsTransport(url=server.ws("/graphql/realtime"), auth=auth)


async def collect(session: Any, query: str, count: int, variables: dict[str, Any] | None = None) -> list[Any]:
    results = []
    async for result in session.subscribe(gql(query), variable_values=variables):
        results.append(result)
        if len(results) == count:
            break
    return results


async def subscribe_then(server: LiveServer, auth: Any, query: str, titles: list[str],
                         colour: str | None = None) -> list[Any]:
    """Subscribe with gql, create notes over HTTP once the subscription is live, return what arrived."""
    before = server.subscription_count()
    async with Client(transport=transport(server, auth)) as session:
        task = asyncio.ensure_future(collect(session, query, len(titles)))
        await server.wait_for_subscriptions(before + 1)
        for title in titles:
            await server.create_note(title, colour)
        return await asyncio.wait_for(task, 10)


async def test_gql_subscribes_with_an_api_key(server):
    results = await subscribe_then(server, api_key_auth(server), "subscription { onCreateNote { title } }",
                                   ["first", "second"])
    assert results == [{"onCreateNote": {"title": "first"}}, {"onCreateNote": {"title": "second"}}]


async def test_gql_subscribes_with_iam_signing_the_connection_and_each_start(server):
    auth = AppSyncIAMAuthentication(host=server.host, region_name=REGION, credentials=Credentials(*ADMIN))
    results = await subscribe_then(server, auth, "subscription { onNoteForIam { title } }", ["signed"])
    assert results == [{"onNoteForIam": {"title": "signed"}}]


async def test_gql_subscribes_with_an_oidc_token_and_argument_filters_apply(server):
    auth = AppSyncJWTAuthentication(host=server.host, jwt=server.token())
    before = server.subscription_count()
    async with Client(transport=transport(server, auth)) as session:
        task = asyncio.ensure_future(collect(session, 'subscription { onNoteForOidc(colour: "red") { title } }', 1))
        await server.wait_for_subscriptions(before + 1)
        await server.create_note("blue one", "blue")
        await server.create_note("red one", "red")
        assert await asyncio.wait_for(task, 10) == [{"onNoteForOidc": {"title": "red one"}}]


async def test_a_bad_api_key_is_a_connection_error(server):
    with pytest.raises(TransportServerError, match="UnauthorizedException"):
        async with Client(transport=transport(server, api_key_auth(server, "da2-wrongwrongwrongwrongwrong"))):
            pass


async def test_a_subscription_the_mode_may_not_use_errors_alone_and_its_siblings_keep_working(server):
    before = server.subscription_count()
    async with Client(transport=transport(server, api_key_auth(server))) as session:
        sibling = asyncio.ensure_future(collect(session, "subscription { onCreateNote { title } }", 1))
        await server.wait_for_subscriptions(before + 1)
        with pytest.raises(TransportQueryError) as denied:
            await collect(session, "subscription { onNoteForIam { title } }", 1)  # an @aws_iam field
        assert denied.value.errors[0]["errors"][0]["errorType"] == "Unauthorized"  # gql keeps the payload
        await server.create_note("still here")
        assert await asyncio.wait_for(sibling, 10) == [{"onCreateNote": {"title": "still here"}}]


async def test_one_connection_carries_subscriptions_in_different_auth_modes(server):
    """The connection authenticates with an API key; each start brings its own credentials."""
    async with raw(server) as ws:
        await start(ws, "k", "subscription { onCreateNote { title } }")
        iam = AppSyncIAMAuthentication(host=server.host, region_name=REGION, credentials=Credentials(*ADMIN))
        await start(ws, "i", "subscription { onNoteForIam { title } }", auth=iam)
        oidc = AppSyncJWTAuthentication(host=server.host, jwt=server.token())
        await start(ws, "o", "subscription { onNoteForOidc { title } }", auth=oidc)
        await server.create_note("for all")
        got = {m["id"]: m["payload"]["data"] for m in [await receive(ws, "data") for _ in range(3)]}
        assert got == {"k": {"onCreateNote": {"title": "for all"}}, "i": {"onNoteForIam": {"title": "for all"}},
                       "o": {"onNoteForOidc": {"title": "for all"}}}


# -- raw frames -------------------------------------------------------------------------------------


def header_query(server: LiveServer, headers: dict[str, str] | None = None) -> str:
    encoded = base64.b64encode(json.dumps(headers or {"host": server.host, "x-api-key": API_KEY}).encode()).decode()
    return f"?header={encoded}&payload=e30="


class raw:
    """A plain WebSocket client, past connection_init/connection_ack."""

    def __init__(self, server: LiveServer, headers: dict[str, str] | None = None, init: bool = True) -> None:
        self.url = server.ws("/graphql/realtime") + header_query(server, headers)
        self.init = init
        self.server = server

    async def __aenter__(self) -> ClientConnection:
        self.connection = await connect(self.url, subprotocols=["graphql-ws"])
        if self.init:
            await self.connection.send(json.dumps({"type": "connection_init"}))
            ack = await receive(self.connection, "connection_ack")
            assert ack["payload"]["connectionTimeoutMs"] == self.server.runtime.settings.realtime.connection_timeout_ms
        return self.connection

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()


async def receive(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    """The next message (of ``kind``, skipping keep-alives)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["type"] == "ka" and kind != "ka":
            continue
        if kind is not None:
            assert message["type"] == kind, message
        return message


async def start(ws: ClientConnection, sid: str, query: str, auth: Any = None, ack: bool = True,
                variables: dict[str, Any] | None = None) -> dict[str, Any] | None:
    data = json.dumps({"query": query, "variables": variables or {}})
    payload: dict[str, Any] = {"data": data}
    if auth is not None:
        payload["extensions"] = {"authorization": auth.get_headers(data)}
    await ws.send(json.dumps({"id": sid, "type": "start", "payload": payload}))
    if ack:
        assert await receive(ws) == {"type": "start_ack", "id": sid}
        return None
    return await receive(ws)


async def test_the_header_subprotocol_authenticates_as_amplify_sends_it(server):
    header = base64.urlsafe_b64encode(json.dumps({"host": server.host, "x-api-key": API_KEY}).encode())
    protocol = "header-" + header.decode().rstrip("=")
    async with connect(server.ws("/graphql/realtime"), subprotocols=["graphql-ws", protocol]) as ws:
        assert ws.subprotocol == "graphql-ws"
        await ws.send(json.dumps({"type": "connection_init"}))
        await receive(ws, "connection_ack")
        await start(ws, "1", "subscription { onCreateNote { title } }")


async def test_keep_alives_follow_the_ack(server):
    async with raw(server) as ws:
        started = time.monotonic()
        assert (await receive(ws, "ka"))["type"] == "ka"
        assert await receive(ws, "ka") == {"type": "ka"}
        assert time.monotonic() - started < 2


async def test_stop_completes_and_no_more_data_arrives(server):
    async with raw(server) as ws:
        await start(ws, "a", "subscription { onCreateNote { title } }")
        await start(ws, "b", "subscription { onCreateNote { id } }")
        await ws.send(json.dumps({"type": "stop", "id": "a"}))
        assert await receive(ws) == {"type": "complete", "id": "a"}
        await server.create_note("after stop")
        assert (await receive(ws, "data"))["id"] == "b"


@pytest.mark.parametrize(("query", "error_type", "code"), [
    ("query { listNotes { items { id } } }", "UnsupportedOperation", 400),
    ('mutation { createNote(input: {title: "x"}) { id } }', "UnsupportedOperation", 400),
    ("subscription { onCreateNote { nope } }", "BadRequestException", 400),
    ("subscription { onNoteForIam { id } }", "Unauthorized", 401),
])
async def test_a_start_that_cannot_run_gets_an_appsync_error(server, query, error_type, code):
    async with raw(server) as ws:
        message = await start(ws, "x", query, ack=False)
        assert message is not None and message["type"] == "error" and message["id"] == "x"
        error = message["payload"]["errors"][0]
        assert (error["errorType"], error["errorCode"]) == (error_type, code)
        if error_type == "UnsupportedOperation":
            assert error["message"].endswith("not supported through the realtime channel")


async def test_a_start_with_credentials_that_do_not_verify_is_unauthorized(server):
    async with raw(server) as ws:
        message = await start(ws, "x", "subscription { onCreateNote { id } }", ack=False,
                              auth=AppSyncApiKeyAuthentication(host=server.host, api_key="da2-nopenopenopenopenopenope"))
        assert message is not None
        assert message["payload"]["errors"][0] | {"message": ""} == {
            "errorType": "UnauthorizedException", "errorCode": 401, "message": ""}


async def test_a_duplicated_id_and_too_many_subscriptions_are_refused(server):
    async with raw(server) as ws:
        await start(ws, "1", "subscription { onCreateNote { id } }")
        duplicate = await start(ws, "1", "subscription { onCreateNote { id } }", ack=False)
        assert duplicate is not None
        assert duplicate["payload"]["errors"][0]["errorType"] == "DuplicatedOperationError"
        assert duplicate["payload"]["errors"][0]["message"] == "Duplicated operation with id 1"
        await start(ws, "2", "subscription { onCreateNote { id } }")
        await start(ws, "3", "subscription { onCreateNote { id } }")
        fourth = await start(ws, "4", "subscription { onCreateNote { id } }", ack=False)  # the limit is 3 here
        assert fourth is not None and fourth["id"] == "4"
        assert fourth["payload"]["errors"][0]["errorType"] == "MaxSubscriptionsReachedError"


async def test_malformed_and_unknown_messages_are_errors_and_the_connection_stays(server):
    async with raw(server) as ws:
        await ws.send("{not json")
        malformed = await receive(ws, "error")
        assert "id" not in malformed
        assert malformed["payload"]["errors"][0]["errorType"] == "BadRequestException"
        await ws.send(json.dumps({"type": "publish", "id": "p"}))
        unknown = await receive(ws, "error")
        assert unknown["id"] == "p"
        assert unknown["payload"]["errors"][0] == {
            "errorType": "UnsupportedOperation", "message": "publish not supported through the realtime channel",
            "errorCode": 400}
        await start(ws, "ok", "subscription { onCreateNote { id } }")


@pytest.mark.parametrize("case", ["no_header", "bad_key", "bad_signature"])
async def test_connect_credentials_that_fail_are_a_connection_error_then_close(server, case):
    headers: dict[str, str] | None
    if case == "no_header":
        url = server.ws("/graphql/realtime")
    else:
        if case == "bad_key":
            headers = {"host": server.host, "x-api-key": "da2-wrongwrongwrongwrongwrong"}
        else:
            iam = AppSyncIAMAuthentication(host=server.host, region_name=REGION,
                                           credentials=Credentials(ADMIN[0], "x" * 40))
            headers = iam.get_headers()
        url = server.ws("/graphql/realtime") + header_query(server, headers)
    async with connect(url, subprotocols=["graphql-ws"]) as ws:
        message = await receive(ws)
        assert message["type"] == "connection_error"
        assert message["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        assert message["payload"]["errors"][0]["errorCode"] == 401
        with pytest.raises(websockets.ConnectionClosed):
            await receive(ws)
        assert ws.close_code == 1008


async def test_a_handshake_without_the_graphql_ws_subprotocol_is_refused(server):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server.ws("/graphql/realtime") + header_query(server)):
            pass
    assert refused.value.response.status_code == 403


async def test_a_cookie_bearing_handshake_from_a_foreign_origin_is_refused(server):
    url = server.ws("/graphql/realtime") + header_query(server)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(url, subprotocols=["graphql-ws"], origin="https://evil.example",
                           additional_headers={"cookie": "session=1"}):
            pass
    assert refused.value.response.status_code == 403
    # The same origin, or no cookie, is fine.
    async with connect(url, subprotocols=["graphql-ws"], origin=f"http://{server.host}",
                       additional_headers={"cookie": "session=1"}):
        pass
    async with connect(url, subprotocols=["graphql-ws"], origin="https://evil.example"):
        pass


async def test_no_event_is_delivered_after_the_token_expires(server):
    token_exp = time.time() + 600
    now = [token_exp - 10]
    auth = AppSyncJWTAuthentication(host=server.host, jwt=server.token(ttl=600))
    with frozen_clock(server, lambda: now[0]):
        async with raw(server) as ws:
            await start(ws, "short", "subscription { onNoteForOidc { title } }", auth=auth)
            await start(ws, "key", "subscription { onCreateNote { title } }")
            await server.create_note("in time")
            assert {(await receive(ws, "data"))["id"] for _ in range(2)} == {"short", "key"}
            now[0] = token_exp + 1
            await server.create_note("too late")
            expired = await receive(ws, "error")
            assert expired["id"] == "short"
            assert expired["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
            data = await receive(ws, "data")
            assert data["id"] == "key" and data["payload"]["data"]["onCreateNote"]["title"] == "too late"


async def test_a_subscription_ends_when_its_token_expires_even_with_no_event(server):
    auth = AppSyncJWTAuthentication(host=server.host, jwt=server.token(ttl=2))
    async with raw(server) as ws:
        await start(ws, "short", "subscription { onNoteForOidc { title } }", auth=auth)
        await start(ws, "key", "subscription { onCreateNote { title } }")
        started = time.monotonic()
        expired = await receive(ws, "error")  # nothing was published: the expiry itself ends it
        assert expired["id"] == "short" and time.monotonic() - started < 10
        assert expired["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        await server.create_note("after")
        data = await receive(ws, "data")
        assert data["id"] == "key" and data["payload"]["data"]["onCreateNote"]["title"] == "after"


async def test_idle_connections_are_closed(tmp_path):
    with live_server(tmp_path, connection_timeout_ms=300, keepalive_seconds=0.1) as idle_server:
        # No connection_init: a loaded machine may take longer than the 0.3 s limit to send one.
        async with raw(idle_server, init=False) as ws:
            started = time.monotonic()
            await until_closed(ws)
            assert ws.close_code == 1000 and time.monotonic() - started < 10  # 0.3 s idle limit; slack for a loaded CI machine


async def test_an_event_published_while_a_start_registers_arrives_after_its_start_ack(server):
    from app.realtime.events import ChangeEvent, topic_for

    engine = server.runtime.subscriptions
    original = engine.register

    async def slow_register(subscription):
        # As with Redis, where SUBSCRIBE is a round trip: an event lands before register returns.
        await original(subscription)
        event = ChangeEvent("createNote", "Note", {"id": "early", "title": "early bird"})
        await server.runtime.pubsub.publish(topic_for("createNote"), event.encode())
        await asyncio.sleep(0.05)  # the engine renders and delivers it meanwhile

    engine.register = slow_register
    try:
        async with raw(server) as ws:
            await start(ws, "s", "subscription { onCreateNote { title } }")  # asserts start_ack comes first
            data = await receive(ws, "data")
            assert data["id"] == "s" and data["payload"]["data"]["onCreateNote"] == {"title": "early bird"}
    finally:
        engine.register = original
