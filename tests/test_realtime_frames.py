"""The direct text-frame writer (app/realtime/frames.py): frames real clients read, in order with
what goes through ASGI, and offered only where writing them directly is safe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.realtime.frames import frame_writer, text_frame
from tests.live_server import serve_in_thread
from tests.server_process import free_port

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 300_001])
def test_a_text_frame_is_what_a_websocket_parser_reads(size):
    data = ("ü" * (size // 2) + "x" * (size % 2)).encode()
    reader = StreamReader()
    reader.feed_data(text_frame(data))
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (Opcode.TEXT, True, data)
    assert not reader.buffer  # the frame ends where its header says


class Recorder:
    """A WebSocket endpoint that writes frames directly and through ASGI, interleaved."""

    def __init__(self) -> None:
        self.offered: list[bool] = []
        self.after_close: list[bool] = []

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        writer = frame_writer(websocket.scope)
        self.offered.append(writer is not None)
        if writer is None:
            await websocket.send_text("no writer")
        else:
            assert writer.write_text(b"direct 1")
            await websocket.send_text("asgi 2")
            assert writer.write_text(("ü" * 40_000).encode())  # a 16-bit length
            assert writer.write_text(b"x" * 70_000)  # a 64-bit length
            await websocket.send_text("asgi 5")
            assert writer.write_texts([b"many 6", ("\u00fc" * 200).encode(), b"many 8"])  # one write, three frames
        await websocket.receive_text()  # the client's "bye"
        await websocket.close(1000)
        if writer is not None:
            self.after_close.append(writer.write_text(b"too late"))


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, int]]:
    recorder, port = Recorder(), free_port()
    with serve_in_thread(Starlette(routes=[WebSocketRoute("/ws", recorder.endpoint)]), port):
        yield recorder, port


async def test_direct_frames_reach_a_client_in_order_with_asgi_frames(recorder):
    endpoint, port = recorder
    async with connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_size=None) as ws:
        received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(8)]
        await ws.send("bye")
        await ws.wait_closed()
    assert received == ["direct 1", "asgi 2", "ü" * 40_000, "x" * 70_000, "asgi 5", "many 6", "ü" * 200, "many 8"]
    assert endpoint.offered == [True]
    assert ws.close_code == 1000
    await asyncio.sleep(0.1)
    assert endpoint.after_close == [False]  # a closed connection takes no direct frame


async def test_no_direct_writer_when_the_connection_is_compressed():
    endpoint, port = Recorder(), free_port()
    app: Any = Starlette(routes=[WebSocketRoute("/ws", endpoint.endpoint)])
    with serve_in_thread(app, port, ws_per_message_deflate=True):
        async with connect(f"ws://127.0.0.1:{port}/ws", compression="deflate") as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "no writer"
            await ws.send("bye")
        async with connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "direct 1"
            await ws.send("bye")
    assert endpoint.offered == [False, True]
