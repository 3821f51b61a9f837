"""uvicorn's WebSocket protocol (sans-I/O ``websockets``), plus a direct text-frame writer.

See ``app/realtime/frames.py`` for why. The writer makes the checks uvicorn makes before its own
writes — the connection is open (``websockets``' state: handshake answered with 101, no close sent
or received), the transport is not closing and has not asked us to pause — and offers itself only
when the handshake negotiated no extension (a compressed connection needs ``websockets``' framing).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from app.realtime.frames import FRAMES_EXTENSION, text_frame


class DirectFrameWriter:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def _open(self) -> bool:
        protocol = self._protocol
        return (protocol.conn.state is State.OPEN and protocol.writable.is_set()
                and not protocol.transport.is_closing())

    def write_text(self, data: bytes) -> bool:
        if not self._open():
            return False
        self._protocol.transport.write(text_frame(data))
        return True

    def write_texts(self, frames: list[bytes]) -> bool:
        if not self._open():
            return False
        self._protocol.transport.write(b"".join([text_frame(frame) for frame in frames]))
        return True


class TrellisWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The scope exists only for a handshake that will be accepted; the ASGI task that reads it
        # was created but has not run yet, so the extension is there before the app looks.
        scope = getattr(self, "scope", None)
        if scope is not None and not self.conn.extensions:
            scope["extensions"][FRAMES_EXTENSION] = {"writer": DirectFrameWriter(self)}
