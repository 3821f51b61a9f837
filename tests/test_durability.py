"""An acknowledged write survives ``kill -9``: group commit acknowledges only after COMMIT."""

from __future__ import annotations

import asyncio
import signal

import httpx

from tests.server_process import trellis_server

KEY = "da2-durabledurabledurabledura"
CREATE = 'mutation($s: String!) { createProduct(input: {sku: $s, name: "D", priceCents: 1}) { id } }'


async def test_acknowledged_creates_survive_a_hard_kill(tmp_path):
    acknowledged: list[str] = []
    enough = asyncio.Event()
    with trellis_server(tmp_path, env={"TRELLIS_API_KEY": KEY}) as (base, process):
        async with httpx.AsyncClient(base_url=base, headers={"x-api-key": KEY}, timeout=10) as http:

            async def writer(n: int) -> None:
                for i in range(1000):
                    try:
                        response = await http.post("/graphql", json={"query": CREATE, "variables": {"s": f"{n}-{i}"}})
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

    with trellis_server(tmp_path, env={"TRELLIS_API_KEY": KEY}) as (base, _process):
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
