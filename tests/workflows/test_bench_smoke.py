"""The workflow benchmark's harness (``python -m bench.run --workflows``) works: its quick mode runs
every workload on every contender and checks every execution. How fast anything is, is not tested."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import run as bench_run
from bench import workflows_run
from bench.workflows import report as workflows_report
from tests.conftest import missing_service


def _results_by_workload(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["workload"]: r for r in results}


async def test_the_quick_durable_run_measures_and_checks_every_workload(tmp_path: Path) -> None:
    plan = workflows_run.workloads(quick=True)
    results = _results_by_workload(await workflows_run.measure_trellis("durable", plan, tmp_path,
                                                                       patience_seconds=30))
    assert set(results) == {"loop", "map", "tasks"}
    for workload in plan:
        result = results[workload.name]
        assert result["ok"], result["problems"]
        # Read back from the SQLite file: every execution, every state entered.
        assert result["statuses"] == {"SUCCEEDED": workload.count}
        assert result["transitions"] == workload.count * workload.transitions
        assert result["transitions_per_second"] > 0
        assert result["starts_per_second"] > 0
        assert result["ended_in_time"] == workload.count


async def test_the_quick_express_run_measures_and_checks_every_workload(tmp_path: Path) -> None:
    plan = workflows_run.workloads(quick=True)
    results = _results_by_workload(await workflows_run.measure_trellis("express", plan, tmp_path))
    for workload in plan:
        result = results[workload.name]
        assert result["ok"], result["problems"]
        assert result["right_output"] == workload.count
        assert result["transitions"] == workload.count * workload.transitions
        assert "starts_per_second" not in result  # nothing durable to acknowledge


@pytest.mark.node
def test_the_node_baseline_runs_the_same_definitions(tmp_path: Path) -> None:
    problem = workflows_run.node_problem()
    if problem is not None:
        missing_service("the aws-local-stepfunctions baseline", f"cannot run: {problem}")
    plan = workflows_run.workloads(quick=True)
    results = _results_by_workload(workflows_run.measure_node(plan, tmp_path, cpu=None))
    for workload in plan:
        result = results[workload.name]
        assert result["ok"], result["problems"]
        assert result["transitions"] == workload.count * workload.transitions


def test_a_run_with_a_wrong_output_or_missing_transitions_is_not_ok() -> None:
    loop = workflows_run.workloads(quick=True)[0]
    fine = {"seconds": 1.0, "statuses": {"SUCCEEDED": loop.count}, "right_output": loop.count,
            "transitions": loop.count * loop.transitions}
    assert workflows_run.summarize(loop, fine)["ok"]
    wrong_output = workflows_run.summarize(loop, {**fine, "right_output": loop.count - 1})
    assert not wrong_output["ok"] and "wrong output" in wrong_output["problems"][0]
    short = workflows_run.summarize(loop, {**fine, "transitions": 5})
    assert not short["ok"] and "states entered" in short["problems"][0]
    failed = workflows_run.summarize(loop, {**fine, "statuses": {"SUCCEEDED": 1, "FAILED": loop.count - 1}})
    assert not failed["ok"]


def test_the_report_judges_the_issue_goals_from_the_medians() -> None:
    workloads = [{"name": w.name, "title": w.title, "executions": w.count, "transitions_per_execution":
                  w.transitions} for w in workflows_run.workloads(quick=True)]

    def result(name: str, rate: float, starts: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"workload": name, "ok": True, "transitions_per_second": rate,
                               "executions_per_second": 1.0, "seconds": 1.0}
        if starts is not None:
            out.update(starts_per_second=starts, start_p50_ms=1.0, start_p99_ms=2.0)
        return out

    record: dict[str, Any] = {
        "workloads": workloads, "runs": 1, "cpu": None, "command": "python -m bench.run --workflows",
        "started": "2026-01-01T00:00:00+00:00", "elapsed_s": 60.0, "node_skipped": None,
        "machine": {"nproc": 2, "cpu_model": "test", "python": "3.11", "sqlite": "3", "trellis_commit": "abc",
                    "trellis_dirty": False},
        "runs_by_contender": {
            "durable": [[result("loop", 2_000, 100), result("map", 1_600, 5), result("tasks", 1_700, 400)]],
            "express": [[result("loop", 9_000), result("map", 9_000), result("tasks", 9_000)]],
            "node": [[result("loop", 10_000), result("map", 5_000), result("tasks", 5_000)]],
        },
    }
    record["medians"] = workflows_report.medians(record)
    goals = {g["goal"]: g for g in workflows_report.goals(record)}
    assert goals["durable transitions/s (every workload)"]["met"] is True
    assert goals["durable transitions/s, the aim"]["met"] is False
    assert goals["durable executions started/s (the Task chain)"]["met"] is True
    express = goals["Express faster than aws-local-stepfunctions (every workload)"]
    assert express["met"] is False and "loop 0.90x" in express["measured"]
    text = workflows_report.render(record)
    assert "| Goal | Target | Measured | Met |" in text and "0.90x" in text


def test_the_runner_has_a_workflows_flag() -> None:
    args = bench_run.parse_args(["--workflows", "--quick", "--workflow-counts", "loop=3"])
    assert args.workflows and args.quick
    assert workflows_run.workloads(args.quick, workflows_run._counts(args.workflow_counts))[0].count == 3
