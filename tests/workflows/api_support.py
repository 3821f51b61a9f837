"""A Trellis with ``[workflows]`` served on a loopback port, and botocore ``stepfunctions`` clients
for it (signed with the demo's administrator key unless told otherwise).

The server runs in a thread with its own event loop, so tests drive it with blocking botocore
calls, exactly as an AWS SDK user would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from app.server import create_app
from app.settings import load_settings
from tests.conftest import API_KEY, DEMO_ADMIN, PG_URL, _reset_postgres
from tests.live_server import serve_in_thread
from tests.server_process import free_port

BOTOCORE = botocore.session.get_session()
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/trellis-test"
SCHEMA = "type Query { hello: String }\n"
CONFIG = f"""
[workflows]
region = "{REGION}"
account_id = "{ACCOUNT}"
poll_seconds = 0.05

[datasources.double]
kind = "function"
handler = "tests.workflows.api_support:double"

[datasources.flaky]
kind = "function"
handler = "tests.workflows.api_support:flaky"
"""

PASS_MACHINE = json.dumps({"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": {"hello": "world"},
                                                                     "End": True}}})


def double(event: Mapping[str, Any]) -> dict[str, Any]:
    """``double``: a Lambda-style function the test machines call."""
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"doubled": 2 * int(event["n"])}


FLAKY = {"failing": True}


def flaky(event: Mapping[str, Any]) -> dict[str, Any]:
    """``flaky``: fails while ``FLAKY["failing"]`` (a test then fixes it and redrives)."""
    if FLAKY["failing"]:
        raise RuntimeError("flaky is down")
    return {"fixed": event}


@dataclass
class Served:
    base: str
    app: Any

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def client(self, *, signed_with: tuple[str, str] | None = DEMO_ADMIN, region: str = REGION,
               read_timeout: int = 70) -> Any:
        options: dict[str, Any] = {"retries": {"total_max_attempts": 1}, "inject_host_prefix": False,
                                   "read_timeout": read_timeout}
        keys: dict[str, Any] = {}
        if signed_with is None:
            options["signature_version"] = UNSIGNED
        else:
            keys = {"aws_access_key_id": signed_with[0], "aws_secret_access_key": signed_with[1]}
        return BOTOCORE.create_client("stepfunctions", endpoint_url=self.base, region_name=region,
                                      config=Config(**options), **keys)


@contextmanager
def served_workflows(folder: Path, database_url: str, *, activity_poll_seconds: float = 2.0,
                     extra_config: str = "") -> Iterator[Served]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.graphql").write_text(SCHEMA)
    (folder / "trellis.toml").write_text(CONFIG + extra_config)
    settings = load_settings(folder / "schema.graphql", environ={"TRELLIS_API_KEY": API_KEY,
                                                               "TRELLIS_SECRET": "test-secret"},
                             database_url=database_url, data_dir=folder / ".trellis", admin_access_key=DEMO_ADMIN)
    app = create_app(settings)
    app.state.runtime.workflow_host.api.activity_poll_seconds = activity_poll_seconds
    with serve_in_thread(app, free_port()) as base:
        yield Served(base, app)


def database_for(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'workflows.db'}"
    asyncio.run(_reset_postgres())
    return PG_URL


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def wait_until_done(client: Any, execution_arn: str, timeout: float = 15.0) -> dict[str, Any]:
    """DescribeExecution until the execution is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING"
        time.sleep(0.02)


def error_code(exc: Any) -> str:
    return str(exc.response["Error"]["Code"])


def create_machine(client: Any, name: str, definition: str | Mapping[str, Any] = PASS_MACHINE,
                   machine_type: str = "STANDARD") -> str:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    arn: str = client.create_state_machine(name=name, definition=text, roleArn=ROLE, type=machine_type)[
        "stateMachineArn"]
    return arn
