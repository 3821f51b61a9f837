"""Two Trellis processes sharing PostgreSQL and Redis: a mutation on one reaches subscribers on the other."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from gql import Client, gql
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport

from tests.conftest import PG_URL, _reset_postgres, missing_service, redis_available
from tests.server_process import trellis_server

KEY = "da2-redisredisredisredisredis"
SCHEMA = """
type Parcel @model {
  id: ID!
  label: String!
  depot: String
}
"""
SUBSCRIPTION = 'subscription { onCreateParcel(filter: {depot: {eq: "north"}}) { id label depot createdAt } }'
CREATE = 'mutation($l: String!, $d: String) { createParcel(input: {label: $l, depot: $d}) { id } }'


@pytest.mark.postgres
async def test_a_mutation_on_one_instance_reaches_subscribers_on_another(tmp_path):
    if not await redis_available():
        missing_service("Redis on 127.0.0.1:6379")
    await _reset_postgres()
    schema = tmp_path / "schema.graphql"
    schema.write_text(SCHEMA)
    env = {"TRELLIS_API_KEY": KEY, "TRELLIS_DATABASE_URL": PG_URL, "TRELLIS_REDIS_URL": "redis://127.0.0.1:6379/0",
           "TRELLIS_SECRET": "shared-by-both-instances"}
    with trellis_server(tmp_path / "a", schema=schema, env=env) as (first, _a), \
            trellis_server(tmp_path / "b", schema=schema, env=env) as (second, _b):
        host = second.removeprefix("http://")
        transport = AppSyncWebsocketsTransport(url=f"ws://{host}/graphql/realtime",
                                               auth=AppSyncApiKeyAuthentication(host=host, api_key=KEY))
        received: list[dict] = []
        async with Client(transport=transport) as session:

            async def listen() -> None:
                async for event in session.subscribe(gql(SUBSCRIPTION)):
                    received.append(event["onCreateParcel"])
                    if len(received) == 2:
                        return

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.5)  # the start_ack has arrived by now; gql does not expose it
            async with httpx.AsyncClient(base_url=first, headers={"x-api-key": KEY}) as http:
                for label, depot in (("a", "north"), ("b", "south"), ("c", "north")):
                    response = await http.post("/graphql", json={"query": CREATE, "variables": {"l": label, "d": depot}})
                    assert "errors" not in response.json(), response.text
            await asyncio.wait_for(listener, 15)
    # Each event once (not once per instance), in order, filtered, with fields the mutation did not select.
    assert [(p["label"], p["depot"]) for p in received] == [("a", "north"), ("c", "north")]
    assert all(p["createdAt"] for p in received)
