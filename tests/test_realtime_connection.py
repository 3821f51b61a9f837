"""What both WebSocket protocols share: a slow consumer never stalls the others (bounded queue, then 1013)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect

from app.errors import Problem
from app.realtime.config import RealtimeConfig, realtime_config
from app.realtime.connection import Connection, decode_header_json, origin_refused
from tests.conftest import API_KEY
from tests.realtime_support import LiveServer, live_server, until_closed

pytestmark = pytest.mark.timeout(30)


class FakeSocket:
    """A Starlette WebSocket stand-in: ``stuck`` never finishes a send, as a client that does not read."""

    def __init__(self, stuck: bool) -> None:
        self.stuck = stuck
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client = None
        self.scope: dict[str, Any] = {}  # no direct frame writer: every frame goes through send_text

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(text)

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.stuck:
            await asyncio.Event().wait()  # the close frame cannot be written either
        self.closed = (code, reason)
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})


class FakeEngine:
    def __init__(self) -> None:
        self.unregistered: list[Any] = []

    def unregister(self, subscription: Any) -> None:
        self.unregistered.append(subscription)


async def test_a_connection_that_does_not_read_is_closed_and_never_blocks_delivery(monkeypatch):
    monkeypatch.setattr("app.realtime.connection.CLOSE_TIMEOUT", 0.05)
    engine = FakeEngine()
    runtime: Any = SimpleNamespace(settings=SimpleNamespace(realtime=RealtimeConfig(send_queue=5)),
                                   subscriptions=engine)
    slow_socket, fast_socket = FakeSocket(stuck=True), FakeSocket(stuck=False)
    slow, fast = Connection(slow_socket, runtime), Connection(fast_socket, runtime)  # type: ignore[arg-type]
    slow.subscriptions["s"] = "slow subscription"  # type: ignore[assignment]

    async def ignore(_text: str) -> None:
        return None

    serving = [asyncio.ensure_future(c.serve(ignore)) for c in (slow, fast)]
    await asyncio.sleep(0)
    started = time.monotonic()
    for n in range(50):  # what the engine does per event: a plain call per subscriber, never awaited
        slow.send(f"event {n}")
        fast.send(f"event {n}")
        await asyncio.sleep(0)
    assert time.monotonic() - started < 0.5
    assert fast_socket.sent == [f"event {n}" for n in range(50)]
    assert slow.closing and engine.unregistered == ["slow subscription"] and not slow.subscriptions
    await asyncio.wait_for(serving[0], 2)  # the stuck close is abandoned; the handler returns
    fast.close(1000, "done")
    await asyncio.wait_for(serving[1], 2)
    assert fast_socket.closed == (1000, "done")


def test_header_json_is_read_in_either_base64_alphabet_with_or_without_padding():
    raw = json.dumps({"host": "h", "x-api-key": "k>>?"}).encode()
    standard = base64.b64encode(raw).decode()
    assert "+" in standard or "/" in standard
    for encoded in (standard, standard.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("="),
                    standard.replace("+", " ")):  # a query decoder that read '+' as a space
        assert decode_header_json(encoded) == {"host": "h", "x-api-key": "k>>?"}
    assert decode_header_json("not base64!") is None
    assert decode_header_json(base64.b64encode(b"[1]").decode()) is None  # not an object


# -- over real sockets ------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:
    with live_server(tmp_path, send_queue=8) as live:
        yield live


async def subscriber(server: LiveServer, small_buffer: bool = False) -> ClientConnection:
    sock = None
    if small_buffer:  # a client that stops reading: its kernel buffer fills fast
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(server.host.split(":")[1])))
    ws = await connect(server.ws("/graphql"), subprotocols=["graphql-transport-ws"], sock=sock, compression=None,
                       max_queue=1 if small_buffer else 64, max_size=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": API_KEY}}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    await ws.send(json.dumps({"id": "s", "type": "subscribe",
                              "payload": {"query": "subscription { onCreateNote { title body } }"}}))
    return ws


async def test_a_client_that_never_reads_does_not_delay_another(server):
    slow = await subscriber(server, small_buffer=True)
    fast = await subscriber(server)
    await server.wait_for_subscriptions(2)
    body = "x" * 250_000  # sent uncompressed: the kernel buffers fill after a few MB
    for n in range(60):
        await server.create_note(f"note {n}", body=body)
        message = json.loads(await asyncio.wait_for(fast.recv(), 2))  # promptly, every time
        assert message["payload"]["data"]["onCreateNote"]["title"] == f"note {n}"
        if server.subscription_count() == 1:
            break
    assert server.subscription_count() == 1  # the slow consumer's subscription was dropped
    await server.create_note("after")  # and the other goes on as before
    assert json.loads(await asyncio.wait_for(fast.recv(), 2))["payload"]["data"]["onCreateNote"]["title"] == "after"
    await until_closed(slow, 10)
    assert slow.close_code in (1013, 1006)  # 1013 if the close frame could still be written
    await fast.close()


def handshake(**headers: str) -> Any:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return WebSocket({"type": "websocket", "path": "/graphql", "headers": raw}, receive=None, send=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("headers", "allowed", "refused"), [
    ({"host": "api.example.com"}, (), False),  # no Origin: not a browser
    ({"host": "api.example.com", "origin": "https://evil.example"}, (), False),  # no cookie to ride on
    ({"host": "api.example.com", "origin": "https://api.example.com", "cookie": "s=1"}, (), False),
    ({"host": "api.example.com", "origin": "https://evil.example", "cookie": "s=1"}, (), True),
    ({"host": "api.example.com", "origin": "https://App.example.com/", "cookie": "s=1"},
     ("https://app.example.com",), False),
])
def test_a_foreign_origin_is_refused_only_when_a_cookie_could_authenticate(headers, allowed, refused):
    assert origin_refused(handshake(**headers), RealtimeConfig(allowed_origins=allowed)) is refused


def test_allowed_origins_are_read_from_the_realtime_table():
    problems: list[Problem] = []
    config = realtime_config({"allowed_origins": ["https://App.example.com/"]}, None, problems, None)
    assert config.allowed_origins == ("https://app.example.com",) and problems == []
    realtime_config({"allowed_origins": "https://app.example.com"}, None, problems, None)
    assert [p.message for p in problems] == ["realtime.allowed_origins must be a list of origins"]
