"""Static checks of the expressions a definition holds: reference paths (``$``, ``$$`` or
``$variable`` based), ``"key.$"`` template entries, and ``{% %}`` JSONata strings. Only the shape is
checked here; evaluation finds the rest at run time."""

from __future__ import annotations

from workflows.language.env import JSON
from workflows.language.validation_report import NO_DOLLAR, PASS_RESULT_IS_STATIC, Report, child


def is_jsonata_expression(value: JSON) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}") and len(value) >= 4


def check_reference_path(value: JSON, field: str, report: Report, location: str, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        report.schema(f"The value for the field '{field}' must be a STRING", location)
    elif not value.startswith("$"):
        report.schema("Value is not a Reference Path: Reference path didn't start with '$'", location)


def looks_dynamic(value: JSON) -> bool:
    """A string that reads like a path or an intrinsic call, i.e. probably meant to be evaluated."""
    return isinstance(value, str) and (value.startswith(("$.", "$$.", "$[")) or value.startswith("States."))


def check_static_result(result: JSON, report: Report, location: str) -> None:
    """A Pass state's Result is never evaluated: warn where it looks as if it were meant to be."""
    if isinstance(result, list):
        for index, item in enumerate(result):
            check_static_result(item, report, child(location, index))
    elif isinstance(result, dict):
        for key, value in result.items():
            where = child(location, key)
            if key.endswith(".$"):
                report.warning(PASS_RESULT_IS_STATIC, "Attempt to use a path in the result of a pass state.", where)
            else:
                check_static_result(value, report, where)


def check_template(template: JSON, report: Report, location: str) -> None:
    """``"key.$"`` entries of a payload template must hold a path or an intrinsic function call;
    a plain entry whose value looks like one gets a NO_DOLLAR warning."""
    if isinstance(template, list):
        for index, item in enumerate(template):
            check_template(item, report, child(location, index))
        return
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        where = child(location, key)
        if key.endswith(".$"):
            if not (isinstance(value, str) and (value.startswith("$") or value.startswith("States."))):
                report.schema(
                    f"The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call",
                    where,
                )
        elif looks_dynamic(value):
            report.warning(NO_DOLLAR, f"The field '{key}' holds what looks like a JSONPath or an intrinsic function, "
                           "but its name does not end with '.$'", where)
        else:
            check_template(value, report, where)
