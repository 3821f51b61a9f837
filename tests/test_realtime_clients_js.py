"""Real JavaScript clients against the real server: npm's ``graphql-ws`` on /graphql and Amplify JS v6
(``aws-amplify``) on /graphql/realtime with its ``header-`` subprotocol.

Needs Node.js and the packages of ``tests/js`` (installed with ``npm ci`` from the lockfile when
missing): without Node the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import API_KEY, REPO, missing_service
from tests.realtime_support import LiveServer, live_server

JS_DIR = REPO / "tests" / "js"
PACKAGES = ("aws-amplify", "graphql-ws", "ws")

pytestmark = [pytest.mark.node, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def node() -> str:
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        missing_service("Node.js")
    assert node_bin is not None and npm_bin is not None
    if not all((JS_DIR / "node_modules" / package).is_dir() for package in PACKAGES):
        installed = subprocess.run([npm_bin, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True,
                                   text=True, timeout=300, check=False)
        if installed.returncode != 0:
            missing_service(f"npm packages for tests/js (npm ci failed: {installed.stderr.strip()[-500:]})")
    return node_bin


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("js")) as live:
        yield live


def run_script(node: str, script: str, *args: str) -> dict[str, Any]:
    ran = subprocess.run([node, script, *args], cwd=JS_DIR, capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, f"{script} failed ({ran.returncode}):\n{ran.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    return result


def test_the_graphql_ws_client_runs_operations_and_subscriptions_and_is_refused_a_bad_key(node, server):
    out = run_script(node, "graphql_ws_client.mjs", server.ws("/graphql"), API_KEY)
    assert out["mutation"] == [{"data": {"createNote": {"title": "from graphql-ws"}}}]
    assert out["event"] == {"data": {"onCreateNote": {"title": "from graphql-ws"}}}
    assert {"title": "from graphql-ws"} in out["query"][0]["data"]["listNotes"]["items"]
    assert out["refused"] == {"code": 4403, "reason": "Forbidden"}


def test_amplify_subscribes_with_the_header_subprotocol(node, server):
    out = run_script(node, "amplify_subscribe.mjs", server.base + "/graphql", API_KEY)
    assert out["url"].startswith(server.ws("/graphql/realtime"))  # derived as for a custom domain
    graphql_ws, header = out["protocols"]
    assert graphql_ws == "graphql-ws" and header.startswith("header-")
    assert out["event"] == {"onCreateNote": {"title": "from amplify"}}
