"""A real Trellis server (uvicorn in a thread) for the WebSocket tests, with a local JWKS for OIDC tokens.

The schema has one ``@model`` type readable in every mode, with API_KEY as the default mode plus
AWS_IAM (the administrator key) and OPENID_CONNECT (tokens signed here); mutations over HTTP
publish the events the WebSocket subscribers receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import websockets
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.server import create_app
from app.settings import load_settings
from tests.conftest import API_KEY
from tests.live_server import serve_in_thread
from tests.server_process import free_port
from tests.test_jwt_verifier import RSA_KEY, public_jwk

ADMIN = ("AKIATRELLISADMIN0001", "admin-secret-admin-secret-admin-secret00")
REGION = "eu-west-1"
CLIENT_ID = "realtime-client"
SCHEMA = """
type Note @model @aws_api_key @aws_iam @aws_oidc {
  id: ID!
  title: String!
  colour: String
  body: String
}
type Subscription {
  onNoteForIam: Note @aws_subscribe(mutations: ["createNote"]) @aws_iam
  onNoteForOidc(colour: String): Note @aws_subscribe(mutations: ["createNote"]) @aws_oidc
}
"""


@dataclass
class LiveServer:
    base: str  # http://127.0.0.1:<port>
    app: Any
    issuer: str

    @property
    def host(self) -> str:
        return self.base.removeprefix("http://")

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def ws(self, path: str) -> str:
        return "ws://" + self.host + path

    def subscription_count(self) -> int:
        for _ in range(100):  # the server thread may be changing the engine's tables right now
            with contextlib.suppress(RuntimeError):
                return int(self.runtime.subscriptions.count())
        raise AssertionError("could not count subscriptions")

    async def wait_for_subscriptions(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while self.subscription_count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.subscription_count()} subscriptions registered, expected {count}")
            await asyncio.sleep(0.01)

    def token(self, ttl: float = 600, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "sub": "user-1", "aud": CLIENT_ID, "iat": now - 5, "exp": now + int(ttl)}
        payload.update(claims)
        return jwt.encode(payload, RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})

    async def create_note(self, title: str, colour: str | None = None, body: str | None = None) -> dict[str, Any]:
        query = ("mutation($t: String!, $c: String, $b: String) "
                 "{ createNote(input: {title: $t, colour: $c, body: $b}) { id title } }")
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(self.base + "/graphql", headers={"x-api-key": API_KEY},
                                       json={"query": query, "variables": {"t": title, "c": colour, "b": body}})
        result: dict[str, Any] = response.json()
        assert not result.get("errors"), result
        return result


def _config(issuer: str, jwks_url: str, realtime: dict[str, Any]) -> str:
    lines = [
        '[auth]\ndefault = "API_KEY"\nadditional = ["AWS_IAM", "OPENID_CONNECT"]',
        f'[auth.iam]\nregion = "{REGION}"\naccount_id = "123456789012"\napi_id = "realtime"',
        f'[auth.openid_connect]\nissuer = "{issuer}"\nclient_id = "{CLIENT_ID}"\njwks_url = "{jwks_url}"',
        "[realtime]",
        *(f"{key} = {json.dumps(value)}" for key, value in realtime.items()),
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def live_server(folder: Path, **realtime: Any) -> Iterator[LiveServer]:
    """Serve the realtime test schema; ``realtime`` sets ``[realtime]`` keys (small timers for tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    jwks_port, port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{jwks_port}"
    keys = {"keys": [public_jwk(RSA_KEY, "rsa-1")]}

    async def jwks(_request: Any) -> JSONResponse:
        return JSONResponse(keys)

    (folder / "schema.graphql").write_text(SCHEMA)
    (folder / "trellis.toml").write_text(_config(issuer, issuer + "/jwks.json", realtime))
    settings = load_settings(
        folder / "schema.graphql", folder / "trellis.toml",
        environ={"TRELLIS_API_KEY": API_KEY, "TRELLIS_SECRET": "realtime-secret"},
        database_url=f"sqlite+aiosqlite:///{folder / 'realtime.db'}", data_dir=folder / ".trellis",
        admin_access_key=ADMIN,
    )
    app = create_app(settings)
    with serve_in_thread(Starlette(routes=[Route("/jwks.json", jwks)]), jwks_port), \
            serve_in_thread(app, port) as base:
        yield LiveServer(base, app, issuer)


async def until_closed(ws: Any, seconds: float = 5.0) -> None:
    """Read (and drop) messages until the server closes the socket."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    except websockets.ConnectionClosed:
        return


@contextlib.contextmanager
def frozen_clock(server: LiveServer, now: Callable[[], float]) -> Iterator[None]:
    engine = server.runtime.subscriptions
    original = engine.clock
    engine.clock = now
    try:
        yield
    finally:
        engine.clock = original
