"""The GraphQL-over-HTTP conformance audit from npm's ``graphql-http``, against the real server.

Starts ``python -m app.cli serve`` with the demo schema on a free loopback port, then runs
``tests/js/audit.mjs`` (graphql-http's ``auditServer``) against it. Every MUST must pass;
SHOULD failures are printed so that a regression in them shows up in the log.

Needs Node.js and npm: without them the test skips, except under ``CI=true`` where it fails.
``tests/js/node_modules`` is installed with ``npm ci`` from the committed lockfile if missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEY, REPO, missing_service

JS_DIR = REPO / "tests" / "js"
AUDIT_SCRIPT = JS_DIR / "audit.mjs"
START_TIMEOUT = 30.0

pytestmark = pytest.mark.node


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def node() -> str:
    """The node binary, with the audit's npm dependencies installed."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        missing_service("Node.js")
    assert node_bin is not None and npm_bin is not None
    if not (JS_DIR / "node_modules" / "graphql-http").is_dir():
        installed = subprocess.run(
            [npm_bin, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True, timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            missing_service(f"npm packages for tests/js (npm ci failed: {installed.stderr.strip()[-500:]})")
    return node_bin


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The real CLI server on a free loopback port; yields its /graphql URL."""
    port = _free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update(TRELLIS_API_KEY=API_KEY, TRELLIS_DATA_DIR=str(tmp_path / "data"), TRELLIS_SECRET="audit-secret")
    command = [sys.executable, "-m", "app.cli", "serve", "--schema", "schema.graphql",
               "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /health within {START_TIMEOUT}s:\n{_tail(log_path)}")
            time.sleep(0.1)
        yield f"{base}/graphql"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _describe(failures: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {f['name']} ({f['id']}): {f['reason']} [status {f['status']}] {f['body']}"
                     for f in failures) or "  (none)"


@pytest.mark.timeout(360)
def test_the_graphql_http_audit_finds_no_must_failures(node: str, server: str) -> None:
    env = {**os.environ, "TRELLIS_AUDIT_API_KEY": API_KEY}
    ran = subprocess.run(
        [node, str(AUDIT_SCRIPT), server], cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert ran.returncode in (0, 1), f"the audit could not run ({ran.returncode}):\n{ran.stderr}"
    summary = json.loads(ran.stdout.strip().splitlines()[-1])
    report = (
        f"graphql-http audit: {summary['ok']} ok, {len(summary['warn'])} SHOULD warnings, "
        f"{len(summary['error'])} MUST failures, {len(summary['notice'])} MAY notices\n"
        f"MUST failures:\n{_describe(summary['error'])}\n"
        f"SHOULD warnings:\n{_describe(summary['warn'])}\n"
        f"MAY notices:\n{_describe(summary['notice'])}"
    )
    print(report)
    assert summary["ok"] > 0, report
    assert summary["error"] == [], report
    assert ran.returncode == 0, report
