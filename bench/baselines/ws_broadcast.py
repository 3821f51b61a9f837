"""Baseline for the fan-out benchmark: a bare Starlette WebSocket broadcast, no GraphQL.

It speaks just enough of the AppSync real-time protocol for the same client to use it
(``connection_init`` → ``connection_ack``, ``start`` → ``start_ack``, then ``data`` frames), and
``POST /publish`` sends the posted item, wrapped as a subscription payload, to every subscriber:
serialised once, one frame per subscriber. No auth, no filtering, no validation.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

subscribers: dict[tuple[int, str], WebSocket] = {}


async def realtime(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-ws")
    mine: list[tuple[int, str]] = []
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "connection_init":
                await websocket.send_text('{"type":"connection_ack","payload":{"connectionTimeoutMs":300000}}')
            elif kind == "start":
                key = (id(websocket), str(message["id"]))
                subscribers[key] = websocket
                mine.append(key)
                await websocket.send_text(json.dumps({"type": "start_ack", "id": message["id"]}))
    except WebSocketDisconnect:
        pass
    finally:
        for key in mine:
            subscribers.pop(key, None)


async def publish(request: Request) -> Response:
    item = json.loads(await request.body())
    payload = json.dumps({"data": {"onCreateTick": item}}, separators=(",", ":"))
    for (_, subscription_id), websocket in list(subscribers.items()):
        await websocket.send_text(f'{{"type":"data","id":"{subscription_id}","payload":{payload}}}')
    return Response(b'{"ok":true}', media_type="application/json")


app = Starlette(routes=[WebSocketRoute("/graphql/realtime", realtime), Route("/publish", publish, methods=["POST"])])
