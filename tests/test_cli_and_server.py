"""The ``trellis`` command and a real server on a socket, driven by the gql client."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from auth.api_keys import ApiKeyStore
from datasources.sql import open_database
from tests.server_process import REPO, trellis_server


def trellis(*args: str, env: dict[str, str] | None = None, cwd=REPO) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=cwd, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_help_lists_the_commands():
    result = trellis("--help")
    assert result.returncode == 0
    for command in ("serve", "check", "api-key"):
        assert command in result.stdout


def test_check_accepts_the_demo_app(tmp_path):
    result = trellis("check", env={"TRELLIS_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_reports_every_problem_and_exits_non_zero(tmp_path):
    (tmp_path / "schema.graphql").write_text("type Query {\n  a: Nope\n  b: AlsoNope\n}\n")
    result = trellis("check", "--schema", str(tmp_path / "schema.graphql"))
    assert result.returncode == 2
    assert "2 problem(s)" in result.stderr
    assert f"{tmp_path / 'schema.graphql'}:2:6" in result.stderr
    assert f"{tmp_path / 'schema.graphql'}:3:6" in result.stderr


def test_api_keys_are_created_listed_and_revoked(tmp_path):
    env = {"TRELLIS_DATA_DIR": str(tmp_path)}
    created = trellis("api-key", "create", "--description", "ci", "--expires-days", "1", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("da2-") and len(key) == 30
    listed = trellis("api-key", "list", env=env)
    key_id = listed.stdout.split()[0]
    assert "active" in listed.stdout and "ci" in listed.stdout
    assert key not in listed.stdout  # the secret is shown once, at creation
    assert trellis("api-key", "revoke", key_id, env=env).returncode == 0
    assert "revoked" in trellis("api-key", "list", env=env).stdout
    assert trellis("api-key", "revoke", "nope", env=env).returncode == 1


async def test_keys_expire_and_revocations_apply(tmp_path):
    now = [1_000_000.0]
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    store = ApiKeyStore(database, clock=lambda: now[0], refresh_seconds=0)
    try:
        await store.migrate()
        key, _ = await store.create("short", expires_in_seconds=60)
        other, record = await store.create("other")
        assert await store.verify(key)
        assert not await store.verify(key + "x")
        assert not await store.verify(None)
        now[0] += 61
        assert not await store.verify(key)
        assert await store.verify(other)
        await store.revoke(record.id)
        assert not await store.verify(other)
    finally:
        await database.close()


async def test_a_real_server_answers_the_gql_client_and_refuses_a_missing_key(tmp_path):
    with trellis_server(tmp_path, env={"TRELLIS_API_KEY": "da2-socketsocketsocketsocket12"}) as (base, _process):
        transport = HTTPXAsyncTransport(url=f"{base}/graphql", headers={"x-api-key": "da2-socketsocketsocketsocket12"})
        async with Client(transport=transport) as session:
            # The API key reaches what the demo opens to it: the catalogue and shipping quotes.
            listed = await session.execute(gql("{ listProducts { items { id } } }"))
            quote = gql("query($p: String!) { shippingQuote(postcode: $p, weightGrams: 1200) { carrier priceCents } }")
            quote.variable_values = {"p": "EH1 1AA"}
            got = await session.execute(quote)
        assert listed == {"listProducts": {"items": []}}
        assert got["shippingQuote"] == {"carrier": "Parcel Express", "priceCents": 690}
        anonymous = HTTPXAsyncTransport(url=f"{base}/graphql")
        with pytest.raises(TransportQueryError) as refused:
            async with Client(transport=anonymous) as session:
                await session.execute(gql("{ listProducts { items { id } } }"))
        assert refused.value.errors[0]["errorType"] == "UnauthorizedException"
        assert refused.value.data is None
        async with httpx.AsyncClient() as http:
            raw = await http.post(f"{base}/graphql", json={"query": "{ __typename }"})
        assert raw.status_code == 401


SLOW_SCHEMA = "type Query { slow(seconds: Float!): String }"
SLOW_CONFIG = '[resolvers."Query.slow"]\nhandler = "tests.slow_resolver:slow"\n'


def test_graceful_shutdown_finishes_in_flight_requests(tmp_path):
    (tmp_path / "schema.graphql").write_text(SLOW_SCHEMA)
    (tmp_path / "trellis.toml").write_text(SLOW_CONFIG)
    env = {"TRELLIS_API_KEY": "da2-slowslowslowslowslowslow12"}
    with trellis_server(tmp_path / "data", schema=tmp_path / "schema.graphql", env=env) as (base, process):
        outcome: dict[str, object] = {}

        def call() -> None:
            response = httpx.post(f"{base}/graphql", json={"query": "{ slow(seconds: 1.5) }"},
                                  headers={"x-api-key": env["TRELLIS_API_KEY"]}, timeout=30)
            outcome["status"] = response.status_code
            outcome["body"] = response.json()

        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        worker.join(timeout=30)
        assert outcome.get("status") == 200
        assert outcome["body"] == {"data": {"slow": "done"}}
        # Uvicorn re-raises the signal once shutdown is complete, so the exit is by SIGTERM.
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)


async def test_readiness_and_metrics_on_a_real_server(tmp_path):
    with trellis_server(tmp_path, env={"TRELLIS_API_KEY": "da2-metricsmetricsmetricsmetr"}) as (base, _process):
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            assert (await http.get("/ready")).json() == {"status": "ready"}
            await http.post("/graphql", json={"query": "{ __typename }"}, headers={"x-api-key": "da2-metricsmetricsmetricsmetr"})
            await asyncio.sleep(0)
            metrics = (await http.get("/metrics")).text
        assert 'trellis_graphql_requests_total{operation_type="query",status="200"} 1.0' in metrics


async def test_each_request_logs_one_json_line_with_name_duration_and_error_types(make_client, tmp_path, caplog):
    import json
    import logging

    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'log.db'}")
    with caplog.at_level(logging.INFO, logger="trellis.access"):
        await client.post('query Named { getProduct(id: "x") { id } }')
        await client.post('mutation Bad { updateProduct(input: {id: "ghost", name: "n"}) { id } }')
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "trellis.access"]
    assert [(line["operationName"], line["operationType"], line["errorTypes"]) for line in lines] == [
        ("Named", "query", []),
        ("Bad", "mutation", ["ConditionalCheckFailedException"]),
    ]
    assert all(line["durationMs"] >= 0 and line["status"] == 200 for line in lines)
