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

    def write_text(self, data: bytes) -> bool:
        protocol = self._protocol
        if (protocol.conn.state is not State.OPEN or not protocol.writable.is_set()
                or protocol.transport.is_closing()):
            return False
        protocol.transport.write(text_frame(data))
        return True


class TrellisWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The scope exists only for a handshake that will be accepted; the ASGI task that reads it
        # was created but has not run yet, so the extension is there before the app looks.
        scope = getattr(self, "scope", None)
        if scope is not None and not self.conn.extensions:
            scope["extensions"][FRAMES_EXTENSION] = {"writer": DirectFrameWriter(self)}
