"""The Map state: one child thread per item (or per batch), INLINE or DISTRIBUTED; MaxConcurrency,
tolerated failures and ItemBatcher. ItemReader and ResultWriter are not supported yet."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TypeVar

from workflows import errors
from workflows.language import jsonata_eval, templates
from workflows.language.env import JSON
from workflows.language.events import (
    error_details,
    map_run_started,
    map_state_started,
    to_json_text,
)
from workflows.language.outcomes import Cursor, Fork, Outcome, Suspended
from workflows.language.states.common import StateRun
from workflows.language.states.failure import handle_failure
from workflows.language.states.task import region_of

Number = TypeVar("Number", int, float)


def run_map(run: StateRun) -> Outcome:
    if run.phase == "forked":
        return _resumed(run)
    if run.phase == "retry_wait":
        run.restart()
    items, selector_input = _items(run)
    started = run.emit("MapStateStarted", map_state_started(len(items)))
    max_concurrency = _count(run, "MaxConcurrency", selector_input) or 0
    tolerated_count = _count(run, "ToleratedFailureCount", selector_input)
    tolerated_percentage = _percentage(run, selector_input)
    inputs = _batched(run, [_selected(run, selector_input, index, item) for index, item in enumerate(items)],
                      selector_input)
    processor = _processor(run.state)
    distributed = (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    previous = started
    run_arn = map_run_arn(run) if distributed else ""
    if distributed:
        previous = run.emit("MapRunStarted", map_run_started(run_arn))
    # An inline iteration reads the outer variables (its own Assigns stay in its scope); a Distributed
    # Map's iterations are child executions and see none of them.
    variables = ({},) if distributed else (*run.cursor.variables, {})
    children = tuple(
        Cursor(scope=(*run.cursor.scope, run.name), state=str(processor["StartAt"]), input=child_input,
               variables=variables, previous_event_id=previous,
               map_item=(index, child_input), extra={"start_iteration": True})
        for index, child_input in enumerate(inputs)
    )
    cursor = run.with_extra(phase="forked", distributed=distributed)
    return Suspended(cursor, Fork(kind="Map", children=children, max_concurrency=max_concurrency,
                                  tolerated_failure_count=tolerated_count,
                                  tolerated_failure_percentage=tolerated_percentage, distributed=distributed,
                                  map_run_arn=run_arn))


def _resumed(run: StateRun) -> Outcome:
    resume = run.resume
    distributed = bool(run.cursor.extra.get("distributed"))
    run.continue_from(resume)
    if resume is None or resume.failed:
        error = None if resume is None else resume.error
        cause = None if resume is None else resume.cause
        if distributed:
            run.emit("MapRunFailed", error_details("mapRunFailedEventDetails", error, cause))
        return handle_failure(run, error, cause)
    if distributed:
        run.emit("MapRunSucceeded")
    run.emit("MapStateSucceeded")
    return run.finish_with_result(resume.result)


def _processor(state: Mapping[str, JSON]) -> Mapping[str, JSON]:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    return processor if isinstance(processor, Mapping) else {}


def _items(run: StateRun) -> tuple[list[JSON], JSON]:
    """The items, and the value ItemSelector/paths read as ``$`` (the effective input)."""
    state = run.state
    if run.jsonata:
        if "Items" in state:
            items = jsonata_eval.evaluate_expecting(state["Items"], run.env(), "Items", "array", now=run.now)
        else:
            items = run.cursor.input
        error = errors.QUERY_EVALUATION_ERROR
        effective = run.cursor.input
    else:
        effective = run.effective_input()
        items = (templates.path_field(str(state["ItemsPath"]), run.env(effective, raw=False), "ItemsPath")
                 if "ItemsPath" in state else effective)
        error = errors.RUNTIME
    if not isinstance(items, list):
        raise run.runtime_error(f"Map state input must be an array but was: {to_json_text(items)}", error)
    return items, effective


def _selected(run: StateRun, effective: JSON, index: int, item: JSON) -> JSON:
    state = run.state
    if run.jsonata:
        if "ItemSelector" not in state:
            return item
        env = run.env(map_item=(index, item))
        return jsonata_eval.evaluate(state["ItemSelector"], env, "ItemSelector", now=run.now)
    selector = state.get("ItemSelector", state.get("Parameters"))
    if selector is None:
        return item
    field = "ItemSelector" if "ItemSelector" in state else "Parameters"
    return templates.payload(selector, run.env(effective, raw=False, map_item=(index, item)), field)


def _field_value(run: StateRun, field: str, effective: JSON) -> tuple[JSON, str | None]:
    """The value of ``field`` (a literal, a JSONata expression) or of ``<field>Path``; the path when
    the value came from one."""
    state = run.state
    if field in state:
        value = state[field]
        if run.jsonata and jsonata_eval.is_expression(value):
            value = jsonata_eval.evaluate(value, run.env(), field, now=run.now)
        return value, None
    path_field = f"{field}Path"
    if path_field in state:
        path = str(state[path_field])
        return templates.path_field(path, run.env(effective, raw=False), path_field), path
    return None, None


def _count(run: StateRun, field: str, effective: JSON) -> int | None:
    number = _number(run, field, effective, _as_integer, "integer")
    if number is not None and number < 0:
        raise run.runtime_error(f"{field} cannot be negative.", _error_name(run))
    return number


def _percentage(run: StateRun, effective: JSON) -> float | None:
    field = "ToleratedFailurePercentage"
    number = _number(run, field, effective, _as_number, "number")
    if number is not None and not 0 <= number <= 100:
        raise run.runtime_error(f"{field} must be between 0 and 100.", _error_name(run))
    return number


def _number(run: StateRun, field: str, effective: JSON, convert: Callable[[JSON], Number | None],
            kind: str) -> Number | None:
    """MaxConcurrency / ToleratedFailure*: the field's value (or its ``...Path``'s) as ``kind``."""
    value, path = _field_value(run, field, effective)
    if value is None:
        return None
    number = convert(value)
    if number is None:
        where = f"{field}Path" if path is not None else field
        raise run.runtime_error(f'The {where} field refers to value "{_shown(value)}" which is not a valid {kind}: '
                                f"{path if path is not None else _shown(value)}", _error_name(run))
    return number


def _batched(run: StateRun, items: list[JSON], effective: JSON) -> list[JSON]:
    """With ItemBatcher, each child gets ``{"Items": [...], "BatchInput": ...}``: as many items as
    MaxItemsPerBatch and MaxInputBytesPerBatch allow (at least one)."""
    batcher = run.state.get("ItemBatcher")
    if not isinstance(batcher, dict):
        return items
    saved, run.state = run.state, batcher
    try:
        max_items = _count(run, "MaxItemsPerBatch", effective)
        max_bytes = _count(run, "MaxInputBytesPerBatch", effective)
        batch_input: JSON = None
        if "BatchInput" in batcher:
            batch_input = (jsonata_eval.evaluate(batcher["BatchInput"], run.env(), "BatchInput", now=run.now)
                           if run.jsonata else
                           templates.payload(batcher["BatchInput"], run.env(effective, raw=False), "BatchInput"))
    finally:
        run.state = saved
    batches: list[list[JSON]] = []
    for item in items:
        current = batches[-1] if batches else None
        if current is not None and _fits(current, item, batch_input, max_items, max_bytes):
            current.append(item)
        else:
            batches.append([item])
    return [_batch(batch, batch_input) for batch in batches]


def _fits(batch: list[JSON], item: JSON, batch_input: JSON, max_items: int | None, max_bytes: int | None) -> bool:
    if max_items is not None and len(batch) >= max_items:
        return False
    if max_bytes is not None:
        size = len(to_json_text(_batch([*batch, item], batch_input)).encode())
        if size > max_bytes:
            return False
    return True


def _batch(items: list[JSON], batch_input: JSON) -> dict[str, JSON]:
    batch: dict[str, JSON] = {"Items": items}
    if batch_input is not None:
        batch["BatchInput"] = batch_input
    return batch


def map_run_arn(run: StateRun) -> str:
    """``arn:aws:states:<region>:<account>:mapRun:<machine>/<map state>:<id>``, the id stable for a
    given execution and state entry."""
    execution = run.execution
    parts = execution.execution_arn.split(":")
    account = parts[4] if len(parts) > 4 else ""
    run_id = hashlib.sha256(f"{execution.execution_arn}|{run.name}|{run.cursor.entered_event_id}|"
                            f"{sum(run.cursor.attempts)}".encode()).hexdigest()[:32]
    return (f"arn:aws:states:{region_of(execution.execution_arn)}:{account}:mapRun:"
            f"{execution.state_machine_name}/{run.name}:{run_id}")


def _as_integer(value: JSON) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _as_number(value: JSON) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _shown(value: JSON) -> str:
    return value if isinstance(value, str) else to_json_text(value)


def _error_name(run: StateRun) -> str:
    return errors.QUERY_EVALUATION_ERROR if run.jsonata else errors.RUNTIME
