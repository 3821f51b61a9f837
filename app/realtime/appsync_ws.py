"""AppSync's real-time protocol at ``/graphql/realtime`` (subprotocol ``graphql-ws``).

Connect-time credentials arrive as AppSync clients send them, as a JSON object of headers
(``host`` plus ``x-api-key``, ``Authorization: <JWT>``, or the SigV4 headers of a ``POST
https://<host>/graphql/connect`` with body ``{}``), either base64 in the ``?header=...&payload=e30=``
query (gql, older clients) or base64url in a second subprotocol ``header-<...>`` (Amplify JS v6).
The server always answers with the ``graphql-ws`` subprotocol. Each ``start`` may carry its own
credentials in ``payload.extensions.authorization`` (for SigV4: a ``POST`` to ``/graphql`` whose
body is the ``data`` string); without them the connection's identity is used.

Messages::

    client                          server
    connection_init            ->   connection_ack {connectionTimeoutMs}, then "ka" every keepalive_seconds
    start {id, payload.data}   ->   start_ack {id} | error {id}; then data {id, payload} per event
    stop {id}                  ->   complete {id}

Errors are ``{"type": "error", "id"?, "payload": {"errors": [{"errorType", "message", "errorCode"}]}}``
(AppSync's names for each case)::

    situation                                  errorType                     errorCode
    connect credentials missing or invalid     UnauthorizedException         401   connection_error, close 1008
    start credentials invalid (any mode)       UnauthorizedException         401
    subscription denied (directives, @auth)    Unauthorized                  401
    query or mutation                          UnsupportedOperation          400   "query not supported through
                                                                                   the realtime channel"
    invalid document or variables, bad data    BadRequestException           400
    id already in use on the connection        DuplicatedOperationError      400   "Duplicated operation with id <id>"
    over max_subscriptions_per_connection      MaxSubscriptionsReachedError  400
    message not JSON, or without a type        BadRequestException           400   (no id)
    unknown message type                       UnsupportedOperation          400   "<type> not supported through
                                                                                   the realtime channel"
    the start's credential expired (JWT exp)   UnauthorizedException         401   the subscription ends

A handshake that does not offer ``graphql-ws``, or a cookie-bearing one from a foreign ``Origin``,
is refused with HTTP 403; a client too slow to read is closed with 1013 (``app.realtime.connection``).

A denied or failed ``start`` errors alone: the connection and its other subscriptions go on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote

from graphql import OperationType
from starlette.websockets import WebSocket

from app.errors import TrellisError, UnauthorizedError
from app.execution import GraphQLRequest
from app.realtime.connection import (
    Connection,
    auth_request,
    decode_header_json,
    header_map,
    origin_refused,
)
from app.realtime.subscriptions import Subscription
from app.runtime import Runtime
from auth.base import UNAUTHORIZED_MESSAGE
from auth.modes import Identity

SUBPROTOCOL = "graphql-ws"
HEADER_PREFIX = "header-"
CONNECT_PATH = "/graphql/connect"
START_PATH = "/graphql"


def _query_params(raw: bytes) -> dict[str, str]:
    """The raw query, percent-decoded but with ``+`` kept: standard base64 is sent unescaped."""
    params: dict[str, str] = {}
    for part in raw.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


def _error(error_type: str, message: str, code: int) -> dict[str, Any]:
    return {"errorType": error_type, "message": message, "errorCode": code}


def _status_of(error: TrellisError) -> int:
    return 401 if isinstance(error, UnauthorizedError) or error.error_type == "Unauthorized" else 400


class AppSyncConnection(Connection):
    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        super().__init__(websocket, runtime)
        self.identity: Identity | None = None
        self.acknowledged = False
        self._unacked: dict[str, list[bytes]] = {}  # start id -> data frames held until its start_ack

    # -- handshake ------------------------------------------------------------------------------

    async def open(self) -> None:
        websocket = self.websocket
        offered = list(websocket.scope.get("subprotocols") or ())
        if SUBPROTOCOL not in offered or origin_refused(websocket, self.config):
            await websocket.close(code=1008)  # before accept: an HTTP 403
            return
        params = _query_params(websocket.scope.get("query_string", b""))
        encoded = next((p[len(HEADER_PREFIX):] for p in offered if p.startswith(HEADER_PREFIX)), None)
        if encoded is None:
            encoded = params.get("header")
        headers = decode_header_json(encoded) if encoded else None
        body = b"{}"
        if params.get("payload"):
            decoded_payload = decode_header_json(params["payload"])
            body = json.dumps(decoded_payload).encode() if decoded_payload is not None else b"{}"
        await websocket.accept(subprotocol=SUBPROTOCOL)
        try:
            if headers is None:
                raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
            request = auth_request(websocket, header_map(headers), method="POST", path=CONNECT_PATH, body=body)
            self.identity = await self.runtime.authenticator.authenticate(request)
        except UnauthorizedError as exc:
            self.send_json({"type": "connection_error",
                            "payload": {"errors": [_error("UnauthorizedException", exc.message, 401)]}})
            self.close(1008, "Unauthorized")
        await self.serve(self.handle, (self._keepalive,))

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_seconds)
            if self.acknowledged:
                self.send('{"type":"ka"}')

    # -- messages -------------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.send_json({"type": "error", "payload": {"errors": [
                _error("BadRequestException", "Messages must be JSON objects with a string 'type'", 400)]}})
            return
        kind = message["type"]
        raw_id = message.get("id")
        if kind == "connection_init":
            self.acknowledged = True
            self.send_json({"type": "connection_ack",
                            "payload": {"connectionTimeoutMs": self.config.connection_timeout_ms}})
        elif kind == "start":
            await self._start(raw_id, message.get("payload"))
        elif kind == "stop":
            if isinstance(raw_id, str):
                self.remove(raw_id)
                self.send_json({"type": "complete", "id": raw_id})
        else:
            self._fail(raw_id if isinstance(raw_id, str) else None,
                       _error("UnsupportedOperation", f"{kind} not supported through the realtime channel", 400))

    def _fail(self, subscription_id: str | None, error: dict[str, Any]) -> None:
        frame: dict[str, Any] = {"type": "error"}
        if subscription_id is not None:
            frame["id"] = subscription_id
        frame["payload"] = {"errors": [error]}
        self.send_json(frame)

    async def _start(self, raw_id: Any, payload: Any) -> None:
        if not isinstance(raw_id, str) or not raw_id:
            self._fail(None, _error("BadRequestException", "A start message needs a string 'id'", 400))
            return
        sid = raw_id
        if sid in self.subscriptions:
            self._fail(sid, _error("DuplicatedOperationError", f"Duplicated operation with id {sid}", 400))
            return
        limit = self.config.max_subscriptions_per_connection
        if len(self.subscriptions) >= limit:
            self._fail(sid, _error("MaxSubscriptionsReachedError", f"Max number of {limit} subscriptions reached",
                                   400))
            return
        try:
            request = self._request(payload)
            identity = await self._identity(payload, request)
            subscription = self._prepare(sid, request, identity)
        except UnauthorizedError as exc:  # SigV4's finer types too: clients renew credentials on this one
            self._fail(sid, _error("UnauthorizedException", exc.message, 401))
            return
        except TrellisError as exc:
            self._fail(sid, _error(exc.error_type, exc.message, _status_of(exc)))
            return
        if sid in self.subscriptions or self.closing:  # a second start with this id raced the first
            return
        self.subscriptions[sid] = subscription
        # Events can arrive while registering awaits the broker (Redis): held until start_ack is out.
        self._unacked[sid] = []
        try:
            await self.engine.register(subscription)  # runs the field's resolver, which may refuse
        except TrellisError as exc:
            self.subscriptions.pop(sid, None)
            self._unacked.pop(sid, None)
            self._fail(sid, _error(exc.error_type, exc.message, _status_of(exc)))
            return
        self.send_json({"type": "start_ack", "id": sid})
        for frame in self._unacked.pop(sid, ()):
            self.send_utf8(frame)

    def _request(self, payload: Any) -> GraphQLRequest:
        data = payload.get("data") if isinstance(payload, dict) else None
        try:
            body = json.loads(data) if isinstance(data, str) else None
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise TrellisError("payload.data must be a JSON string of {query, variables}",
                               error_type="BadRequestException")
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            raise TrellisError("'variables' must be a JSON object", error_type="BadRequestException")
        if operation_name is not None and not isinstance(operation_name, str):
            raise TrellisError("'operationName' must be a string", error_type="BadRequestException")
        return GraphQLRequest(body["query"], variables, operation_name)

    async def _identity(self, payload: Any, request: GraphQLRequest) -> Identity:
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        authorization = extensions.get("authorization") if isinstance(extensions, dict) else None
        if not authorization:
            if self.identity is None:
                raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
            return self.identity
        if not isinstance(authorization, dict):
            raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
        headers = header_map({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in authorization.items()})
        data = payload["data"].encode()  # _request checked it is a string
        return await self.runtime.authenticator.authenticate(
            auth_request(self.websocket, headers, method="POST", path=START_PATH, body=data))

    def _prepare(self, sid: str, request: GraphQLRequest, identity: Identity) -> Subscription:
        executor = self.runtime.executor
        prepared = executor.prepare(request.query)
        if prepared.document is not None:
            kind = executor.operation_type(prepared, request.operation_name)
            if kind is not None and kind is not OperationType.SUBSCRIPTION:
                raise TrellisError(f"{kind.value} not supported through the realtime channel",
                                   error_type="UnsupportedOperation")
        prefix = ('{"type":"data","id":' + json.dumps(sid) + ',"payload":').encode()

        def deliver(_subscription: Subscription, payload: bytes) -> None:
            frame = prefix + payload + b"}"
            held = self._unacked.get(sid)
            if held is not None:
                held.append(frame)
            else:
                self.send_utf8(frame)

        def deliver_many(_subscription: Subscription, payloads: list[bytes]) -> None:
            frames = [prefix + payload + b"}" for payload in payloads]
            held = self._unacked.get(sid)
            if held is not None:
                held.extend(frames)
            else:
                self.send_utf8_many(frames)

        return self.engine.prepare(sid, request, identity, deliver, self._expired, identity.expires_at, deliver_many)

    def _expired(self, subscription: Subscription) -> None:
        if self.subscriptions.get(subscription.id) is subscription:
            del self.subscriptions[subscription.id]
            self._fail(subscription.id, _error("UnauthorizedException",
                                               "The credential that authorised this subscription has expired", 401))


async def appsync_realtime(websocket: WebSocket) -> None:
    """The ``/graphql/realtime`` WebSocket endpoint."""
    runtime: Runtime = websocket.app.state.runtime
    await AppSyncConnection(websocket, runtime).open()
