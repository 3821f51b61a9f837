"""Apps with ``[workflows]`` for the GraphQL and demo tests: settings from a schema and config plus
a ``[workflows]`` table, served in process over ASGI or by uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.settings import Settings, load_settings
from tests.conftest import API_KEY, DEMO_ADMIN, REPO, Client
from tests.live_server import serve_in_thread
from tests.server_process import free_port


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists of them read the same in TOML


def toml_tables(prefix: str, table: Mapping[str, Any]) -> str:
    """``table`` as TOML under ``[prefix]`` (nested mappings become ``[prefix.key]`` tables)."""
    plain = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    nested = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    lines = [f"[{prefix}]", *(f"{k} = {_toml_value(v)}" for k, v in plain.items())]
    text = "\n".join(lines) + "\n"
    for key, value in nested.items():
        text += toml_tables(f'{prefix}."{key}"' if not key.isidentifier() else f"{prefix}.{key}", value)
    return text


def workflow_settings(folder: Path, database_url: str, workflows: Mapping[str, Any] | None, *,
                      schema: Path, config: Path | None, **overrides: Any) -> Settings:
    """Settings for ``schema`` + ``config`` with ``workflows`` added as their ``[workflows]`` table."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = config
    if workflows is not None:
        config_path = folder / "trellis.toml"
        base = config.read_text() if config is not None else ""
        workflows = _absolute_definitions(workflows, config.parent if config else schema.parent)
        config_path.write_text(base + "\n" + toml_tables("workflows", workflows))
    return load_settings(schema, config_path, environ={"TRELLIS_API_KEY": API_KEY, "TRELLIS_SECRET": "test-secret"},
                         database_url=database_url, data_dir=folder / ".trellis", **overrides)


def _absolute_definitions(workflows: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Definition and policy paths resolved against the original config's folder (the copy lives elsewhere)."""
    copied = json.loads(json.dumps(workflows))
    for machine in copied.get("state_machines", {}).values():
        for key in ("definition", "policy"):
            if isinstance(machine, dict) and isinstance(machine.get(key), str):
                machine[key] = str((base / machine[key]).resolve())
    return copied


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on a loopback port (uvicorn in a thread); yields its base URL."""
    with serve_in_thread(app, free_port()) as base:
        yield base


async def in_process_client(app: Any, sign_as: tuple[str, str] | None = DEMO_ADMIN) -> Client:
    """A started app and a client over ASGI (requests SigV4-signed as ``sign_as`` by default)."""
    await app.state.runtime.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://trellis.test")
    return Client(http, app, sign_as)


def subscription_count(app: Any) -> int:
    for _ in range(100):  # the server thread may be changing the engine's tables right now
        with contextlib.suppress(RuntimeError):
            return int(app.state.runtime.subscriptions.count())
    raise AssertionError("could not count subscriptions")


async def wait_for_subscriptions(app: Any, count: int) -> None:
    """Until ``count`` subscriptions are registered (the app runs in the server's thread)."""
    deadline = time.monotonic() + 10
    while subscription_count(app) < count:
        assert time.monotonic() < deadline, f"fewer than {count} subscriptions registered"
        await asyncio.sleep(0.01)


DEMO_SCHEMA = REPO / "schema.graphql"
DEMO_CONFIG = REPO / "trellis.toml"


# -- a function the test state machines call with their task token -------------------------------------

TOKENS: dict[str, str] = {}


def remember_token(event: Mapping[str, Any]) -> dict[str, Any]:
    """``remember``: keeps ``event["token"]`` under ``event["key"]`` for the test to answer."""
    TOKENS[str(event["key"])] = str(event["token"])
    return {}
