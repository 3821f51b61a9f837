"""Workflow benchmark: Trellis's ASL engine, durable and Express, beside aws-local-stepfunctions.

    python -m bench.run --workflows            # 3 interleaved runs, medians (about 3 minutes)
    python -m bench.run --workflows --quick    # 1 run of small counts: a smoke test of the harness
    python -m bench.run --workflows --profile  # also record py-spy profiles of the Trellis runs

The same three definitions (``bench/workflows/definitions/``) run on three contenders:

* **Trellis durable** (Standard): ``WorkflowEngine`` over ``SqlExecutionStore`` on a fresh SQLite
  file (WAL, ``synchronous=FULL``: an acknowledged start or transition survives power loss);
* **Trellis Express**: ``WorkflowEngine.run_express`` (in memory, nothing persisted);
* **aws-local-stepfunctions**, the npm package (an in-memory TypeScript interpreter), in one Node
  process (``bench/workflows/run.mjs``; installed by ``npm ci`` in ``bench/workflows/``).

Each contender runs in its own process, pinned to the same CPU, with the same counts: a few
untimed warm-up executions, then ``count`` executions started at once, timed until every one has
ended. *Transitions* are states entered (the ``...StateEntered`` history events), counted after the
clock stops; transitions/s = states entered / that wall time. For the durable engine, *starts/s* is
``count`` / the time until every ``start_execution`` call was acknowledged (each one a committed
insert, while the executions already started keep running). Runs are interleaved (durable,
Express, Node; then again) and medians are reported. Afterwards every execution is checked: it
succeeded, with the expected output and the expected number of states entered — for the durable
engine by reading the SQLite file with the stdlib ``sqlite3`` after the engine closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.run import commit, loadavg
from bench.workflows.report import TITLES, goals, hotspots, medians, render, write_doc

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "bench" / "workflows"
DEFINITIONS = NODE_DIR / "definitions"
NODE_SCRIPT = NODE_DIR / "run.mjs"
RESULTS = REPO / "bench" / "results"
FUNCTION_NAME = "bench-add-one"  # the Task chain's Resource names this function data source
CONTENDERS = ("durable", "express", "node")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_one(event: Any) -> Any:
    """The Task chain's function (a ``function`` data source); run.mjs has the same one in JS."""
    return {"value": event["value"] + 1}


# -- workloads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    definition: Path
    input: Any
    expected_output: Any
    transitions: int        # states entered per execution
    count: int              # executions per timed run
    warmup: int             # untimed executions first

    def plan(self) -> dict[str, Any]:
        """What a contender process needs (JSON, for run.mjs and the Python child alike)."""
        return {"name": self.name, "definition": str(self.definition), "count": self.count,
                "input": self.input, "warmup": self.warmup}


LOOP_LIMIT = 50
DEFAULT_COUNTS = {"loop": 500, "map": 20, "tasks": 1000}
QUICK_COUNTS = {"loop": 10, "map": 2, "tasks": 10}


def workloads(quick: bool, counts: dict[str, int] | None = None) -> list[Workload]:
    chosen = {**(QUICK_COUNTS if quick else DEFAULT_COUNTS), **(counts or {})}
    # Items start at 1: aws-local-stepfunctions 3.0.0 fails "$" on an item of 0 ("Path expression '$'
    # does not point to a value"), and the point here is speed, not that quirk.
    items = list(range(1, (100 if quick else 1000) + 1))
    return [
        Workload("loop", f"Pass/Choice loop, States.MathAdd x {LOOP_LIMIT}", DEFINITIONS / "loop.asl.json",
                 {"limit": LOOP_LIMIT}, {"count": LOOP_LIMIT, "limit": LOOP_LIMIT}, 2 * LOOP_LIMIT + 3,
                 chosen["loop"], 2 if quick else 20),
        Workload("map", f"inline Map of a Pass over {len(items):,} items", DEFINITIONS / "map.asl.json",
                 {"items": items}, [{"item": i} for i in items], 1 + len(items), chosen["map"], 1 if quick else 2),
        Workload("tasks", "10 Tasks calling an in-process function", DEFINITIONS / "tasks.asl.json",
                 {"value": 0}, {"value": 10}, 10, chosen["tasks"], 2 if quick else 20),
    ]


# -- Trellis --------------------------------------------------------------------------------------


class _EndCounter:
    """An ``ExecutionObserver``: counts the executions of one state machine that have ended."""

    def __init__(self, machine_arn: str, expected: int) -> None:
        self.machine_arn = machine_arn
        self.expected = expected
        self.ended = 0
        self.all_ended = asyncio.Event()

    def execution_changed(self, execution_arn: str, state_machine_arn: str, events: Sequence[Any],
                          status: str) -> None:
        if state_machine_arn == self.machine_arn and status != "RUNNING":
            self.ended += 1
            if self.ended >= self.expected:
                self.all_ended.set()


class TrellisSide:
    """One engine as a Trellis instance builds it, over a fresh SQLite file, with the Task chain's
    function registered as a ``function`` data source."""

    def __init__(self, directory: Path) -> None:
        from datasources.function import FunctionDataSource
        from datasources.sql import open_database
        from workflows.engine.engine import EngineOptions, WorkflowEngine
        from workflows.engine.runners import register_engine_runners
        from workflows.engine.store import SqlExecutionStore
        from workflows.engine.tasks import TaskRegistry

        self.path = directory / "bench.db"
        self.database = open_database(f"sqlite:///{self.path}")
        registry = TaskRegistry()
        self.engine = WorkflowEngine(SqlExecutionStore(self.database), registry,
                                     options=EngineOptions(instance_id="bench"))
        self.function = FunctionDataSource(FUNCTION_NAME, handler=f"{__name__}:add_one", timeout_seconds=60)
        sources = {FUNCTION_NAME: self.function}
        register_engine_runners(registry, self.engine, sources.get)

    async def start(self, *, durable: bool) -> None:
        await self.function.start()
        if durable:
            await self.engine.start()
        else:
            await self.engine.store.setup()

    async def machine(self, name: str, definition: str, kind: str) -> Any:
        from workflows.engine.records import StateMachine

        now = self.engine.clock.now()
        record = StateMachine(arn=self.engine.arn("stateMachine", name), name=name, type=kind, definition=definition,
                              role_arn="arn:aws:iam::123456789012:role/bench", status="ACTIVE", created=now,
                              updated=now, revision_id="1")
        return await self.engine.store.create_state_machine(record)

    async def close(self) -> None:
        await self.engine.close()
        await self.function.close()
        await self.database.close()


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_durable(side: TrellisSide, workload: Workload, *, patience_seconds: float) -> dict[str, Any]:
    """Start the workload's executions at once on a started engine; time the acknowledgements and
    the end of the last execution."""
    definition = workload.definition.read_text()
    input_text = json.dumps(workload.input)
    if workload.warmup:
        warm = await side.machine(f"{workload.name}-warmup", definition, "STANDARD")
        counter = _EndCounter(warm.arn, workload.warmup)
        side.engine.observers.append(counter)
        await asyncio.gather(*(side.engine.start_execution(warm, f"w{i}", input_text) for i in range(workload.warmup)))
        await asyncio.wait_for(counter.all_ended.wait(), patience_seconds)
        side.engine.observers.remove(counter)
    machine = await side.machine(workload.name, definition, "STANDARD")
    counter = _EndCounter(machine.arn, workload.count)
    side.engine.observers.append(counter)
    acknowledged: list[float] = []

    async def start(index: int) -> None:
        began = time.perf_counter()
        await side.engine.start_execution(machine, f"e{index}", input_text)
        acknowledged.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(start(i) for i in range(workload.count)))
    starts_seconds = time.perf_counter() - began
    with contextlib.suppress(TimeoutError):  # stalled executions fail the check afterwards
        await asyncio.wait_for(counter.all_ended.wait(), patience_seconds)
    seconds = time.perf_counter() - began
    side.engine.observers.remove(counter)
    return {"seconds": seconds, "starts_seconds": starts_seconds, "ended_in_time": counter.ended,
            "start_p50_ms": 1000 * (_percentile(acknowledged, 0.5) or 0.0),
            "start_p99_ms": 1000 * (_percentile(acknowledged, 0.99) or 0.0), "machine_arn": machine.arn}


def check_durable_file(path: Path, machine_arn: str, workload: Workload) -> dict[str, Any]:
    """Read the executions back from the SQLite file itself (the engine is closed by now)."""
    from workflows.engine import tables

    executions, events = tables.executions.name, tables.events.name
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(f"SELECT arn, status, output FROM {executions} WHERE state_machine_arn = ?",  # noqa: S608
                            (machine_arn,)).fetchall()
        (entered,) = conn.execute(
            f"SELECT count(*) FROM {events} e JOIN {executions} x ON x.arn = e.execution_arn "  # noqa: S608
            "WHERE x.state_machine_arn = ? AND e.type LIKE '%StateEntered'", (machine_arn,)).fetchone()
    succeeded = [r for r in rows if r[1] == "SUCCEEDED"]
    right = sum(1 for r in succeeded if json.loads(r[2]) == workload.expected_output)
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row[1]] = statuses.get(row[1], 0) + 1
    return {"executions": len(rows), "statuses": statuses, "right_output": right, "transitions": int(entered)}


async def run_express(side: TrellisSide, workload: Workload) -> dict[str, Any]:
    definition = workload.definition.read_text()
    input_text = json.dumps(workload.input)
    machine = await side.machine(workload.name, definition, "EXPRESS")
    if workload.warmup:
        await asyncio.gather(*(side.engine.run_express(machine, None, input_text) for _ in range(workload.warmup)))
    began = time.perf_counter()
    results = await asyncio.gather(*(side.engine.run_express(machine, None, input_text)
                                     for _ in range(workload.count)))
    seconds = time.perf_counter() - began
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.result.status] = statuses.get(r.result.status, 0) + 1
    failure = next((r.result for r in results if r.result.status != "SUCCEEDED"), None)
    return {
        "seconds": seconds, "executions": len(results), "statuses": statuses,
        "right_output": sum(1 for r in results if r.result.status == "SUCCEEDED"
                            and r.result.output == workload.expected_output),
        "transitions": sum(1 for r in results for e in r.history if e.type.endswith("StateEntered")),
        "first_failure": None if failure is None else f"{failure.error}: {failure.cause}",
    }


async def measure_trellis(mode: str, plan: Sequence[Workload], workdir: Path,
                          patience_seconds: float = 300.0) -> list[dict[str, Any]]:
    """One contender's run of every workload, in this process: one result per workload."""
    out: list[dict[str, Any]] = []
    for index, workload in enumerate(plan):
        directory = workdir / f"{mode}-{index}-{workload.name}"
        directory.mkdir(parents=True)
        side = TrellisSide(directory)
        try:
            await side.start(durable=mode == "durable")
            if mode == "durable":
                timed = await run_durable(side, workload, patience_seconds=patience_seconds)
            else:
                timed = await run_express(side, workload)
        finally:
            await side.close()
        if mode == "durable":
            timed.update(check_durable_file(side.path, timed.pop("machine_arn"), workload))
        out.append(summarize(workload, timed))
    return out


def summarize(workload: Workload, timed: dict[str, Any]) -> dict[str, Any]:
    """Rates and the correctness verdict of one contender's run of one workload."""
    seconds = timed["seconds"]
    expected_transitions = workload.count * workload.transitions
    problems = []
    if timed.get("statuses", {}).get("SUCCEEDED", timed.get("succeeded", 0)) != workload.count:
        problems.append(f"statuses {timed.get('statuses') or timed.get('succeeded')}, expected "
                        f"{workload.count} SUCCEEDED" + (f" ({timed['first_failure']})"
                                                         if timed.get("first_failure") else ""))
    if timed.get("right_output", workload.count) != workload.count:
        problems.append(f"{workload.count - timed['right_output']} executions with a wrong output")
    if timed["transitions"] != expected_transitions:
        problems.append(f"{timed['transitions']} states entered, expected {expected_transitions}")
    result = {"workload": workload.name, "executions": workload.count, **timed,
              "transitions_per_second": timed["transitions"] / seconds if seconds else None,
              "executions_per_second": workload.count / seconds if seconds else None,
              "ok": not problems, "problems": problems}
    if "starts_seconds" in timed:
        result["starts_per_second"] = workload.count / timed["starts_seconds"]
    return result


# -- aws-local-stepfunctions ----------------------------------------------------------------------


def node_problem() -> str | None:
    """Why the Node contender cannot run, or None; installs its package (npm ci) when missing."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if (NODE_DIR / "node_modules" / "aws-local-stepfunctions" / "package.json").exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed (needed once: npm ci in bench/workflows)"
    log("workflows: npm ci in bench/workflows (aws-local-stepfunctions)")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        return f"npm ci in bench/workflows failed: {done.stderr.strip()[-500:]}"
    return None


def measure_node(plan: Sequence[Workload], workdir: Path, cpu: str | None) -> list[dict[str, Any]]:
    plan_file = workdir / "node-plan.json"
    plan_file.write_text(json.dumps([w.plan() for w in plan]))
    command = _pinned(["node", str(NODE_SCRIPT), str(plan_file)], cpu)
    done = subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"aws-local-stepfunctions run failed: {done.stderr[-2000:]}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    by_name = {w.name: w for w in plan}
    out = []
    for line in lines:
        workload = by_name[line["name"]]
        outputs = line.pop("distinct_outputs")
        line["right_output"] = line["succeeded"] if outputs == [workload.expected_output] else 0
        out.append(summarize(workload, line))
    return out


# -- running the contenders, each in its own pinned process ---------------------------------------


def _pinned(command: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu is not None else command


def _event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop when installed, as uvicorn's default picks it for a Trellis server."""
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def child_main(argv: Sequence[str]) -> int:
    """``python -m bench.workflows_run MODE PLAN_JSON WORKDIR``: one Trellis contender's run."""
    mode, plan_path, workdir = argv
    spec = json.loads(Path(plan_path).read_text())
    plan = [Workload(**{**w, "definition": Path(w["definition"])}) for w in spec]
    factory, loop_name = _event_loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(measure_trellis(mode, plan, Path(workdir)))
    for result in results:
        print(json.dumps({**result, "event_loop": loop_name}), flush=True)
    return 0


def measure_trellis_process(mode: str, plan: Sequence[Workload], workdir: Path, cpu: str | None,
                            profile_to: Path | None = None) -> list[dict[str, Any]]:
    plan_file = workdir / f"{mode}-plan.json"
    plan_file.write_text(json.dumps([{**w.__dict__, "definition": str(w.definition)} for w in plan]))
    rundir = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir))
    command = [sys.executable, "-m", "bench.workflows_run", mode, str(plan_file), str(rundir)]
    if profile_to is not None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [spy, "record", "--rate", "250", "--format", "raw", "--nonblocking", "--threads",
                   "-o", str(profile_to), "--", *command]
    done = subprocess.run(_pinned(command, cpu), cwd=REPO, capture_output=True, text=True, check=False)
    shutil.rmtree(rundir, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"Trellis {mode} run failed: {done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


# -- the run --------------------------------------------------------------------------------------


def _counts(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    pairs = (part.split("=", 1) for part in text.split(",") if part)
    return {name.strip(): int(value) for name, value in pairs}


def _node_versions() -> dict[str, str | None]:
    node = shutil.which("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip() \
        if node else None
    package = NODE_DIR / "node_modules" / "aws-local-stepfunctions" / "package.json"
    als = json.loads(package.read_text())["version"] if package.exists() else None
    return {"node": version, "aws-local-stepfunctions": als}


def _machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "workflows", "datasources"], cwd=REPO,
                           capture_output=True, text=True, check=False).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "trellis_commit": commit(), "trellis_dirty": bool(dirty), **_node_versions()}


def main(args: argparse.Namespace) -> int:
    if getattr(args, "render", None):
        saved: dict[str, Any] = json.loads(Path(args.render).read_text())
        for key in saved.get("profile") or {}:  # recount from the raw stacks while they are there
            raw = RESULTS / f"profile-workflows-{key.replace('/', '-')}.txt"
            if raw.exists():
                saved["profile"][key] = hotspots(raw.read_text())
        text = render(saved)
        print(text)
        if not args.no_doc:
            write_doc(text)
        return 0
    plan = workloads(args.quick, _counts(getattr(args, "workflow_counts", None)))
    runs = 1 if args.quick else args.runs
    cpu = None if args.server_cpu == "none" or shutil.which("taskset") is None else args.server_cpu
    skip_node = node_problem()
    if skip_node:
        log(f"workflows: the aws-local-stepfunctions baseline is skipped: {skip_node}")
    contenders = [c for c in CONTENDERS if c != "node" or skip_node is None]
    started = dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "command": "python -m bench.run " + " ".join(sys.argv[1:]) if sys.argv[1:] else "python -m bench.run",
        "started": started.isoformat(timespec="seconds"), "quick": args.quick, "runs": runs, "cpu": cpu,
        "machine": {**_machine(), "loadavg_before": loadavg()}, "node_skipped": skip_node,
        "workloads": [{"name": w.name, "title": w.title, "executions": w.count, "warmup": w.warmup,
                       "transitions_per_execution": w.transitions, "definition": str(w.definition.relative_to(REPO))}
                      for w in plan],
        "runs_by_contender": {c: [] for c in contenders},
    }
    with tempfile.TemporaryDirectory(prefix="trellis-workflows-") as tmp:
        workdir = Path(tmp)
        for run in range(runs):  # interleaved, so drift on the machine hits every contender alike
            for contender in contenders:
                log(f"workflows: run {run + 1}/{runs}: {TITLES[contender]}")
                if contender == "node":
                    results = measure_node(plan, workdir, cpu)
                else:
                    results = measure_trellis_process(contender, plan, workdir, cpu)
                record["runs_by_contender"][contender].append(results)
                for r in results:
                    log(f"  {r['workload']}: {r['transitions_per_second']:,.0f} transitions/s"
                        + (f", {r['starts_per_second']:,.0f} starts/s" if "starts_per_second" in r else "")
                        + ("" if r["ok"] else f"  WRONG: {'; '.join(r['problems'])}"))
        if args.profile:
            record["profile"] = profile(plan, workdir, cpu)
    finished = dt.datetime.now(dt.UTC)
    record["elapsed_s"] = round((finished - started).total_seconds(), 1)
    record["machine"]["loadavg_after"] = loadavg()
    record["medians"] = medians(record)
    record["goals"] = goals(record)
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    # A smoke test's numbers must not pass for a measurement (nor replace the latest one).
    for name in (("workflows-quick.json",) if args.quick else (f"workflows-{stamp}.json", "workflows-latest.json")):
        (RESULTS / name).write_text(json.dumps(record, indent=2))
    text = render(record)
    print(text)
    if not args.no_doc and not args.quick:
        write_doc(text)
        log(f"workflows: wrote the workflows section of docs/benchmarks.md and bench/results/workflows-{stamp}.json")
    elif args.quick:
        log("workflows: quick mode: results in bench/results/workflows-quick.json, docs/benchmarks.md untouched")
    all_ok = all(r["ok"] for runs_ in record["runs_by_contender"].values() for results in runs_ for r in results)
    return 0 if all_ok else 1


def profile(plan: Sequence[Workload], workdir: Path, cpu: str | None) -> dict[str, Any]:
    """One more run of each Trellis contender and workload under py-spy (a process each, so every
    profile is one workload's); raw stacks kept in bench/results/."""
    out: dict[str, Any] = {}
    RESULTS.mkdir(exist_ok=True)
    for mode in ("durable", "express"):
        for workload in plan:
            target = RESULTS / f"profile-workflows-{mode}-{workload.name}.txt"
            log(f"workflows: profiling {TITLES[mode]}, {workload.name}, with py-spy -> {target.relative_to(REPO)}")
            measure_trellis_process(mode, [workload], workdir, cpu, profile_to=target)
            out[f"{mode}/{workload.name}"] = hotspots(target.read_text())
    return out


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
