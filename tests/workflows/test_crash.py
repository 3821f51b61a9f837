"""Kill -9 the engine at random points, restart it, and check nothing was lost or run twice."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from datasources.sql import open_database
from tests.conftest import REPO
from workflows.engine.store import SqlExecutionStore

EXECUTIONS = 6
KILLS = 5


def _start(url: str, ledger: Path, generation: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRELLIS_LEDGER": str(ledger), "TRELLIS_GENERATION": str(generation)}
    log = (ledger.parent / f"{ledger.stem}-{generation}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "tests.workflows.crash_worker", url, str(EXECUTIONS)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


async def _committed_task_keys(url: str) -> set[str]:
    """Keys of the tasks whose success the store holds (what a restart must not run again)."""
    database = open_database(url)
    store = SqlExecutionStore(database)
    try:
        await store.setup()  # a kill before the worker created its tables leaves none
        keys: set[str] = set()
        for index in range(EXECUTIONS):
            arn = f"arn:aws:states:us-east-1:123456789012:execution:crash:run-{index}"
            if await store.get_execution(arn) is None:
                continue
            for event in await store.history(arn, False, None, 10_000):
                if event.type == "TaskSucceeded" and event.details:
                    output = json.loads(event.details["taskSucceededEventDetails"]["output"])
                    keys.add(output["key"])
        return keys
    finally:
        await database.close()


async def _outputs(url: str) -> dict[str, Any]:
    database = open_database(url)
    store = SqlExecutionStore(database)
    try:
        results = {}
        for index in range(EXECUTIONS):
            execution = await store.get_execution(f"arn:aws:states:us-east-1:123456789012:execution:crash:run-{index}")
            assert execution is not None
            results[execution.name] = (execution.status, json.loads(execution.output or "null"), execution.cause)
        return results
    finally:
        await database.close()


def _ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_executions_survive_repeated_sigkill_with_the_same_outputs_and_no_completed_task_rerun(
        tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("TRELLIS_CRASH_SEED", "7"))
    # The reference: the same executions, never interrupted.
    calm_url = f"sqlite:///{tmp_path / 'calm.db'}"
    calm = _start(calm_url, tmp_path / "calm.ledger", 0)
    assert await asyncio.to_thread(calm.wait, 90) == 0, (tmp_path / "calm-0.log").read_text()
    expected = await _outputs(calm_url)
    assert all(status == "SUCCEEDED" for status, _, _ in expected.values()), expected

    url = f"sqlite:///{tmp_path / 'crashy.db'}"
    ledger = tmp_path / "crashy.ledger"
    committed_before: dict[int, set[str]] = {}
    generation = 0
    for generation in range(1, KILLS + 1):
        process = _start(url, ledger, generation)
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
        committed_before[generation] = await _committed_task_keys(url)
    final = _start(url, ledger, generation + 1)
    assert await asyncio.to_thread(final.wait, 120) == 0, (tmp_path / f"crashy-{generation + 1}.log").read_text()

    assert await _outputs(url) == expected
    runs = _ledger(ledger)
    for killed, committed in committed_before.items():
        later = {entry["key"] for entry in runs if int(entry["generation"]) > killed}
        assert not committed & later, f"tasks completed before kill {killed} ran again: {committed & later}"
    assert len(committed_before) >= 2, "the processes ended before being killed: make the workflow longer"
