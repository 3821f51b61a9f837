"""Validation of one state: its fields for its type and query language, required and exclusive
fields, value types and ranges, Retry/Catch, and (through ``check_scope``) its nested branches or
item processor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workflows.errors import ALL
from workflows.language.env import JSON
from workflows.language.timestamps import is_timestamp
from workflows.language.validation_choice import check_choices
from workflows.language.validation_fields import (
    BRANCH_FIELDS,
    CATCHER_FIELDS,
    EXECUTION_TYPES,
    JITTER_STRATEGIES,
    JSONATA,
    MAP_MODES,
    NULLABLE_PATH_FIELDS,
    PATH_FIELDS,
    PROCESSOR_CONFIG_FIELDS,
    PROCESSOR_FIELDS,
    RETRIER_FIELDS,
    TEMPLATE_FIELDS,
    TRANSITIONING_TYPES,
    allowed_state_fields,
)
from workflows.language.validation_paths import (
    check_reference_path,
    check_static_result,
    check_template,
    is_jsonata_expression,
)
from workflows.language.validation_report import Report, child, has_type

# check_scope(scope, location, allowed scope fields, inherited query language)
ScopeChecker = Callable[[dict[str, JSON], str, frozenset[str], str], None]


@dataclass(frozen=True)
class StateContext:
    report: Report
    check_scope: ScopeChecker
    supported_resource: Callable[[str], bool] | None
    machine_type: str


def check_state(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    """``language`` is the state's effective query language (its own or the inherited one)."""
    report = context.report
    state_type = state["Type"]
    report.only(state, allowed_state_fields(state_type, language), location)
    report.expect_type(state, "Comment", "string", location)
    if state_type in TRANSITIONING_TYPES:
        _check_next_or_end(state, report, location)
    for name in NULLABLE_PATH_FIELDS:
        if name in state:
            check_reference_path(state[name], name, report, child(location, name), nullable=True)
    for name in PATH_FIELDS:
        if name in state:
            check_reference_path(state[name], name, report, child(location, name))
    for name in TEMPLATE_FIELDS:
        if name in state:
            check_template(state[name], report, child(location, name))
    if "Assign" in state:
        report.expect_type(state, "Assign", "object", location)
    _CHECKS_BY_TYPE[state_type](state, language, context, location)
    for name in ("Retry", "Catch"):
        if name in state and report.expect_type(state, name, "array", location):
            for index, entry in enumerate(state[name]):
                _check_handler(name, entry, language, report, child(child(location, name), index))


def _check_next_or_end(state: dict[str, JSON], report: Report, location: str) -> None:
    report.expect_type(state, "Next", "string", location)
    report.expect_type(state, "End", "boolean", location)
    ends = state.get("End") is True
    if "Next" in state and ends:
        report.schema("Only one of 'Next' or 'End' can be set", location)
    elif "Next" not in state and not ends:
        report.schema("These fields are required: [Next or End]", location)


def _check_handler(kind: str, entry: JSON, language: str, report: Report, location: str) -> None:
    if not isinstance(entry, dict):
        report.schema(f"A {kind} entry must be an OBJECT", location)
        return
    if kind == "Retry":
        report.only(entry, RETRIER_FIELDS, location)
        report.require(entry, ("ErrorEquals",), location)
        _check_integer(entry, "IntervalSeconds", 1, report, location)
        _check_integer(entry, "MaxAttempts", 0, report, location)
        _check_integer(entry, "MaxDelaySeconds", 1, report, location)
        if report.expect_type(entry, "BackoffRate", "number", location) and entry.get("BackoffRate", 1) < 1:
            report.schema("The value for the field 'BackoffRate' must be >= 1.0", child(location, "BackoffRate"))
        _check_choice_of(entry, "JitterStrategy", JITTER_STRATEGIES, report, location)
    else:
        report.only(entry, CATCHER_FIELDS[language], location)
        report.require(entry, ("ErrorEquals", "Next"), location)
        report.expect_type(entry, "Next", "string", location)
        if "ResultPath" in entry:
            check_reference_path(entry["ResultPath"], "ResultPath", report, child(location, "ResultPath"),
                                 nullable=True)
    _check_error_equals(entry, report, location)


def _check_error_equals(entry: dict[str, JSON], report: Report, location: str) -> None:
    names = entry.get("ErrorEquals")
    if names is None:
        return
    where = child(location, "ErrorEquals")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        report.schema("The value for the field 'ErrorEquals' must be an ARRAY of STRINGs", where)
    elif not names:
        report.schema("The field 'ErrorEquals' should be non-empty", where)
    elif ALL in names and names != [ALL]:
        report.schema(f"'{ALL}' must appear alone in 'ErrorEquals'", where)


def check_handler_order(state: dict[str, JSON], report: Report, location: str) -> None:
    """A retrier or catcher matching States.ALL must be the last of its list."""
    for kind in ("Retry", "Catch"):
        entries = state.get(kind)
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries[:-1]):
            if isinstance(entry, dict) and entry.get("ErrorEquals") == [ALL]:
                report.schema(f"'{ALL}' must appear in the last {kind} entry", child(child(location, kind), index))


def _check_integer(container: dict[str, JSON], name: str, minimum: int, report: Report, location: str,
                   language: str = "") -> None:
    if name not in container or (language == JSONATA and is_jsonata_expression(container[name])):
        return
    if report.expect_type(container, name, "integer", location) and container[name] < minimum:
        report.schema(f"The value for the field '{name}' must be >= {minimum}", child(location, name))


def _check_choice_of(container: dict[str, JSON], name: str, allowed: tuple[str, ...], report: Report,
                     location: str) -> None:
    if name in container and container[name] not in allowed:
        report.schema(f"The field '{name}' does not match any of the allowed values: [{', '.join(allowed)}]",
                      child(location, name))


# --- per type ---------------------------------------------------------------------------------

def _check_pass(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    if "Result" in state:  # any JSON value, taken as is
        check_static_result(state["Result"], context.report, child(location, "Result"))


def _check_task(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    report = context.report
    report.require(state, ("Resource",), location)
    if report.expect_type(state, "Resource", "string", location) and "Resource" in state:
        _check_resource(state["Resource"], context, child(location, "Resource"))
    report.exclusive(state, ("TimeoutSeconds", "TimeoutSecondsPath"), location)
    report.exclusive(state, ("HeartbeatSeconds", "HeartbeatSecondsPath"), location)
    _check_integer(state, "TimeoutSeconds", 1, report, location, language)
    _check_integer(state, "HeartbeatSeconds", 1, report, location, language)
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
        report.schema("The value for the field 'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'",
                      child(location, "HeartbeatSeconds"))
    if language == JSONATA and "Arguments" in state:
        _check_jsonata_value(state, "Arguments", ("object",), report, location)
    report.expect_type(state, "Credentials", "object", location)
    check_handler_order(state, report, location)


def _check_resource(resource: str, context: StateContext, location: str) -> None:
    if context.machine_type == "EXPRESS":
        for suffix in (".waitForTaskToken", ".sync"):
            if resource.endswith(suffix) or f"{suffix}:" in resource:
                context.report.schema(f"Express state machine does not support '{suffix}' service integration ",
                                      location)
                return
    if context.supported_resource is not None and not context.supported_resource(resource):
        context.report.schema(
            f"The resource provided {resource} is not recognized. The value is not a valid resource ARN, "
            "or the resource is not available in this region.",
            location,
        )


def _check_choice(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    context.report.require(state, ("Choices",), location)
    context.report.expect_type(state, "Default", "string", location)
    check_choices(state, language, context.report, location)


def _check_wait(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    report = context.report
    given = [name for name in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if name in state]
    if len(given) != 1:
        report.schema("A Wait state must have exactly one of: [Seconds, Timestamp, SecondsPath, TimestampPath]",
                      location)
    _check_integer(state, "Seconds", 0, report, location, language)
    timestamp = state.get("Timestamp")
    dynamic = language == JSONATA and is_jsonata_expression(timestamp)
    if "Timestamp" in state and not dynamic and not is_timestamp(timestamp):
        report.schema("The value for the field 'Timestamp' must be a valid timestamp", child(location, "Timestamp"))


def _check_succeed(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    pass  # nothing beyond the allowed fields


def _check_fail(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    report = context.report
    report.exclusive(state, ("Error", "ErrorPath"), location)
    report.exclusive(state, ("Cause", "CausePath"), location)
    report.expect_type(state, "Error", "string", location)
    report.expect_type(state, "Cause", "string", location)


def _check_parallel(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    report = context.report
    if not report.require(state, ("Branches",), location):
        return
    branches, where = state["Branches"], child(location, "Branches")
    if not isinstance(branches, list) or not branches:
        report.schema("The value for the field 'Branches' must be a non-empty ARRAY", where)
        return
    for index, branch in enumerate(branches):
        if isinstance(branch, dict):
            context.check_scope(branch, child(where, index), BRANCH_FIELDS, language)
        else:
            report.schema("A branch must be an OBJECT", child(where, index))
    if language == JSONATA and "Arguments" in state:
        _check_jsonata_value(state, "Arguments", ("object",), report, location)
    check_handler_order(state, report, location)


def _check_map(state: dict[str, JSON], language: str, context: StateContext, location: str) -> None:
    report = context.report
    processors = [name for name in ("ItemProcessor", "Iterator") if name in state]
    if not processors:
        report.schema("These fields are required: [ItemProcessor]", location)
    elif len(processors) > 1:
        report.exclusive(state, ("ItemProcessor", "Iterator"), location)
    report.exclusive(state, ("Parameters", "ItemSelector"), location)
    report.exclusive(state, ("MaxConcurrency", "MaxConcurrencyPath"), location)
    report.exclusive(state, ("ToleratedFailureCount", "ToleratedFailureCountPath"), location)
    report.exclusive(state, ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"), location)
    _check_integer(state, "MaxConcurrency", 0, report, location, language)
    _check_integer(state, "ToleratedFailureCount", 0, report, location, language)
    percentage = state.get("ToleratedFailurePercentage")
    dynamic = language == JSONATA and is_jsonata_expression(percentage)
    if "ToleratedFailurePercentage" in state and not dynamic and not _is_percentage(percentage):
        report.schema("The value for the field 'ToleratedFailurePercentage' must be a NUMBER from 0 to 100",
                      child(location, "ToleratedFailurePercentage"))
    if "Items" in state:
        _check_jsonata_value(state, "Items", ("array",), report, location)
    report.expect_type(state, "Label", "string", location)
    for name in processors[:1]:
        processor, where = state[name], child(location, name)
        if not isinstance(processor, dict):
            report.schema(f"The value for the field '{name}' must be an OBJECT", where)
            continue
        # The legacy Iterator accepts a ProcessorConfig too (AWS runs such Maps as recorded).
        _check_processor_config(processor, report, where)
        context.check_scope(processor, where, PROCESSOR_FIELDS, language)
    check_handler_order(state, report, location)


def _is_percentage(value: JSON) -> bool:
    return has_type(value, "number") and 0 <= value <= 100


def _check_processor_config(processor: dict[str, JSON], report: Report, location: str) -> None:
    config = processor.get("ProcessorConfig")
    if config is None:
        return
    where = child(location, "ProcessorConfig")
    if not isinstance(config, dict):
        report.schema("The value for the field 'ProcessorConfig' must be an OBJECT", where)
        return
    report.only(config, PROCESSOR_CONFIG_FIELDS, where)
    _check_choice_of(config, "Mode", MAP_MODES, report, where)
    _check_choice_of(config, "ExecutionType", EXECUTION_TYPES, report, where)
    mode = config.get("Mode", "INLINE")
    if mode == "DISTRIBUTED":
        report.require(config, ("ExecutionType",), where)
    elif "ExecutionType" in config:
        report.schema("Field 'ExecutionType' is not supported", where)


def _check_jsonata_value(state: dict[str, JSON], name: str, json_types: tuple[str, ...], report: Report,
                         location: str) -> None:
    """A JSONata-mode field that takes either a ``{% %}`` expression or a literal of ``json_types``."""
    value = state[name]
    if is_jsonata_expression(value) or any(has_type(value, json_type) for json_type in json_types):
        return
    report.schema(f"The value for the field '{name}' must be a JSONata expression or {' or '.join(json_types)}",
                  child(location, name))


_CHECKS_BY_TYPE: dict[str, Callable[[dict[str, JSON], str, StateContext, str], None]] = {
    "Pass": _check_pass,
    "Task": _check_task,
    "Choice": _check_choice,
    "Wait": _check_wait,
    "Succeed": _check_succeed,
    "Fail": _check_fail,
    "Parallel": _check_parallel,
    "Map": _check_map,
}
