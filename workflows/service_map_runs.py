"""Map Runs: a Distributed Map's iterations, each a child execution (DescribeMapRun, ListMapRuns,
and ListExecutions by ``mapRunArn``). A Map Run is read off what the engine keeps anyway: the
parent's ``MapRun*`` history events and the child executions filed under the Map Run's ARN."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from workflows import service_lookup as lookup
from workflows.engine.records import JSON
from workflows.errors import WorkflowApiError
from workflows.service_params import Request, arn_kind

if TYPE_CHECKING:
    from workflows.service import StepFunctionsApi

_ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


async def describe_map_run(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    arn = request.required("mapRunArn")
    arn_kind(arn, "mapRun")
    summary = await api.engine.store.map_run_summary(arn)
    if summary is None:
        raise WorkflowApiError("ResourceNotFound", f"Resource not found: '{arn}'")
    counts = summary.counts
    running = counts.get("RUNNING", 0)
    total = sum(counts.values())
    status = "RUNNING" if running else ("SUCCEEDED" if counts.get("SUCCEEDED", 0) == total else "FAILED")
    settings = await _map_state(api, summary.execution_arn, arn)
    tally: dict[str, JSON] = {"pending": 0, "running": running, "succeeded": counts.get("SUCCEEDED", 0),
                              "failed": counts.get("FAILED", 0), "timedOut": counts.get("TIMED_OUT", 0),
                              "aborted": counts.get("ABORTED", 0), "total": total, "resultsWritten": 0}
    described: dict[str, JSON] = {
        "mapRunArn": arn, "executionArn": summary.execution_arn, "status": status, "startDate": summary.started,
        "maxConcurrency": settings.get("MaxConcurrency", 0) if isinstance(settings.get("MaxConcurrency"), int) else 0,
        "toleratedFailurePercentage": float(settings.get("ToleratedFailurePercentage", 0) or 0),
        "toleratedFailureCount": int(settings.get("ToleratedFailureCount", 0) or 0),
        "itemCounts": tally, "executionCounts": dict(tally), "redriveCount": 0,
    }
    if status != "RUNNING" and summary.stopped is not None:
        described["stopDate"] = summary.stopped
    return described


async def list_map_runs(api: StepFunctionsApi, request: Request) -> dict[str, JSON]:
    execution = await lookup.execution(api.engine.store, request.required("executionArn"))
    arn = execution.arn
    runs: list[dict[str, JSON]] = []
    for event in await api.engine.store.history(arn, False, None, 25_000):
        details = event.details or {}
        started = details.get("mapRunStartedEventDetails")
        if event.type == "MapRunStarted" and isinstance(started, Mapping):
            runs.append({"executionArn": arn, "mapRunArn": started.get("mapRunArn"),
                         "stateMachineArn": execution.state_machine_arn, "startDate": event.timestamp})
        elif event.type in ("MapRunSucceeded", "MapRunFailed") and runs and "stopDate" not in runs[-1]:
            runs[-1]["stopDate"] = event.timestamp
    return {"mapRuns": runs}


async def _map_state(api: StepFunctionsApi, execution_arn: str, map_run_arn: str) -> Mapping[str, JSON]:
    """The Map state's definition (``...:mapRun:<machine>/<state>:<id>`` names the state)."""
    execution = await api.engine.store.get_execution(execution_arn)
    if execution is None:
        return {}
    label = map_run_arn.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return _find_state(json.loads(execution.definition), label)


def _find_state(definition: Mapping[str, JSON], name: str) -> Mapping[str, JSON]:
    states = definition.get("States")
    if not isinstance(states, Mapping):
        return {}
    for state_name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        if state_name == name:
            return state
        for nested in [*(state.get("Branches") or []), state.get("ItemProcessor"), state.get("Iterator")]:
            if isinstance(nested, Mapping):
                found = _find_state(nested, name)
                if found:
                    return found
    return {}
