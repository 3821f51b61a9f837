"""Every execution AWS Step Functions recorded in the conformance file, run through ``LocalRunner``:
same status, output, error, cause and history event types as AWS."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.workflows.conformance import CASES_PATH, compare, load_cases, recorded_cases
from workflows.clock import ManualClock
from workflows.engine.local import LocalRunner

_CASES = load_cases() if CASES_PATH.exists() else []
_RESULTS: dict[str, bool] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_pass_rate(request: pytest.FixtureRequest) -> Any:
    yield
    if not _RESULTS:
        return
    passed = sum(_RESULTS.values())
    line = f"ASL conformance: {passed}/{len(_RESULTS)} AWS-recorded cases match ({100 * passed / len(_RESULTS):.1f}%)"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():  # shown even when the run passes
            reporter.write_line(line)


def test_the_conformance_file_is_present_in_ci() -> None:
    assert len(recorded_cases()) == 452


@pytest.mark.parametrize("case", _CASES, ids=[case["id"] for case in _CASES])
async def test_execution_matches_what_aws_recorded(case: dict[str, Any]) -> None:
    runner = LocalRunner(case["definition"], clock=ManualClock(), random=lambda: 0.5)
    result = await runner.run(case["input"], name="conformance-execution", state_machine_name="conformance-machine")
    problems = compare(case, result.status, result.output, result.error, result.cause,
                       [event["type"] for event in result.history])
    _RESULTS[case["id"]] = not problems
    assert not problems, "\n".join(problems)
    _check_volatile_output(result.output, case.get("extra_placeholders") or [])


def _check_volatile_output(output: Any, placeholders: list[str]) -> None:
    """The recordings replaced random numbers and UUIDs by placeholders; their shape is checked here."""
    if "RandomNumberGenerated" in placeholders:
        assert isinstance(output["FunctionResult"], int)
    if "generated-uuid" in placeholders:
        assert str(uuid.UUID(output["FunctionResult"])) == output["FunctionResult"]
