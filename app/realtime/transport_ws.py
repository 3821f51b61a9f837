"""The ``graphql-transport-ws`` protocol (enisdenjo/graphql-ws's PROTOCOL.md) at ``/graphql``.

For Apollo Client, urql and ``graphql-ws`` clients: queries and mutations run once (``next`` then
``complete``), subscriptions go through the subscription engine (``next`` per event).

Credentials: the upgrade request's own headers (``x-api-key``, ``Authorization``), overridden by
string entries of the ``connection_init`` payload (``{"x-api-key": ...}`` or ``{"Authorization":
...}``, or the same inside ``{"headers": {...}}``), authenticated as a request to ``/graphql``.

Close codes, as the protocol defines them:

=====  =====================================================================================
4400   a message that is not JSON, has an unknown ``type`` or lacks a required field
4401   ``subscribe`` before the server sent ``connection_ack``
4403   the ``connection_init`` credentials did not authenticate ("Forbidden")
4406   the client did not offer the ``graphql-transport-ws`` subprotocol
4408   no ``connection_init`` within ``[realtime] init_timeout_ms``
4409   ``subscribe`` with the id of an operation still running ("Subscriber for <id> already exists")
4429   a second ``connection_init`` ("Too many initialisation requests")
1013   the client did not read fast enough (see ``app.realtime.connection``)
=====  =====================================================================================

A ``subscribe`` that cannot start (invalid document, a field or ``@auth`` rule that denies the
caller, more than ``max_subscriptions_per_connection``) gets an ``error`` message with AppSync-shaped
errors and the socket stays open. When the credential that authorised a subscription expires, the
subscription gets an ``error`` (``UnauthorizedException``) and ends; as the protocol says, no
``complete`` follows an ``error``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from graphql import OperationType
from starlette.websockets import WebSocket

from app.error_format import INTERNAL_MESSAGE, format_error, format_trellis_error
from app.errors import TrellisError, UnauthorizedError
from app.execution import GraphQLRequest
from app.operation import execute_operation
from app.realtime.connection import Connection, auth_request, header_map, origin_refused
from app.realtime.subscriptions import Subscription
from app.runtime import Runtime
from auth.modes import Identity
from resolvers.context import RequestInfo

SUBPROTOCOL = "graphql-transport-ws"
log = logging.getLogger("trellis.realtime")


class _Invalid(Exception):
    """A message the protocol answers with ``4400``."""


def _string_entries(value: Any) -> dict[str, str]:
    return {str(k): v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}


class TransportConnection(Connection):
    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        super().__init__(websocket, runtime)
        self.identity: Identity | None = None
        self.init_received = False
        self.operations: dict[str, asyncio.Task[Any]] = {}  # queries and mutations under way

    async def open(self) -> None:
        websocket = self.websocket
        if origin_refused(websocket, self.config):
            await websocket.close(code=4403)  # before accept: an HTTP 403
            return
        offered = websocket.scope.get("subprotocols") or ()
        if SUBPROTOCOL not in offered:
            await websocket.accept()
            await websocket.close(4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await self.serve(self.handle, (self._init_timeout,))

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.config.init_timeout_ms / 1000)
        if not self.init_received:
            self.close(4408, "Connection initialisation timeout", flush=False)

    async def handle(self, text: str) -> None:
        try:
            await self._handle(text)
        except _Invalid as exc:
            self.close(4400, str(exc), flush=False)

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _Invalid("Invalid message received: not JSON") from exc
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _Invalid("Invalid message received: no type")
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if isinstance(message.get("payload"), dict):
                pong["payload"] = message["payload"]
            self.send_json(pong)
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            operation_id = message.get("id")
            if not isinstance(operation_id, str):
                raise _Invalid("Invalid message received: complete needs an id")
            self.remove(operation_id)
            task = self.operations.pop(operation_id, None)
            if task is not None:
                task.cancel()
        else:
            raise _Invalid(f"Invalid message received: unknown type {kind!r}")

    async def _init(self, payload: Any) -> None:
        if self.init_received:
            self.close(4429, "Too many initialisation requests", flush=False)
            return
        self.init_received = True
        if payload is not None and not isinstance(payload, dict):
            raise _Invalid("Invalid message received: connection_init payload must be an object")
        values = dict(self.websocket.headers.items())  # lower-case names
        for entries in ((payload or {}).get("headers"), payload):  # the payload's credentials win
            values.update({k.lower(): v for k, v in _string_entries(entries).items()})
        request = auth_request(self.websocket, header_map(values), method="POST", path="/graphql")
        try:
            self.identity = await self.runtime.authenticator.authenticate(request)
        except UnauthorizedError:
            self.close(4403, "Forbidden", flush=False)
            return
        self.send_json({"type": "connection_ack"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id:
            raise _Invalid("Invalid message received: subscribe needs an id")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise _Invalid("Invalid message received: subscribe needs payload.query")
        variables, operation_name = payload.get("variables"), payload.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            raise _Invalid("Invalid message received: variables must be an object")
        if operation_name is not None and not isinstance(operation_name, str):
            raise _Invalid("Invalid message received: operationName must be a string")
        if self.identity is None:
            self.close(4401, "Unauthorized", flush=False)
            return
        if operation_id in self.subscriptions or operation_id in self.operations:
            self.close(4409, f"Subscriber for {operation_id} already exists", flush=False)
            return
        extensions = payload.get("extensions")
        request = GraphQLRequest(payload["query"], variables, operation_name,
                                 extensions if isinstance(extensions, dict) else None)
        executor = self.runtime.executor
        prepared = executor.prepare(request.query)
        if prepared.document is None:
            self._error(operation_id, [format_error(e, self.runtime.settings.debug) for e in prepared.errors])
            return
        kind = executor.operation_type(prepared, request.operation_name)
        if kind is None or kind is OperationType.SUBSCRIPTION:
            self._start(operation_id, request, self.identity)
            if operation_id in self.subscriptions:
                try:
                    await self.engine.register(self.subscriptions[operation_id])  # the resolver may refuse
                except TrellisError as exc:
                    del self.subscriptions[operation_id]
                    self._error(operation_id, [format_trellis_error(exc)])
            return
        self.operations[operation_id] = self.spawn(self._run(operation_id, request, self.identity))

    def _start(self, operation_id: str, request: GraphQLRequest, identity: Identity) -> None:
        limit = self.config.max_subscriptions_per_connection
        if len(self.subscriptions) >= limit:
            self._error(operation_id, [format_trellis_error(TrellisError(
                f"Max number of {limit} subscriptions reached", error_type="MaxSubscriptionsReachedError"))])
            return
        prefix = ('{"id":' + json.dumps(operation_id) + ',"type":"next","payload":').encode()

        def deliver(_subscription: Subscription, payload: bytes) -> None:
            self.send_utf8(prefix + payload + b"}")

        def deliver_many(_subscription: Subscription, payloads: list[bytes]) -> None:
            self.send_utf8_many([prefix + payload + b"}" for payload in payloads])

        try:
            subscription = self.engine.prepare(operation_id, request, identity, deliver, self._expired,
                                               identity.expires_at, deliver_many)
        except TrellisError as exc:
            self._error(operation_id, [format_trellis_error(exc)])
            return
        self.subscriptions[operation_id] = subscription

    async def _run(self, operation_id: str, request: GraphQLRequest, identity: Identity) -> None:
        host = self.websocket.headers.get("host")
        info = RequestInfo(headers=self.websocket.headers, domain_name=host.split(":")[0] if host else None)
        debug = self.runtime.settings.debug
        try:
            prepared = self.runtime.executor.prepare(request.query)
            result = await execute_operation(self.runtime, prepared, request, info, identity)
            body: dict[str, Any] = {"data": result.data}
            if result.errors:
                body["errors"] = [format_error(e, debug) for e in result.errors]
        except Exception:  # a bug in Trellis: the client hears no detail
            log.exception("WebSocket operation %s failed", operation_id)
            self._error(operation_id, [format_trellis_error(TrellisError(INTERNAL_MESSAGE))])
            return
        finally:
            self.operations.pop(operation_id, None)
        self.send_json({"id": operation_id, "type": "next", "payload": body})
        self.send_json({"id": operation_id, "type": "complete"})

    def _error(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        self.send_json({"id": operation_id, "type": "error", "payload": errors})

    def _expired(self, subscription: Subscription) -> None:
        if self.subscriptions.get(subscription.id) is subscription:
            del self.subscriptions[subscription.id]
            self._error(subscription.id, [format_trellis_error(UnauthorizedError(
                "The credential that authorised this subscription has expired"))])


async def graphql_transport_ws(websocket: WebSocket) -> None:
    """The ``/graphql`` WebSocket endpoint."""
    runtime: Runtime = websocket.app.state.runtime
    await TransportConnection(websocket, runtime).open()
