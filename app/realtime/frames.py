"""Text frames written straight to the socket: the fan-out's fast path.

An event reaches every subscriber as a WebSocket text frame of its own. Through ASGI each frame is
a ``websocket.send`` message — Starlette's state checks, uvicorn's awaitable ``send``, a
``websockets`` ``Frame`` object and its serialiser — about 20 µs a frame, which holds one process
near 40k deliveries/s. Yet a frame a server sends is never masked (RFC 6455 §5.1) and Trellis
negotiates no extension, so a text frame is a header of 2 to 10 bytes before the UTF-8 payload.

Trellis's uvicorn protocol (``app/realtime/uvicorn_protocol.py``) offers, through the ASGI scope
extension ``trellis.websocket.frames``, a ``FrameWriter`` that puts such a frame on the transport
while the connection is open and the transport is not pushing back; it refuses otherwise, and so
does a server without the extension (Starlette's TestClient, another ASGI server): the caller then
sends through ASGI as before. Both paths write in call order, so frames never overtake each other.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Protocol

FRAMES_EXTENSION = "trellis.websocket.frames"

_TEXT_FIN = 0x81  # FIN set, opcode 1 (text)
# Headers built without a tuple per frame (``bytes((a, b))`` would give the collector work per subscriber).
_SHORT_HEADERS = tuple(bytes((_TEXT_FIN, length)) for length in range(126))
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack


class FrameWriter(Protocol):
    def write_text(self, data: bytes) -> bool:
        """Write ``data`` (UTF-8) as one text frame now; ``False`` (nothing written) when it cannot."""

    def write_texts(self, frames: list[bytes]) -> bool:
        """Write each of ``frames`` as a text frame, in order, with one write to the socket."""


def text_frame(data: bytes) -> bytes:
    """An unmasked, unfragmented text frame carrying ``data``."""
    length = len(data)
    if length < 126:
        return _SHORT_HEADERS[length] + data
    if length < 0x10000:
        return _HEADER_16(_TEXT_FIN, 126, length) + data
    return _HEADER_64(_TEXT_FIN, 127, length) + data


def frame_writer(scope: Mapping[str, Any]) -> FrameWriter | None:
    """The connection's direct writer, if the server offers one."""
    extension = (scope.get("extensions") or {}).get(FRAMES_EXTENSION)
    if not isinstance(extension, Mapping):
        return None
    writer: FrameWriter | None = extension.get("writer")
    return writer
