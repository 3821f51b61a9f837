"""The workflow benchmark's results: medians, the issue's goals, py-spy hot spots, and its section
of ``docs/benchmarks.md`` (``bench/workflows_run.py`` measures; this only reads its record)."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from bench.profile import _parse

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- workflows:begin -->", "<!-- workflows:end -->"
TITLES = {"durable": "Trellis durable", "express": "Trellis Express", "node": "aws-local-stepfunctions"}
# The issue's goals for the durable engine.
DURABLE_TRANSITIONS_GOAL, DURABLE_TRANSITIONS_AIM, DURABLE_STARTS_GOAL = 1_500, 4_000, 300
# Frames that every busy sample of a run passes through (the drivers of a round, the writer
# thread's batch): they say nothing about where the time goes, so the hot-spot lists skip them.
_DRIVERS = ("drive", "ExecutionRun.run", "_run_round", "run_express", "measure_trellis", "run_durable",
            "_commit_in_thread", "_transaction_here", "_run_batch_sqlite", "SqlExecutionStore.commit",
            "ExecutionRun._step", "ExecutionRun._advance", "advance", "_advance", "_run_state")


def hotspots(raw: str, top: int = 6) -> dict[str, Any]:
    """py-spy's collapsed stacks -> the functions with the most samples, inclusive (with what they
    call) among the engine's own code, and self time anywhere; idle event-loop waits left out."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_parse(f) for f in stack.split(";") if not f.startswith(("thread ", "process "))]
        if not frames or frames[-1][0] in ("select", "poll", "epoll_wait", "_worker", "wait"):
            continue  # the loop or a pool thread waiting for work
        count = int(count_text)
        total += count
        name, file = frames[-1]
        own[f"{name} ({file})"] += count
        for key in {f"{n} ({f})" for n, f in frames if "workflows/" in f or "datasources/" in f}:
            inclusive[key] += count

    def pct(n: int) -> float:
        return round(100.0 * n / total, 1) if total else 0.0

    return {"samples": total,
            "top_inclusive_trellis": [{"function": f, "percent": pct(n)} for f, n in inclusive.most_common()
                                      if not _is_driver(f)][:top],
            "top_self": [{"function": f, "percent": pct(n)} for f, n in own.most_common(top)]}


# -- results --------------------------------------------------------------------------------------

METRICS = ("transitions_per_second", "executions_per_second", "starts_per_second", "start_p50_ms", "start_p99_ms",
           "seconds")


def medians(record: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """contender -> workload -> metric -> median over the runs."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for contender, runs in record["runs_by_contender"].items():
        for workload in record["workloads"]:
            results = [r for results in runs for r in results if r["workload"] == workload["name"]]
            out.setdefault(contender, {})[workload["name"]] = {
                metric: statistics.median(r[metric] for r in results)
                for metric in METRICS if results and all(r.get(metric) is not None for r in results)
            }
    return out


def _median(record: dict[str, Any], contender: str, workload: str, metric: str) -> float | None:
    value = record["medians"].get(contender, {}).get(workload, {}).get(metric)
    return float(value) if value is not None else None


def goals(record: dict[str, Any]) -> list[dict[str, Any]]:
    names = [w["name"] for w in record["workloads"]]

    def per_workload(contender: str, metric: str) -> dict[str, float | None]:
        return {n: _median(record, contender, n, metric) for n in names}

    transitions = per_workload("durable", "transitions_per_second")
    starts = per_workload("durable", "starts_per_second")
    express = per_workload("express", "transitions_per_second")
    node = per_workload("node", "transitions_per_second")

    def listed(values: dict[str, float | None], fmt: str = "{:,.0f}") -> str:
        return ", ".join(f"{n} {fmt.format(v) if v is not None else '—'}" for n, v in values.items())

    def all_at_least(values: dict[str, float | None], floor: float) -> bool | None:
        known = [v for v in values.values() if v is not None]
        return None if not known else all(v >= floor for v in known)

    ratios: dict[str, float | None] = {}
    for n in names:
        mine, theirs = express[n], node[n]
        ratios[n] = mine / theirs if mine is not None and theirs else None
    return [
        {"goal": "durable transitions/s (every workload)", "target": f">= {DURABLE_TRANSITIONS_GOAL:,}",
         "measured": listed(transitions), "met": all_at_least(transitions, DURABLE_TRANSITIONS_GOAL)},
        {"goal": "durable transitions/s, the aim", "target": f">= {DURABLE_TRANSITIONS_AIM:,}",
         "measured": listed(transitions), "met": all_at_least(transitions, DURABLE_TRANSITIONS_AIM)},
        # Starts are acknowledged while the executions already started run on the same CPU: 300
        # starts/s of the loop would need 30,900 transitions/s, of the Map 300,300. The Task chain
        # (10 transitions each) is where the start path itself is what is measured.
        {"goal": "durable executions started/s (the Task chain)", "target": f">= {DURABLE_STARTS_GOAL:,}",
         "measured": listed(starts),
         "met": None if (task_starts := starts.get("tasks")) is None else task_starts >= DURABLE_STARTS_GOAL},
        {"goal": "Express faster than aws-local-stepfunctions (every workload)", "target": "> 1.00x",
         "measured": listed(ratios, "{:.2f}x"),
         "met": None if all(v is None for v in ratios.values()) else all(v is not None and v > 1 for v in
                                                                           ratios.values())},
    ]


def _fmt(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "—" if value is None else fmt.format(value)


def render(record: dict[str, Any]) -> str:
    m = record["machine"]
    runs = record["runs"]
    contenders = list(record["runs_by_contender"])
    checked = all(r["ok"] for rs in record["runs_by_contender"].values() for results in rs for r in results)
    lines = [
        "Run it: `python -m bench.run --workflows` (3 interleaved runs, about 3 minutes; `--quick` for a smoke "
        "test; `--profile` adds py-spy profiles). It needs Node for the baseline; `npm ci` in `bench/workflows/` "
        "runs on first use.",
        "",
        f"`{record['command']}` (from the repository root, in `.venv`) — {record['started']} UTC, "
        f"{record['elapsed_s'] / 60:.1f} min; load average before / after "
        f"{' '.join(m.get('loadavg_before') or ['?'])} / {' '.join(m.get('loadavg_after') or ['?'])}; "
        f"`nproc` = {m['nproc']}, {m['cpu_model']}; Python {m['python']}, "
        f"SQLite {m['sqlite']}, Node {m.get('node') or '—'}, aws-local-stepfunctions "
        f"{m.get('aws-local-stepfunctions') or '—'}; Trellis commit {m['trellis_commit']}"
        f"{' (with uncommitted changes)' if m['trellis_dirty'] else ''}; every contender in its own process "
        + (f"pinned to CPU {record['cpu']}" if record["cpu"] is not None else "(not pinned)")
        + f"; median of {runs} interleaved run{'s' if runs != 1 else ''}.",
        "",
        "The same definitions (`bench/workflows/definitions/`) on each contender: **Trellis durable** — "
        "`WorkflowEngine` over `SqlExecutionStore` on SQLite (WAL, `synchronous=FULL`), a Standard execution "
        "per start; **Trellis Express** — `run_express`, in memory; **aws-local-stepfunctions** — the npm "
        "package's in-memory interpreter, one Node process (`bench/workflows/run.mjs`). Each run starts every "
        "execution at once and stops the clock when the last one has ended; transitions = states entered "
        "(`...StateEntered` events, counted afterwards), transitions/s = that / wall time. Durable starts/s = "
        "executions / time until every `start_execution` was acknowledged (a committed insert each, while the "
        "executions already started run).",
        "",
        "| workload | executions per run | states entered each | " + " | ".join(
            f"{TITLES[c]} transitions/s" for c in contenders) + " | durable starts/s | start ack p50 / p99 ms |"
        + "".join(f" {TITLES[c]} vs aws-local-stepfunctions |" for c in contenders if c != "node"
                  and "node" in contenders),
        "|---|---:|---:|" + "---:|" * len(contenders) + "---:|---:|"
        + "---:|" * (len([c for c in contenders if c != "node"]) if "node" in contenders else 0),
    ]
    for w in record["workloads"]:
        name = w["name"]
        cells = [_fmt(_median(record, c, name, "transitions_per_second")) for c in contenders]
        ratios = []
        if "node" in contenders:
            node = _median(record, "node", name, "transitions_per_second")
            for c in contenders:
                if c != "node":
                    mine = _median(record, c, name, "transitions_per_second")
                    ratios.append(_fmt(mine / node if mine and node else None, "{:.2f}x"))
        p50 = _median(record, "durable", name, "start_p50_ms")
        p99 = _median(record, "durable", name, "start_p99_ms")
        lines.append(f"| {w['title']} | {w['executions']:,} | {w['transitions_per_execution']:,} | "
                     + " | ".join(cells)
                     + f" | {_fmt(_median(record, 'durable', name, 'starts_per_second'))} | "
                     + f"{_fmt(p50, '{:.0f}')} / {_fmt(p99, '{:.0f}')} |"
                     + "".join(f" {r} |" for r in ratios))
    lines.append("")
    if record.get("node_skipped"):
        lines.append(f"aws-local-stepfunctions was not run: {record['node_skipped']}.")
        lines.append("")
    lines.append("About the baseline: aws-local-stepfunctions 3.0.0 asks for Node >= 22; on older Node, "
                 "`run.mjs` supplies the one ES2024 function it uses (`Promise.withResolvers`). Its Task states "
                 "call the JS function through `overrides.taskResourceLocalHandlers`. The Map's items start at 1 "
                 "because it fails `\"item.$\": \"$\"` on an item of 0. Trellis's Task chain calls a sync Python "
                 "function through a `function` data source, which runs it in a worker thread.")
    lines.append("")
    lines.append("Checked after every run: every execution SUCCEEDED with the expected output and the expected "
                 "number of states entered (the durable ones read back from the SQLite file after the engine "
                 "closed): " + ("**yes**." if checked else "**no** — see `problems` in the results JSON."))
    lines.append("")
    lines.append("| Goal | Target | Measured | Met |")
    lines.append("|---|---|---|---|")
    for g in record.get("goals") or goals(record):
        met = "n/a" if g["met"] is None else ("yes" if g["met"] else "**no**")
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {met} |")
    lines.append("")
    lines.append("Starts are acknowledged while the executions already started run on the same CPU, so the "
                 "starts/s goal is judged on the Task chain (10 transitions per execution): 300 starts/s of the "
                 "loop would take 30,900 transitions/s, of the Map 300,300.")
    lines.append("")
    profiles = record.get("profile") or {}
    if profiles:
        lines.append("Where the Trellis runs spend their time (py-spy, one profiled run per contender and workload; "
                     "inclusive % of busy samples for engine code, self % anywhere; raw stacks in "
                     "`bench/results/profile-workflows-<contender>-<workload>.txt`):")
        lines.append("")
        lines.append("| run | samples | top inclusive (engine) | top self |")
        lines.append("|---|---:|---|---|")
        for key, summary in profiles.items():
            mode, workload = key.split("/")
            inclusive = ", ".join(f"`{_short(f['function'])}` {f['percent']}%"
                                  for f in summary["top_inclusive_trellis"])
            own = ", ".join(f"`{_short(f['function'])}` {f['percent']}%" for f in summary["top_self"][:4])
            lines.append(f"| {TITLES[mode]}, {workload} | {summary['samples']:,} | {inclusive} | {own} |")
        lines.append("")
    return "\n".join(lines)


def _is_driver(function: str) -> bool:
    name = function.split(" (", 1)[0]
    parts = name.split(".")
    return any(d in parts or name == d or name.startswith(d + ".") for d in _DRIVERS)


def _short(function: str) -> str:
    """``name (path/to/file.py:12)`` -> ``name (file.py)``."""
    name, _, where = function.partition(" (")
    file = where.rstrip(")").rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({file})" if file else name


def write_doc(text: str) -> None:
    from bench.report import write_section

    write_section(DOC, "Workflows (ASL engine)", BEGIN, END, text)

