"""An acknowledged write survives ``kill -9``: group commit acknowledges only after COMMIT."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx

from tests.conftest import DEMO_ADMIN, sigv4_headers
from tests.server_process import trellis_server

KEY = "da2-durabledurabledurabledura"
# The demo's products are written by the back office (IAM); the catalogue is read with an API key.
ENV = {"TRELLIS_API_KEY": KEY, "TRELLIS_ADMIN_ACCESS_KEY_ID": DEMO_ADMIN[0],
       "TRELLIS_ADMIN_SECRET_ACCESS_KEY": DEMO_ADMIN[1]}
CREATE = 'mutation($s: String!) { createProduct(input: {sku: $s, name: "D", priceCents: 1}) { id } }'


async def test_acknowledged_creates_survive_a_hard_kill(tmp_path):
    acknowledged: list[str] = []
    enough = asyncio.Event()
    with trellis_server(tmp_path, env=ENV) as (base, process):
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def writer(n: int) -> None:
                for i in range(1000):
                    body = json.dumps({"query": CREATE, "variables": {"s": f"{n}-{i}"}}).encode()
                    headers = sigv4_headers(f"{base}/graphql", body, DEMO_ADMIN)
                    try:
                        response = await http.post("/graphql", content=body, headers=headers)
                    except httpx.TransportError:
                        return  # the server died mid-request: that write was never acknowledged
                    body = response.json()
                    if body.get("data") and body["data"]["createProduct"]:
                        acknowledged.append(body["data"]["createProduct"]["id"])
                        if len(acknowledged) >= 300:
                            enough.set()

            writers = [asyncio.create_task(writer(n)) for n in range(16)]
            await asyncio.wait_for(enough.wait(), timeout=60)
            process.send_signal(signal.SIGKILL)
            await asyncio.gather(*writers)
            process.wait(timeout=10)
    assert len(acknowledged) >= 300

    with trellis_server(tmp_path, env=ENV) as (base, _process):
        async with httpx.AsyncClient(base_url=base, headers={"x-api-key": KEY}, timeout=30) as http:
            stored: set[str] = set()
            token = None
            while True:
                response = await http.post("/graphql", json={
                    "query": "query($t: String) { listProducts(limit: 1000, nextToken: $t) { items { id } nextToken } }",
                    "variables": {"t": token},
                })
                page = response.json()["data"]["listProducts"]
                stored.update(item["id"] for item in page["items"])
                token = page["nextToken"]
                if token is None:
                    break
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"
