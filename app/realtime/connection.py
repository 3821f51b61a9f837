"""What both WebSocket protocols share: one outgoing queue and writer per connection, timers, bookkeeping.

Sending never awaits. ``Connection.send_utf8`` writes a text frame straight onto the socket when
nothing is queued ahead of it and the transport takes it (``app/realtime/frames.py``); otherwise it
appends the frame to the connection's queue, which a single writer task drains through ASGI. So the
subscription engine's ``deliver`` (called for every subscriber of an event, one after another)
costs a buffered write or a deque append however slow the client is.

**Slow consumers.** Direct writes stop once the transport's buffer passes its high-water mark
(uvicorn pauses writing); from then on frames queue, and the queue holds at most
``[realtime] send_queue`` frames. The frame that would
overflow it marks the connection slow: its queue is dropped, every subscription on it is
unregistered (nothing more is rendered for it) and the socket is closed with ``1013 Try Again
Later`` — AppSync clients and graphql-ws reconnect and subscribe again. Other connections are never
affected: nothing in delivery waits on a socket. If the client does not even read the close frame,
the close is abandoned after ``CLOSE_TIMEOUT`` seconds and the handler returns all the same.

**Idle connections.** A connection with no subscriptions (and no operation running) that has
received no message for ``connection_timeout_ms`` is closed (``1000``, "Connection idle").

**Origins.** A browser sends its page's ``Origin`` with the handshake and also the site's cookies;
when the handshake carries a ``cookie`` header and an ``Origin`` that is neither the server's own
``Host`` nor in ``[realtime] allowed_origins``, the handshake is refused with HTTP 403 before the
socket opens (cross-site WebSocket hijacking). Non-browser clients send no ``Origin``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.websockets import WebSocket

from app.realtime.config import RealtimeConfig
from app.realtime.eager import start_eagerly
from app.realtime.frames import frame_writer
from app.realtime.subscriptions import Subscription, SubscriptionEngine
from app.runtime import Runtime
from auth.base import AuthRequest

log = logging.getLogger("trellis.realtime")

CLOSE_TIMEOUT = 2.0
SLOW_CONSUMER = (1013, "Try again later: messages were not read fast enough")
IDLE = (1000, "Connection idle")

def decode_header_json(value: str) -> dict[str, str] | None:
    """A base64 (standard or URL-safe, padded or not) JSON object of header names to values."""
    text = value.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}


def header_map(values: Mapping[str, str]) -> Headers:
    """A case-insensitive header mapping (what ``AuthRequest.headers`` is for HTTP requests)."""
    return Headers(raw=[(k.lower().encode("latin-1", "replace"), str(v).encode("latin-1", "replace"))
                        for k, v in values.items()])


def auth_request(websocket: WebSocket, headers: Mapping[str, str], *, method: str, path: str,
                 body: bytes = b"") -> AuthRequest:
    async def read_body() -> bytes:
        return body

    client = websocket.client
    return AuthRequest(method=method, path=path, query_string="", headers=headers, read_body=read_body,
                       source_ip=client.host if client else None)


def origin_refused(websocket: WebSocket, config: RealtimeConfig) -> bool:
    """A cookie-carrying handshake from a foreign browser origin (see the module docstring)."""
    origin = websocket.headers.get("origin")
    if origin is None or "cookie" not in websocket.headers:
        return False
    origin = origin.rstrip("/").lower()
    if origin in config.allowed_origins:
        return False
    host = (websocket.headers.get("host") or "").lower()
    return urlsplit(origin).netloc != host


class Connection:
    """One accepted socket: the outgoing queue, its writer, timers and the subscriptions on it."""

    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        assert runtime.subscriptions is not None
        self.websocket = websocket
        self.runtime = runtime
        self.config = runtime.settings.realtime
        self.engine: SubscriptionEngine = runtime.subscriptions
        self.subscriptions: dict[str, Subscription] = {}
        self.last_activity = time.monotonic()
        self._frames = frame_writer(websocket.scope)  # None off Trellis's uvicorn protocol
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._writer_idle = False  # the writer waits for work (so a frame may be sent directly)
        self._in_flight: asyncio.Future[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- sending --------------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def send(self, frame: str) -> None:
        self.send_utf8(frame.encode())

    def _nothing_ahead(self) -> bool:
        """No frame is queued or being sent: a new one may go out on this stack."""
        return not self._queue and self._in_flight is None and self._writer_idle

    def send_utf8_many(self, frames: list[bytes]) -> None:
        """Send text frames in order, with one write when they can go straight to the socket."""
        if (self._closing is None and self._frames is not None and self._nothing_ahead()
                and self._frames.write_texts(frames)):
            return
        for frame in frames:
            self.send_utf8(frame)

    def send_utf8(self, frame: bytes) -> None:
        """Send one text frame, given as UTF-8."""
        if self._closing is not None:
            return
        if len(self._queue) >= self.config.send_queue:
            log.warning("closing a slow WebSocket consumer: %d messages unsent", len(self._queue))
            self._queue.clear()
            self.drop_subscriptions()
            self._closing = SLOW_CONSUMER
            for stuck in (self._writer, self._in_flight):  # stuck in a send the client will never read
                if stuck is not None:
                    stuck.cancel()
            return
        if self._nothing_ahead():
            # Nothing ahead of this frame: write it now, or send it through ASGI on this stack (see
            # app/realtime/eager.py) when the direct writer is missing or refuses.
            if self._frames is not None and self._frames.write_text(frame):
                return
            try:
                self._in_flight = start_eagerly(self.websocket.send_text(frame.decode()))
            except Exception:  # the socket is gone (disconnected, closed): end the connection
                log.debug("WebSocket send failed; closing", exc_info=True)
                self._closing = (1006, "send failed")
                self._queue.clear()
                self._wakeup.set()
                return
            if self._in_flight is not None:
                self._wakeup.set()  # it waits on back-pressure: the writer sees it through
            return
        self._queue.append(frame)
        self._wakeup.set()

    def send_json(self, message: Mapping[str, Any]) -> None:
        self.send(json.dumps(message, separators=(",", ":")))

    def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        """Close after the queued frames (or at once, ``flush=False``); later sends are dropped."""
        if self._closing is not None:
            return
        if not flush:
            self._queue.clear()
        self._closing = (code, reason)
        self._wakeup.set()

    async def _write(self) -> None:
        while True:
            self._writer_idle = False
            if self._in_flight is not None:
                await self._in_flight  # an eager send that had to wait goes first
                self._in_flight = None
            while self._queue:
                await self.websocket.send_text(self._queue.popleft().decode())
            if self._closing is not None:
                return
            self._wakeup.clear()
            self._writer_idle = True
            await self._wakeup.wait()

    # -- subscriptions --------------------------------------------------------------------------

    def drop_subscriptions(self) -> None:
        for subscription in self.subscriptions.values():
            self.engine.unregister(subscription)
        self.subscriptions.clear()

    def remove(self, subscription_id: str) -> Subscription | None:
        subscription = self.subscriptions.pop(subscription_id, None)
        self.last_activity = time.monotonic()
        if subscription is not None:
            self.engine.unregister(subscription)
        return subscription

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the connection's life ------------------------------------------------------------------

    async def serve(self, handle: Callable[[str], Awaitable[None]],
                    timers: tuple[Callable[[], Awaitable[None]], ...] = ()) -> None:
        """Read and handle text frames until the client leaves or the connection is closed."""
        writer = self._writer = asyncio.ensure_future(self._write())
        reader = asyncio.ensure_future(self._read(handle))
        watchers = [asyncio.ensure_future(timer()) for timer in (self._idle, *timers)]
        try:
            done, _pending = await asyncio.wait([writer, reader], return_when=asyncio.FIRST_COMPLETED)
            if reader in done and not reader.cancelled() and reader.exception() is not None:
                log.error("WebSocket message handling failed", exc_info=reader.exception())
                self.close(1011, "Internal error", flush=False)
                await asyncio.wait([writer], timeout=CLOSE_TIMEOUT)
            if writer.done() and self._closing is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.websocket.close(*self._closing), CLOSE_TIMEOUT)
        finally:
            self.drop_subscriptions()
            for task in (writer, reader, *watchers, *self._tasks):
                task.cancel()
            await asyncio.gather(writer, reader, *watchers, *self._tasks, return_exceptions=True)

    async def _read(self, handle: Callable[[str], Awaitable[None]]) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if self._closing is not None:
                continue  # closing: what the client still sends is read and dropped
            self.last_activity = time.monotonic()
            text = message.get("text")
            if text is None:
                try:
                    text = (message.get("bytes") or b"").decode()
                except UnicodeDecodeError:
                    text = "\x00"  # not JSON: the protocol reports it
            await handle(text)

    async def _idle(self) -> None:
        timeout = self.config.connection_timeout_ms / 1000
        while True:
            idle_for = time.monotonic() - self.last_activity
            if idle_for >= timeout and not self.subscriptions and not self._tasks:
                self.close(*IDLE)
                return
            await asyncio.sleep(timeout - idle_for if idle_for < timeout else timeout)
