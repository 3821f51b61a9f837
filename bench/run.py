"""Run the benchmark: raw Starlette, stock graphql-core, Strawberry and Trellis, side by side.

    python -m bench.run                      # 3 runs x 10 s per scenario and server (~12 min)
    python -m bench.run --quick              # 1 run x 3 s: a smoke test of the harness
    python -m bench.run --profile            # also profile Trellis under load with py-spy
    python -m bench.run --auth               # per-mode authorization cost instead (bench/auth_modes.py)
    python -m bench.run --fanout             # subscription fan-out to 1,000 subscribers (bench/fanout_run.py)
    python -m bench.run --workflows          # the ASL engine beside aws-local-stepfunctions (bench/workflows_run.py)

Steps: seed a SQLite database through Trellis's own ``createProduct``; give every server an
identical copy; start each server (one uvicorn worker, pinned to CPU 0); check one answer per
scenario and server; warm up; run wrk (pinned to CPU 1) for every scenario, server and run,
interleaved; take medians; then measure latency at a fixed offered load (a fraction of the
slowest server's median) with the open-loop generator in ``bench/loadgen.py``; check that every
acknowledged create is in the database; write ``bench/results/*.json`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import report
from bench.scenarios import (
    CONTENDERS,
    SCENARIOS,
    Contender,
    check,
    create_body_template,
    get_bodies,
    list_body,
    small_body,
)
from bench.wrk import WRK_MISSING, run_wrk, write_script, wrk_path, wrk_version

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "benchmarks.md"
API_KEY = "da2-benchbenchbenchbenchbenchb"
HOST = "127.0.0.1"
SERVER_MODULES = {
    "raw": "bench.baselines.starlette_raw:app",
    "strawberry": "bench.baselines.strawberry_app:app",
    "graphql_core": "bench.baselines.graphql_core_stock:app",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu is not None else command


@dataclass
class Server:
    contender: Contender
    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def runtime(self) -> dict[str, str]:
        """The event loop and HTTP parser uvicorn really uses, from the process's loaded libraries."""
        try:
            maps = Path(f"/proc/{self.process.pid}/maps").read_text()
        except OSError:
            return {"loop": "unknown", "http": "unknown"}
        return {"loop": "uvloop" if "/uvloop/" in maps else "asyncio",
                "http": "httptools" if "/httptools/" in maps else "h11"}

    @property
    def db(self) -> Path:
        return self.directory / "trellis.db"

    def url(self, scenario: str) -> str:
        return f"http://{HOST}:{self.port}{self.contender.paths[scenario]}"

    def path(self, scenario: str) -> str:
        return self.contender.paths[scenario]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _strip_auth(sdl: str) -> str:
    """The demo schema without ``@auth(rules: [...])`` and ``@aws_*`` directives."""
    out, i = [], 0
    while i < len(sdl):
        if sdl.startswith("@auth(", i):
            depth, i = 0, i + len("@auth")
            while True:  # skip the balanced argument list (rules may span lines and hold comments)
                depth += {"(": 1, ")": -1}.get(sdl[i], 0)
                i += 1
                if depth == 0:
                    break
            continue
        out.append(sdl[i])
        i += 1
    return re.sub(r"@aws_(?!subscribe)\w+(\([^)]*\))?", "", "".join(out))


def core_schema(directory: Path) -> Path:
    """The demo app as the core scenarios measure it: API_KEY alone, like the baselines (which have
    no auth). The demo's several modes and @auth rules are measured by ``--auth``; here they would
    only turn the API key's writes away."""
    schema = directory / "schema.graphql"
    schema.write_text(_strip_auth((REPO / "schema.graphql").read_text()))
    kept, skipping = [], False
    for line in (REPO / "trellis.toml").read_text().splitlines():
        if line.startswith("["):
            skipping = line.startswith("[auth")
        if not skipping:
            kept.append(line)
    (directory / "trellis.toml").write_text("\n".join(kept) + "\n")
    return schema


def start_server(contender: Contender, directory: Path, cpu: str | None, raw_db: str) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLIS_", "BENCH_"))}
    if contender.name == "trellis":
        command = [sys.executable, "-m", "app.cli", "serve", "--schema", str(core_schema(directory)),
                   "--port", str(port)]
        env.update(TRELLIS_API_KEY=API_KEY, TRELLIS_DATA_DIR=str(directory))
    else:
        command = [sys.executable, "-m", "uvicorn", SERVER_MODULES[contender.name], "--host", HOST,
                   "--port", str(port), "--no-access-log", "--log-level", "warning"]
        env.update(BENCH_DB=str(directory / "trellis.db"), BENCH_RAW_DB=raw_db)
    log_path = directory / "server.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(pinned(command, cpu), cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(contender, directory, port, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{contender.title} exited with {process.returncode}:\n"
                               f"{log_path.read_text()[-3000:]}")
        try:
            status, _ = request_json(port, "GET", "/health", None)
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{contender.title} did not become healthy in 60 s:\n{log_path.read_text()[-3000:]}")


def request_json(port: int, method: str, path: str, body: str | None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", "x-api-key": API_KEY}
        conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


# -- data -----------------------------------------------------------------------------------------

CATEGORIES = ("tools", "garden", "kitchen", "office", "toys", "books", "audio", "sport", "travel", "pets")
LABELS = ("new", "sale", "eco", "bulk", "gift", "fragile", "limited", "import")


async def _seed_products(port: int, count: int) -> None:
    import random

    import httpx

    from bench.scenarios import CREATE_MUTATION, body

    rng = random.Random(20240601)
    inputs = [
        {
            "sku": f"SKU-{i:05d}",
            "name": f"Product {i}",
            "description": f"Benchmark product number {i}, seeded through createProduct.",
            "priceCents": rng.randint(100, 100_000),
            "category": rng.choice(CATEGORIES),
            "labels": rng.sample(LABELS, 2),
            "active": i % 10 != 0,
        }
        for i in range(count)
    ]
    limit = asyncio.Semaphore(16)
    headers = {"x-api-key": API_KEY, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as client:

        async def create(data: dict[str, Any]) -> None:
            async with limit:
                response = await client.post("/graphql", content=body(CREATE_MUTATION, {"input": data}),
                                             headers=headers)
                payload = response.json()
                if response.status_code != 200 or payload.get("errors"):
                    raise RuntimeError(f"seeding failed: {response.status_code} {payload}")

        await asyncio.gather(*(create(d) for d in inputs))


def seed(workdir: Path, count: int, cpu: str | None) -> Path:
    """A data directory with ``count`` products, created through Trellis's own API."""
    seed_dir = workdir / "seed"
    seed_dir.mkdir()
    trellis = next(c for c in CONTENDERS if c.name == "trellis")
    server = start_server(trellis, seed_dir, cpu, "aiosqlite")
    try:
        started = time.monotonic()
        asyncio.run(_seed_products(server.port, count))
        log(f"seeded {count} products through Trellis in {time.monotonic() - started:.1f} s")
    finally:
        server.stop()
    with sqlite3.connect(seed_dir / "trellis.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (rows,) = conn.execute('SELECT count(*) FROM "Product"').fetchone()
    if rows != count:
        raise RuntimeError(f"seeding left {rows} products, expected {count}")
    return seed_dir


def copy_database(seed_dir: Path, target: Path) -> None:
    target.mkdir()
    for name in ("trellis.db", "trellis.db-wal", "token.key"):
        if (seed_dir / name).exists():
            shutil.copy2(seed_dir / name, target / name)


def expectations(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute('SELECT id FROM "Product" ORDER BY id')]
        first_page = [
            {"id": r[0], "name": r[1], "priceCents": r[2]}
            for r in conn.execute('SELECT id, name, "priceCents" FROM "Product" ORDER BY id LIMIT 100')
        ]
        probe = ids[len(ids) // 2]
        r = conn.execute('SELECT id, sku, name, "priceCents" FROM "Product" WHERE id = ?', (probe,)).fetchone()
    product = {"id": r[0], "sku": r[1], "name": r[2], "priceCents": r[3]}
    return {"ids": ids, "first_page": first_page, "product": product}


def count_rows(db: Path, sku_like: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (n,) = conn.execute('SELECT count(*) FROM "Product" WHERE sku LIKE ?', (sku_like,)).fetchone()
    return int(n)


def verify(server: Server, scenario: str, expect: dict[str, Any]) -> None:
    """One request, checked for errors and for the expected data, before anything is timed."""
    from bench.scenarios import CREATE_MUTATION, GET_QUERY, body

    if scenario == "small":
        payload = small_body()
    elif scenario == "get":
        payload = body(GET_QUERY, {"id": expect["product"]["id"]})
    elif scenario == "list":
        payload = list_body()
    else:
        sku = f"verify-{server.contender.name}"
        payload = body(CREATE_MUTATION, {"input": {"sku": sku, "name": "Verify", "priceCents": 1234}})
        expect = {**expect, "sku": sku}
    status, response = request_json(server.port, "POST", server.path(scenario), payload)
    problems = [] if status == 200 else [f"HTTP {status}"]
    problems += check(scenario, response, expect)
    if scenario == "create" and not problems and count_rows(server.db, expect["sku"]) != 1:
        problems.append("create: the acknowledged row is not in the database file")
    if problems:
        raise RuntimeError(f"{server.contender.title} answers {scenario} wrongly: {'; '.join(problems)}")


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Plan:
    runs: int
    duration: float
    warmup: float
    connections: int
    latency_duration: float
    rate_fraction: float
    server_cpu: str | None
    client_cpu: str | None
    scenarios: tuple[str, ...]
    contenders: tuple[Contender, ...]
    workdir: Path
    ids: list[str] = field(default_factory=list)


def script_for(plan: Plan, server: Server, scenario: str, tag: str) -> Path:
    target = plan.workdir / "lua" / f"{scenario}-{server.contender.name}-{tag}.lua"
    target.parent.mkdir(exist_ok=True)
    path = server.path(scenario)
    if scenario == "small":
        return write_script(target, path, API_KEY, bodies=[small_body()])
    if scenario == "get":
        return write_script(target, path, API_KEY, bodies=get_bodies(plan.ids))
    if scenario == "list":
        return write_script(target, path, API_KEY, bodies=[list_body()])
    return write_script(target, path, API_KEY, template=create_body_template(), tag=tag)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> dict[str, tuple[int, int, int]]:
    """Per CPU from /proc/stat: (busy, steal, total) jiffies."""
    out: dict[str, tuple[int, int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        v = [int(x) for x in values[:8]]
        total = sum(v)
        idle = v[3] + v[4]  # idle + iowait
        out[name[3:]] = (total - idle - v[7], v[7], total)
    return out


def wrk_once(plan: Plan, server: Server, scenario: str, tag: str, duration: float) -> dict[str, Any]:
    script = script_for(plan, server, scenario, tag)
    stat_before = cpu_times()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before, wall_before = cpu_seconds(server.process.pid), time.monotonic()
    result = run_wrk(server.url(scenario), script, duration, plan.connections, plan.client_cpu)
    wall = time.monotonic() - wall_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["wrk_cpu_share"] = round((children_after.ru_utime - children_before.ru_utime
                                     + children_after.ru_stime - children_before.ru_stime) / wall, 3)
    # A saturated one-worker server on its own core shows ~1.0; much less means it waited (on
    # the disk, say) or something else on the machine took its CPU.
    share = (cpu_seconds(server.process.pid) - cpu_before) / wall
    result["server_cpu_share"] = round(share, 3)
    stat_after = cpu_times()
    for role, cpu in (("server", plan.server_cpu), ("client", plan.client_cpu)):
        if cpu is None or cpu not in stat_before or cpu not in stat_after:
            continue
        busy, steal, total = (a - b for a, b in zip(stat_after[cpu], stat_before[cpu], strict=True))
        if total > 0:
            result[f"{role}_cpu_busy"] = round(busy / total, 3)
            result[f"{role}_cpu_steal"] = round(steal / total, 3)
    if "server_cpu_busy" in result:
        # Whatever else ran on the server's CPU during the run (other processes, interrupts).
        result["server_cpu_others"] = round(max(0.0, result["server_cpu_busy"] - share), 3)
    if "client_cpu_busy" in result:
        result["client_cpu_others"] = round(max(0.0, result["client_cpu_busy"] - result["wrk_cpu_share"]), 3)
    return result


def fixed_load(plan: Plan, server: Server, scenario: str, rate: float) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": HOST, "port": server.port, "path": server.path(scenario), "headers": {"x-api-key": API_KEY},
        "rate": rate, "duration": plan.latency_duration, "warmup": min(1.0, plan.latency_duration / 3),
        "connections": plan.connections, "tag": f"lg-{server.contender.name}",
    }
    if scenario == "small":
        spec["bodies"] = [small_body()]
    elif scenario == "get":
        spec["bodies"] = get_bodies(plan.ids)
    elif scenario == "list":
        spec["bodies"] = [list_body()]
    else:
        spec["template"] = create_body_template()
    spec_path = plan.workdir / f"loadgen-{scenario}-{server.contender.name}.json"
    spec_path.write_text(json.dumps(spec))
    command = pinned([sys.executable, "-m", "bench.loadgen", str(spec_path)], plan.client_cpu)
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False,
                         timeout=plan.latency_duration + 120)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(plan: Plan, servers: dict[str, Server]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    acknowledged_creates = dict.fromkeys(servers, 0)

    def note_creates(name: str, scenario: str, result: dict[str, Any]) -> None:
        if scenario == "create":
            acknowledged_creates[name] += int(result.get("ok_requests", result.get("ok_total", 0)))

    if plan.warmup > 0:
        log(f"warming up: {plan.warmup:g} s per scenario and server")
        for scenario in plan.scenarios:
            for name, server in servers.items():
                result = wrk_once(plan, server, scenario, "warm", plan.warmup)
                note_creates(name, scenario, result)

    names = list(servers)
    for run in range(plan.runs):
        for scenario in plan.scenarios:
            shift = run % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order between runs
                result = wrk_once(plan, servers[name], scenario, f"r{run + 1}", plan.duration)
                note_creates(name, scenario, result)
                runs.append({"run": run + 1, "scenario": scenario, "contender": name, "wrk": result})
                errors = result["bad_status"] + result["graphql_errors"] + result["timeouts"]
                log(f"[run {run + 1}/{plan.runs}] {scenario:6} {name:12} {result['ok_rps']:9.1f} req/s"
                    f"  server CPU {result['server_cpu_share']:.2f}"
                    + (f"  ({errors} errors/timeouts)" if errors else ""))

    medians: dict[str, dict[str, float]] = {}
    for scenario in plan.scenarios:
        medians[scenario] = {}
        for name in names:
            values = [r["wrk"]["ok_rps"] for r in runs if r["scenario"] == scenario and r["contender"] == name]
            medians[scenario][name] = statistics.median(values)

    latency: dict[str, dict[str, Any]] = {}
    for scenario in plan.scenarios:
        rate = max(10.0, round(plan.rate_fraction * min(medians[scenario].values())))
        latency[scenario] = {"rate": rate, "results": {}}
        for name in names:
            result = fixed_load(plan, servers[name], scenario, rate)
            note_creates(name, scenario, result)
            latency[scenario]["results"][name] = result
            log(f"[fixed {rate:g}/s] {scenario:6} {name:12} p50 {result['p50_ms']:.2f} ms"
                f"  p99 {result['p99_ms']:.2f} ms"
                + (f"  (unfinished {result['unfinished']})" if result["unfinished"] else ""))

    integrity: dict[str, Any] = {}
    if "create" in plan.scenarios:
        for name, server in servers.items():
            rows = count_rows(server.db, "bench-%")
            integrity[name] = {"acknowledged": acknowledged_creates[name], "rows": rows,
                               "ok": rows >= acknowledged_creates[name]}
    return {"runs": runs, "medians": medians, "latency": latency, "create_integrity": integrity}


# -- profiling ------------------------------------------------------------------------------------


def profile_trellis(plan: Plan, server: Server) -> dict[str, Any]:
    from bench import profile

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        log("bench: py-spy is not installed ('pip install py-spy'); skipping the profile")
        return {}
    RESULTS.mkdir(exist_ok=True)
    profiles: dict[str, Any] = {}
    for scenario in plan.scenarios:
        raw = RESULTS / f"profile-trellis-{scenario}.txt"
        seconds = str(max(1, round(plan.duration)))
        record = pinned([spy, "record", "--pid", str(server.process.pid), "--rate", "100", "--format", "raw",
                         "--threads", "--nonblocking", "--duration", seconds, "--output", str(raw)],
                        plan.client_cpu)
        spy_process = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # py-spy attaches to the idle server, then the load starts
        result = wrk_once(plan, server, scenario, "prof", plan.duration)
        _, err = spy_process.communicate(timeout=plan.duration + 60)
        if spy_process.returncode != 0 or not raw.exists():
            log(f"bench: py-spy failed for {scenario}: {err.decode(errors='replace')[-500:]}")
            continue
        summary = profile.summarize(raw.read_text())
        summary["rps_while_profiled"] = result["ok_rps"]
        profiles[scenario] = summary
        log(f"profiled trellis {scenario}: {summary['samples']} samples -> {raw.relative_to(REPO)}")
    return profiles


# -- environment ----------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def loadavg() -> list[str] | None:
    """The 1, 5 and 15 minute load averages, as the benchmark reports record them."""
    path = Path("/proc/loadavg")
    return path.read_text().split()[:3] if path.exists() else None


def commit() -> str:
    """The Trellis commit being measured (short hash)."""
    return _git("rev-parse", "--short", "HEAD") or "unknown"


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "loadavg_after": loadavg(),
        "nproc": nproc or str(os.cpu_count()),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version(),
        "packages": {p: _version(p) for p in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn",
                                              "h11", "sqlalchemy", "aiosqlite", "py-spy")},
        "uvloop_installed": importlib.util.find_spec("uvloop") is not None,
        "httptools_installed": importlib.util.find_spec("httptools") is not None,
        "trellis_commit": commit(),
        "trellis_dirty": bool(_git("status", "--porcelain", "--", "app", "resolvers", "datasources", "auth")),
    }


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="wrk runs per scenario and server (median taken; default 3)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 run of 3 s, short warm-up and latency runs")
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds per scenario and server (default 2)")
    p.add_argument("--latency-duration", type=float, default=None,
                   help="seconds of fixed-rate load per scenario and server (default: --duration)")
    p.add_argument("--rate-fraction", type=float, default=0.5,
                   help="fixed offered load as a fraction of the slowest server's median req/s (default 0.5)")
    p.add_argument("--products", type=int, default=1000, help="products to seed (default 1000)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma list of {','.join(SCENARIOS)}")
    p.add_argument("--contenders", default=",".join(c.name for c in CONTENDERS),
                   help=f"comma list of {','.join(c.name for c in CONTENDERS)}")
    p.add_argument("--raw-db", choices=("aiosqlite", "threadpool"), default="aiosqlite",
                   help="how raw Starlette reaches sqlite3 (default aiosqlite)")
    p.add_argument("--server-cpu", default="0", help="CPU list for the servers (taskset); 'none' to not pin")
    p.add_argument("--client-cpu", default="1", help="CPU list for wrk and the load generator; 'none' to not pin")
    p.add_argument("--profile", action="store_true", help="also profile Trellis under wrk load with py-spy")
    p.add_argument("--auth", action="store_true",
                   help="measure each authorization mode's cost instead (bench/auth_modes.py)")
    p.add_argument("--fanout", action="store_true",
                   help="measure subscription fan-out instead (bench/fanout_run.py)")
    p.add_argument("--subscribers", type=int, default=1000, help="fan-out: subscribers (default 1000)")
    p.add_argument("--fanout-seconds", type=float, default=10.0, help="fan-out: seconds per phase (default 10)")
    p.add_argument("--fanout-runs", type=int, default=3, help="fan-out: interleaved runs, medians reported (default 3)")
    p.add_argument("--workflows", action="store_true",
                   help="measure the workflow (ASL) engine instead (bench/workflows_run.py)")
    p.add_argument("--workflow-counts", default=None, metavar="NAME=N,...",
                   help="workflows: executions per run, e.g. loop=500,map=20,tasks=1000 (the defaults)")
    p.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs, scripts)")
    p.add_argument("--render", metavar="RESULTS_JSON", default=None,
                   help="measure nothing: rewrite the tables and docs/benchmarks.md from a saved results file")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.duration = 1, 3.0
        args.warmup = 1.0 if args.warmup is None else args.warmup
        args.latency_duration = 2.0 if args.latency_duration is None else args.latency_duration
    args.warmup = 2.0 if args.warmup is None else args.warmup
    args.latency_duration = args.duration if args.latency_duration is None else args.latency_duration
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workflows:  # in-process engines and Node: no wrk, no servers
        from bench import workflows_run

        return workflows_run.main(args)
    if args.auth and args.render:
        from bench import auth_modes

        return auth_modes.render(Path(args.render), args.no_doc)
    if args.render:
        saved: dict[str, Any] = json.loads(Path(args.render).read_text())
        saved["goals"] = report.goals(saved)
        print(report.results_markdown(saved))
        if not args.no_doc:
            report.write_doc(DOC, saved)
            log(f"wrote {DOC.relative_to(REPO)} from {args.render}")
        return 0
    if wrk_path() is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    server_cpu = None if args.server_cpu == "none" else args.server_cpu
    client_cpu = None if args.client_cpu == "none" else args.client_cpu
    if shutil.which("taskset") is None or len(cpus) < 2:
        log("bench: fewer than 2 CPUs or no taskset: servers and load generators are not pinned")
        server_cpu = client_cpu = None
    if args.fanout:
        from bench import fanout_run

        return fanout_run.main(args, server_cpu, client_cpu)
    if args.auth:
        from bench import auth_modes

        return auth_modes.main(args, server_cpu, client_cpu)
    scenarios = tuple(s for s in args.scenarios.split(",") if s)
    unknown = set(scenarios) - set(SCENARIOS)
    wanted = [c for c in args.contenders.split(",") if c]
    contenders = tuple(c for c in CONTENDERS if c.name in wanted)
    if unknown or len(contenders) != len(set(wanted)):
        print(f"bench: unknown scenario or contender in {args.scenarios!r} / {args.contenders!r}", file=sys.stderr)
        return 2

    started = dt.datetime.now(dt.UTC)
    load_before = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    environment = machine()  # before anything starts: the code and packages the servers load
    command = "python -m bench.run" + ("" if argv is None and len(sys.argv) <= 1 else
                                       " " + " ".join(argv if argv is not None else sys.argv[1:]))
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    servers: dict[str, Server] = {}
    runtimes: dict[str, dict[str, str]] = {}
    try:
        seed_dir = seed(workdir, args.products, server_cpu)
        expect = expectations(seed_dir / "trellis.db")
        plan = Plan(args.runs, args.duration, args.warmup, args.connections, args.latency_duration,
                    args.rate_fraction, server_cpu, client_cpu, scenarios, contenders, workdir, expect["ids"])
        for contender in contenders:
            directory = workdir / contender.name
            copy_database(seed_dir, directory)
            servers[contender.name] = start_server(contender, directory, server_cpu, args.raw_db)
        for scenario in scenarios:
            for server in servers.values():
                verify(server, scenario, expect)
        runtimes = {name: server.runtime() for name, server in servers.items()}
        log("every server answers every scenario correctly; measuring "
            + ", ".join(f"{n}: {r['loop']}+{r['http']}" for n, r in runtimes.items()))
        results = measure(plan, servers)
        profiles = profile_trellis(plan, servers["trellis"]) if args.profile and "trellis" in servers else {}
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    finished = dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "elapsed_s": round((finished - started).total_seconds(), 1),
        "machine": {**environment, "loadavg_before": load_before,
                    "loadavg_after": machine()["loadavg_after"], "server_runtimes": runtimes},
        "config": {
            "runs": args.runs, "duration_s": args.duration, "warmup_s": args.warmup,
            "connections": args.connections, "latency_duration_s": args.latency_duration,
            "rate_fraction": args.rate_fraction, "products": args.products, "raw_db": args.raw_db,
            "server_cpu": server_cpu, "client_cpu": client_cpu, "wrk_threads": 1,
            "scenarios": list(scenarios), "contenders": [c.name for c in contenders],
        },
        **results,
        "profile": profiles,
    }
    record["goals"] = report.goals(record)
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(record, indent=2))
    (RESULTS / "latest.json").write_text(json.dumps(record, indent=2))
    tables = report.results_markdown(record)
    print(tables)
    if not args.no_doc:
        report.write_doc(DOC, record)
        log(f"wrote {DOC.relative_to(REPO)} and bench/results/{stamp}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
