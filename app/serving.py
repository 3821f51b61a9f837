"""How uvicorn serves Trellis: the CLI and the tests' live servers use the same options."""

from __future__ import annotations

from typing import Any

from app.realtime.uvicorn_protocol import TrellisWebSocketProtocol


def uvicorn_options() -> dict[str, Any]:
    return {
        "ws": TrellisWebSocketProtocol,
        # No permessage-deflate: a subscription event is serialised once for many subscribers, and
        # compressing it once per connection would cost more than the whole fan-out (AppSync's
        # endpoint does not compress either); uncompressed frames are also what the direct frame
        # writer needs (app/realtime/frames.py).
        "ws_per_message_deflate": False,
    }
