"""Shared fixtures: a real Trellis app over SQLite or PostgreSQL, driven through ASGI.

PostgreSQL tests use the server at 127.0.0.1:5432 (a database per test process, created on demand
and dropped at the end).
Without it they skip — except under ``CI=true``, where a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.server import create_app
from app.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
API_KEY = "da2-testkeytestkeytestkeytestk"
# The demo's back office: an IAM administrator key (the demo's @auth rules let IAM do everything,
# while an API key may only read the catalogue).
DEMO_ADMIN = ("AKIATRELLISDEMOADMIN", "demo-admin-secret-demo-admin-secret-0000")
DEMO_REGION = "us-east-1"
PG_ADMIN_DSN = os.environ.get("TRELLIS_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
# One database per test process, so concurrent runs on one machine never reset each other's tables.
PG_DATABASE = f"trellis_test_{os.getpid()}"
PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"


def missing_service(what: str, problem: str = "is not reachable") -> None:
    """Skip on a developer machine without the service (or file, or tool); fail under CI, where it must exist."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} {problem}: required under CI=true")
    pytest.skip(f"{what} {problem}")


async def redis_available() -> bool:
    """Is the Redis server on 127.0.0.1:6379 reachable? (Tests then skip, or fail under CI, without it.)"""
    import asyncio

    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def _reset_postgres() -> None:
    import asyncpg

    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        missing_service(f"PostgreSQL ({exc.__class__.__name__})")
        return
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DATABASE)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""), timeout=5)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
def drop_test_database() -> Iterator[None]:
    yield
    import asyncio

    import asyncpg

    async def drop() -> None:
        try:
            admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'trellis.db'}"
    await _reset_postgres()
    return PG_URL


AppFactory = Callable[..., Any]


def sigv4_headers(url: str, body: bytes, credential: tuple[str, str], region: str = DEMO_REGION) -> dict[str, str]:
    """The headers botocore adds to sign a POST of ``body`` to ``url`` for AppSync (service ``appsync``)."""
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host = urlsplit(url).netloc
    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json", "host": host})
    SigV4Auth(Credentials(*credential), "appsync", region).add_auth(request)
    return dict(request.headers.items())


class Client:
    """A GraphQL client over the real ASGI app."""

    def __init__(self, http: httpx.AsyncClient, app: Any, sign_as: tuple[str, str] | None = None) -> None:
        self.http = http
        self.app = app
        # When set, requests made with the default credential are SigV4-signed with this key instead.
        self.sign_as = sign_as

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = API_KEY,
                   **kwargs: Any) -> httpx.Response:
        if key == API_KEY and self.sign_as is not None and "headers" not in kwargs:
            return await self.post_signed(query, variables, self.sign_as, **kwargs)
        headers = {"x-api-key": key} if key else {}
        headers.update(kwargs.pop("headers", {}))
        return await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers,
                                    **kwargs)

    async def post_signed(self, query: str, variables: dict[str, Any] | None, credential: tuple[str, str],
                          **kwargs: Any) -> httpx.Response:
        """A request signed as botocore signs AppSync calls (service ``appsync``)."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        headers = sigv4_headers(f"http://{self.http.base_url.host}/graphql", body, credential)
        return await self.http.post("/graphql", content=body, headers=headers, **kwargs)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.gql(query, variables)
        assert not body.get("errors"), [e["message"] for e in body["errors"]]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Build a client for a schema (text or the demo's) on a database URL."""
    opened: list[tuple[Any, httpx.AsyncClient]] = []

    async def make(database_url: str, schema: str | None = None, config: str | None = None,
                   **settings: Any) -> Client:
        folder = tmp_path / f"app{len(opened)}"
        folder.mkdir()
        sign_as = None
        if schema is None:
            schema_path = REPO / "schema.graphql"
            config_path: Path | None = REPO / "trellis.toml"
            settings.setdefault("admin_access_key", DEMO_ADMIN)
            sign_as = settings["admin_access_key"]
        else:
            schema_path = folder / "schema.graphql"
            schema_path.write_text(schema)
            config_path = None
            if config is not None:
                config_path = folder / "trellis.toml"
                config_path.write_text(config)
        loaded = load_settings(
            schema_path, config_path, environ={"TRELLIS_API_KEY": API_KEY, "TRELLIS_SECRET": "test-secret"},
            database_url=database_url, data_dir=folder / ".trellis", **settings,
        )
        app = create_app(loaded)
        await app.state.runtime.start()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://trellis.test")
        opened.append((app, http))
        return Client(http, app, sign_as)

    yield make
    for app, http in opened:
        await http.aclose()
        await app.state.runtime.close()


@pytest.fixture
async def demo(make_client: Callable[..., Any], database_url: str) -> Client:
    client: Client = await make_client(database_url)
    return client
