"""Turn a results record (``bench/results/*.json``) into markdown tables and ``docs/benchmarks.md``."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from bench.scenarios import CONTENDERS, SCENARIO_TITLES

TITLES = {c.name: c.title for c in CONTENDERS}
SHORT = {"raw": "raw Starlette", "graphql_core": "graphql-core", "strawberry": "Strawberry", "trellis": "Trellis"}
NOTES_BEGIN, NOTES_END = "<!-- notes:begin -->", "<!-- notes:end -->"
PROFILE_BEGIN, PROFILE_END = "<!-- profile:begin -->", "<!-- profile:end -->"
# Written by ``python -m bench.run --auth`` (bench/auth_modes.py); kept when the main run rewrites the file.
AUTH_BEGIN, AUTH_END = "<!-- auth:begin -->", "<!-- auth:end -->"
FANOUT_BEGIN, FANOUT_END = "<!-- fanout:begin -->", "<!-- fanout:end -->"
WORKFLOWS_BEGIN, WORKFLOWS_END = "<!-- workflows:begin -->", "<!-- workflows:end -->"


def _median(record: dict[str, Any], scenario: str, name: str) -> float | None:
    value = record["medians"].get(scenario, {}).get(name)
    return float(value) if value is not None else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _fmt_rps(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def goals(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's four goals, each with its measured value and whether it is met."""
    connections = record["config"]["connections"]
    out = []

    def add(goal: str, target: str, value: float | None, threshold: float, unit: str, extra: str = "") -> None:
        measured = "not measured" if value is None else (f"{value:.2f}x" if unit == "x" else f"{value:,.0f} req/s")
        met = None if value is None else value >= threshold
        out.append({"goal": goal, "target": target, "measured": measured + extra, "met": met})

    def per_run(scenario: str, base: str) -> str:
        """The same ratio within each run (runs are interleaved, so each pair ran minutes apart)."""
        values = []
        for run in sorted({r["run"] for r in record["runs"]}):
            pair = {r["contender"]: r["wrk"]["ok_rps"] for r in record["runs"]
                    if r["run"] == run and r["scenario"] == scenario}
            if pair.get("trellis") and pair.get(base):
                values.append(pair["trellis"] / pair[base])
        return f" (per run {min(values):.2f}x to {max(values):.2f}x)" if len(values) > 1 else ""

    add("small query vs raw Starlette", ">= 0.35x",
        _ratio(_median(record, "small", "trellis"), _median(record, "small", "raw")), 0.35, "x",
        per_run("small", "raw"))
    add("getProduct on SQLite vs raw Starlette (its SQLite point-read endpoint)", ">= 0.25x",
        _ratio(_median(record, "get", "trellis"), _median(record, "get", "raw")), 0.25, "x",
        per_run("get", "raw"))
    add("listProducts(limit: 100) vs graphql-core's stock executor", ">= 2.00x",
        _ratio(_median(record, "list", "trellis"), _median(record, "list", "graphql_core")), 2.0, "x",
        per_run("list", "graphql_core"))
    integrity = record.get("create_integrity", {}).get("trellis")
    extra = ""
    create = _median(record, "create", "trellis")
    if integrity is not None:
        extra = (f"; {integrity['acknowledged']:,} acknowledged creates, {integrity['rows']:,} rows on disk"
                 + ("" if integrity["ok"] else " — ACKNOWLEDGED WRITES MISSING"))
        if not integrity["ok"]:
            create = 0.0
    add(f"createProduct, durable (WAL, synchronous=FULL), {connections} concurrent clients", ">= 1,000 req/s",
        create, 1000.0, "rps", extra)
    return out


def _names(record: dict[str, Any]) -> list[str]:
    chosen = record["config"]["contenders"]
    return [c.name for c in CONTENDERS if c.name in chosen]


def results_markdown(record: dict[str, Any]) -> str:
    names = _names(record)
    scenarios = record["config"]["scenarios"]
    cfg = record["config"]
    lines: list[str] = []
    lines.append(f"Median of {cfg['runs']} wrk runs of {cfg['duration_s']:g} s each, {cfg['connections']} connections, "
                 "successful responses per second (higher is better); the range over the runs in brackets.")
    lines.append("")
    lines.append("| Scenario | " + " | ".join(SHORT[n] for n in names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for s in scenarios:
        cells = []
        for n in names:
            values = [r["wrk"]["ok_rps"] for r in record["runs"] if r["scenario"] == s and r["contender"] == n]
            spread = f" ({min(values):,.0f} to {max(values):,.0f})" if len(values) > 1 else ""
            cells.append(_fmt_rps(_median(record, s, n)) + spread)
        lines.append(f"| {SCENARIO_TITLES[s]} | " + " | ".join(cells) + " |")
    lines.append("")

    lines.append("Server CPU use during those runs (median; 1.00 = the whole of its core, less = waiting on "
                 "the disk, or CPU taken by other processes on the machine):")
    lines.append("")
    lines.append("| Scenario | " + " | ".join(SHORT[n] for n in names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for s in scenarios:
        cells = []
        for n in names:
            shares = [r["wrk"]["server_cpu_share"] for r in record["runs"]
                      if r["scenario"] == s and r["contender"] == n and "server_cpu_share" in r["wrk"]]
            cells.append(f"{statistics.median(shares):.2f}" if shares else "—")
        lines.append(f"| {SCENARIO_TITLES[s]} | " + " | ".join(cells) + " |")
    lines.append("")
    runs = [r["wrk"] for r in record["runs"]]
    others = [w["server_cpu_others"] for w in runs if "server_cpu_others" in w]
    client_others = [w["client_cpu_others"] for w in runs if "client_cpu_others" in w]
    steal = [max(w.get("server_cpu_steal", 0), w.get("client_cpu_steal", 0)) for w in runs]
    wrk_cpu = [w["wrk_cpu_share"] for w in runs if "wrk_cpu_share" in w]
    if others and client_others and wrk_cpu:
        lines.append(f"Interference: other processes used a median {statistics.median(others):.0%} (worst run "
                     f"{max(others):.0%}) of the servers' CPU and {statistics.median(client_others):.0%} (worst "
                     f"{max(client_others):.0%}) of the client CPU during the wrk runs; hypervisor steal at most "
                     f"{max(steal):.0%}. wrk itself used at most {max(wrk_cpu):.0%} of its CPU.")
        lines.append("")

    for base in ("raw", "strawberry"):
        if base not in names:
            continue
        lines.append(f"Ratio of median req/s to {SHORT[base]} on the same scenario:")
        lines.append("")
        lines.append("| Scenario | " + " | ".join(SHORT[n] for n in names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for s in scenarios:
            cells = [_fmt_ratio(_ratio(_median(record, s, n), _median(record, s, base))) for n in names]
            lines.append(f"| {SCENARIO_TITLES[s]} | " + " | ".join(cells) + " |")
        lines.append("")

    if "trellis" in names and "raw" in names and "small" in scenarios:
        small = _median(record, "small", "raw")
        parts = [f"{s} {_fmt_ratio(_ratio(_median(record, s, 'trellis'), small))}" for s in scenarios if s != "small"]
        if parts:
            lines.append("Trellis against raw Starlette's constant `small` endpoint (the issue's "
                         "\"~11k rps per worker\" yardstick): " + ", ".join(parts) + ".")
            lines.append("")

    latency = record.get("latency", {})
    if latency:
        lines.append(f"Latency at a fixed offered load (open loop, {cfg['latency_duration_s']:g} s after a warm-up, "
                     f"{cfg['connections']} keep-alive connections; the rate is {cfg['rate_fraction']:g} x the slowest "
                     "server's median). p50 / p99 in milliseconds (lower is better), counted from each request's "
                     "scheduled send time whenever the server held it up (no coordinated omission), without the "
                     "generator's own timer slack:")
        lines.append("")
        lines.append("| Scenario | offered req/s | " + " | ".join(SHORT[n] for n in names) + " |")
        lines.append("|---|---:|" + "---:|" * len(names))
        for s in scenarios:
            entry = latency.get(s)
            if not entry:
                continue
            cells = []
            for n in names:
                r = entry["results"].get(n)
                if r is None or r.get("p50_ms") is None:
                    cells.append("—")
                    continue
                bad = r["bad_status"] + r["graphql_errors"] + r["connection_errors"] + r["unfinished"]
                cells.append(f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}" + (f" ({bad} failed)" if bad else ""))
            lines.append(f"| {SCENARIO_TITLES[s]} | {entry['rate']:,.0f} | " + " | ".join(cells) + " |")
        lines.append("")

    lines.append("Goals from the issue:")
    lines.append("")
    lines.append("| Goal | Target | Measured | Met |")
    lines.append("|---|---|---|---|")
    for g in record["goals"]:
        met = "n/a" if g["met"] is None else ("yes" if g["met"] else "**no**")
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {met} |")
    lines.append("")

    integrity = record.get("create_integrity") or {}
    if integrity:
        lines.append("Every acknowledged create is in the database file afterwards (rows may exceed "
                     "acknowledgements: wrk stops with requests in flight):")
        lines.append("")
        lines.append("| Server | acknowledged creates | `bench-%` rows on disk | OK |")
        lines.append("|---|---:|---:|---|")
        for n in names:
            i = integrity.get(n)
            if i:
                ok = "yes" if i["ok"] else "**no**"
                lines.append(f"| {SHORT[n]} | {i['acknowledged']:,} | {i['rows']:,} | {ok} |")
        lines.append("")
    return "\n".join(lines)


def _runtimes(machine: dict[str, Any]) -> str:
    runtimes = machine.get("server_runtimes") or {}
    kinds = {f"{r['loop']} event loop, {r['http']} HTTP parser" for r in runtimes.values()}
    if len(kinds) == 1:
        return f"every server on {kinds.pop()}"
    return "; ".join(f"{SHORT.get(n, n)}: {r['loop']} + {r['http']}" for n, r in runtimes.items()) or "unknown"


def _environment(record: dict[str, Any]) -> str:
    m = record["machine"]
    cfg = record["config"]
    pk = m["packages"]
    pinning = (f"servers pinned to CPU {cfg['server_cpu']}, wrk and the load generator to CPU {cfg['client_cpu']}"
               if cfg["server_cpu"] is not None else "no CPU pinning")
    dirty = " (with uncommitted changes)" if m["trellis_dirty"] else ""
    return "\n".join([
        f"- Command: `{record['command']}` (from the repository root, in `.venv`), "
        f"{record['elapsed_s'] / 60:.1f} min",
        f"- Date: {record['started']} (UTC); load average before / after: "
        f"{' '.join(m.get('loadavg_before') or ['?'])} / {' '.join(m.get('loadavg_after') or ['?'])}",
        f"- Machine: `nproc` = {m['nproc']}, {m['cpu_model']}, Linux {m['kernel']}; {pinning}",
        f"- Trellis commit {m['trellis_commit']}{dirty}; Python {m['python']}, SQLite {m['sqlite']}, {m['wrk']}",
        f"- strawberry-graphql {pk['strawberry-graphql']}, graphql-core {pk['graphql-core']}, "
        f"starlette {pk['starlette']}, uvicorn {pk['uvicorn']} ({_runtimes(m)}), SQLAlchemy {pk['sqlalchemy']}, "
        f"aiosqlite {pk['aiosqlite']}",
        f"- Data: {cfg['products']:,} products seeded through Trellis's `createProduct`; raw Starlette reaches "
        f"SQLite through {'aiosqlite' if cfg['raw_db'] == 'aiosqlite' else 'stdlib sqlite3 in the thread pool'}",
    ])


def profile_markdown(record: dict[str, Any]) -> str:
    profiles = record.get("profile") or {}
    if not profiles:
        return ""
    lines = [f"Profiled {record['started']} with `py-spy record --rate 100 --nonblocking --threads` on the Trellis "
             f"process while wrk ran each scenario for {record['config']['duration_s']:g} s "
             "(py-spy shares the client CPU with wrk, so these runs can be slower). Percentages are of all "
             "non-idle samples of all the process's threads; \"inclusive\" counts a function with everything "
             "it calls. Raw stacks: `bench/results/profile-trellis-<scenario>.txt`.", ""]
    for scenario, summary in profiles.items():
        lines.append(f"**{SCENARIO_TITLES[scenario]}** — {summary['samples']:,} samples, "
                     f"{summary['rps_while_profiled']:,.0f} req/s while profiled.")
        lines.append("")
        lines.append("Self time by area: " + ", ".join(f"{a['area']} {a['percent']}%"
                                                         for a in summary["self_by_area"] if a["percent"] >= 1) + ".")
        lines.append("")
        lines.append("| Top self time | % | Top inclusive time in Trellis code | % |")
        lines.append("|---|---:|---|---:|")
        left = summary["top_self"][:10]
        right = summary["top_inclusive_trellis"][:10]
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else {"function": "", "percent": ""}
            b = right[i] if i < len(right) else {"function": "", "percent": ""}
            lines.append(f"| `{a['function']}` | {a['percent']} | `{b['function']}` | {b['percent']} |"
                         .replace("``", ""))
        lines.append("")
    return "\n".join(lines)


METHOD = """\
- **Servers.** Each is one uvicorn worker (one process, one event loop) pinned to CPU 0 with `taskset`;
  wrk (one thread) and the fixed-rate generator run pinned to CPU 1, so each side has a core. All four
  servers stay up for the whole run and are measured in turn, rotating the order between runs; idle
  servers use no CPU.
  - **raw Starlette** (`bench/baselines/starlette_raw.py`): one route per scenario, hand-written SQL on the
    stdlib `sqlite3` driver through one aiosqlite connection for reads and one for writes (`--raw-db
    threadpool` switches to `sqlite3` in Starlette's thread pool). It parses the same request body as the
    GraphQL servers and returns the same JSON a GraphQL server would; no auth, no access log.
  - **graphql-core** (`bench/baselines/graphql_core_stock.py`): `build_schema` on the Product subset of
    Trellis's generated SDL, `graphql.execute` with parse + validate cached per query text, in a minimal
    Starlette endpoint. Its data access is the Strawberry baseline's.
  - **Strawberry** (`bench/baselines/strawberry_app.py`): code-first types and resolvers for the same API,
    `ParserCache` and `ValidationCache` extensions on, Strawberry's ASGI `GraphQL` app (GraphiQL off).
  - **Trellis**: `python -m app.cli serve --schema schema.graphql` exactly as documented (demo config,
    `TRELLIS_API_KEY` set, default log level, so its per-request JSON access log is on).
  - Strawberry and graphql-core read and write the way Trellis does: SQLAlchemy Core on an aiosqlite
    `AsyncEngine`, same pragmas, `select(table)` of the whole row. Their writes are serialised with an
    `asyncio.Lock`, one transaction (one fsync) per request; Trellis group-commits concurrent writes.
- **Data.** A fresh temporary directory per run: Trellis is started once to create its tables and
  seed the products through its own `createProduct` (so the rows are exactly what Trellis writes), the
  WAL is checkpointed, and every server gets an identical copy of that SQLite file (WAL,
  `synchronous=FULL`). The temp directory is on the same disk as the repository.
- **Scenarios.** Every server gets the same request bodies (`bench/scenarios.py`):
  - `small`: `{ __typename }` — no resolver, no data; raw Starlette parses the body and returns the constant
    `{"data":{"__typename":"Query"}}`.
  - `get`: `getProduct(id: $id) { id sku name priceCents }`, `$id` rotating over all seeded ids.
  - `list`: `listProducts(limit: 100) { items { id name priceCents } nextToken }` (the first page by id).
  - `create`: `createProduct(input: $input) { id sku name priceCents }` with a unique sku per request; a
    response is sent only after the transaction has committed.
- **Correctness first.** Before timing, one request per scenario and server is checked: no errors, the
  expected product, the expected first 100 ids with exactly the three fields, and the created row present in
  the database file. During timing, wrk's Lua `response` hook counts non-200 answers and GraphQL `errors`;
  only successful answers count toward req/s. Afterwards the `bench-%` rows in each database are counted
  against the creates that were acknowledged.
- **Throughput.** wrk, closed loop, `--connections` connections (default 32), `--runs` runs (default 3) of
  `--duration` seconds (default 10) after a 2 s warm-up per scenario and server; the median is reported.
- **Latency at a fixed load.** wrk's latencies are closed loop and hide queueing, and Debian has no wrk2, so
  `bench/loadgen.py` (asyncio, raw HTTP/1.1 keep-alive) sends on an open-loop schedule at a fixed rate —
  half the slowest server's median for that scenario, so every server can sustain it. A request that found
  every connection busy (the server had not answered earlier ones) is timed from its scheduled send time,
  so queueing the server causes is counted (no coordinated omission); one sent late only because the
  generator's timer fired late, on a connection that was already free, is timed from when it was sent. It
  runs in its own process on CPU 1; the JSON results also keep the plain from-schedule percentiles.
- **Caveats.** Loopback only, one worker each; uvicorn's `auto` picks uvloop and httptools when they are
  installed (the versions above say what each server really loaded). Absolute numbers are for this machine,
  the ratios are the point. This is a shared 2-CPU VM: other processes (test suites) can take CPU from either
  side mid-run, which is why the run records the other work on the servers' CPU, the steal time, and the load
  average. The fixed-rate generator is Python: its own per-request cost (tens of microseconds) is in every
  latency; its timer slack (asyncio wakes up to a millisecond late) is not.
"""


def _block(text: str, begin: str, end: str) -> str | None:
    match = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), text, re.S)
    return match.group(1) if match else None


def write_section(doc: Path, title: str, begin: str, end: str, text: str) -> None:
    """Replace one generated section (between its markers) of the benchmarks document, or add it
    before the Notes; the rest of the document is left as it is."""
    old = doc.read_text()
    block = f"{begin}\n{text}{end}"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.replace("## Notes\n", f"## {title}\n\n{block}\n\n## Notes\n", 1)
    doc.write_text(new)


def write_doc(path: Path, record: dict[str, Any]) -> None:
    old = path.read_text() if path.exists() else ""
    notes = _block(old, NOTES_BEGIN, NOTES_END)
    if notes is None:
        notes = "_No notes yet._\n"
    profile = profile_markdown(record)
    if profile:
        profile += "\n"
    else:
        profile = (_block(old, PROFILE_BEGIN, PROFILE_END)
                   or "_Not profiled yet: run `python -m bench.run --profile`._\n")
    auth = _block(old, AUTH_BEGIN, AUTH_END) or "_Not measured yet: run `python -m bench.run --auth`._\n"
    fanout = _block(old, FANOUT_BEGIN, FANOUT_END) or "_Not measured yet: run `python -m bench.run --fanout`._\n"
    workflows = (_block(old, WORKFLOWS_BEGIN, WORKFLOWS_END)
                 or "_Not measured yet: run `python -m bench.run --workflows`._\n")
    text = f"""# Benchmarks

Trellis next to three baselines on the same data, one worker each, on this machine:
**raw Starlette** (hand-written JSON endpoints), **graphql-core**'s stock executor, **Strawberry**
(code-first, parser and validation caches on), and **Trellis** — for a small query, `getProduct` by id,
`listProducts(limit: 100)` with 3 fields, and a durable `createProduct`.

Run it from the repository root (needs `wrk`: `apt-get install -y wrk`):

```sh
. .venv/bin/activate
python -m bench.run            # 3 runs x 10 s per scenario and server, about 12 minutes
python -m bench.run --quick    # 1 run x 3 s: checks the harness in about 2 minutes
python -m bench.run --profile  # also profiles Trellis under load with py-spy (pip install py-spy)
```

It rewrites this file (the Notes section is kept) and saves the raw numbers in `bench/results/`
(git-ignored). See `bench/README.md` for all options.

## Latest results

<!-- generated by bench/run.py -->
{_environment(record)}

{results_markdown(record)}
## Where Trellis spends its time

{PROFILE_BEGIN}
{profile}{PROFILE_END}

## Authorization modes

{AUTH_BEGIN}
{auth}{AUTH_END}

## Subscription fan-out

{FANOUT_BEGIN}
{fanout}{FANOUT_END}

## Workflows (ASL engine)

{WORKFLOWS_BEGIN}
{workflows}{WORKFLOWS_END}

## Notes

{NOTES_BEGIN}
{notes}{NOTES_END}

## Method

{METHOD}"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
