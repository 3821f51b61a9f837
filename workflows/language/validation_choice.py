"""Validation of a Choice state's rules, in JSONPath mode (Variable + one operator, And/Or/Not) and
JSONata mode (Condition)."""

from __future__ import annotations

from workflows.language.choice_operators import ALL_OPERATORS, COMPARISONS, IS_PRESENT, PATH_COMPARISONS, TYPE_TESTS
from workflows.language.env import JSON
from workflows.language.timestamps import is_timestamp
from workflows.language.validation_fields import JSONATA
from workflows.language.validation_paths import check_reference_path, is_jsonata_expression
from workflows.language.validation_report import Report, child

_TOP_RULE_EXTRAS = frozenset({"Next", "Comment", "Assign"})
_NESTED_RULE_EXTRAS = frozenset({"Comment"})
_JSONATA_RULE_FIELDS = frozenset({"Condition", "Next", "Comment", "Assign", "Output"})
_COMPOSITES = ("And", "Or", "Not")


def check_choices(state: dict[str, JSON], language: str, report: Report, location: str) -> None:
    choices = state.get("Choices")
    if choices is None:
        return  # reported as a missing required field
    choices_location = child(location, "Choices")
    if not isinstance(choices, list):
        report.schema("The value for the field 'Choices' must be an ARRAY", choices_location)
        return
    if not choices:
        report.schema("The field 'Choices' should be non-empty", choices_location)
    for index, rule in enumerate(choices):
        rule_location = child(choices_location, index)
        if not isinstance(rule, dict):
            report.schema("A choice rule must be an OBJECT", rule_location)
        elif language == JSONATA:
            _check_jsonata_rule(rule, report, rule_location)
        else:
            _check_rule(rule, report, rule_location, top_level=True)


def _check_jsonata_rule(rule: dict[str, JSON], report: Report, location: str) -> None:
    report.only(rule, _JSONATA_RULE_FIELDS, location)
    if report.require(rule, ("Condition", "Next"), location):
        condition = rule["Condition"]
        if not isinstance(condition, bool) and not is_jsonata_expression(condition):
            report.schema("The value for the field 'Condition' must be a JSONata expression or a BOOLEAN",
                          child(location, "Condition"))
        report.expect_type(rule, "Next", "string", location)


def _check_rule(rule: dict[str, JSON], report: Report, location: str, top_level: bool) -> None:
    extras = _TOP_RULE_EXTRAS if top_level else _NESTED_RULE_EXTRAS
    if top_level:
        report.require(rule, ("Next",), location)
        report.expect_type(rule, "Next", "string", location)
    report.only(rule, extras | ALL_OPERATORS | frozenset(_COMPOSITES) | {"Variable"}, location)
    composites = [name for name in _COMPOSITES if name in rule]
    operators = [name for name in rule if name in ALL_OPERATORS]
    if len(composites) + len(operators) != 1:
        report.schema("A choice rule must have exactly one comparison operator or one of And, Or, Not", location)
        return
    if composites:
        _check_composite(rule, composites[0], report, location)
        return
    if "Variable" not in rule:
        report.schema("These fields are required: [Variable]", location)
    else:
        check_reference_path(rule["Variable"], "Variable", report, child(location, "Variable"))
    _check_operand(operators[0], rule[operators[0]], report, child(location, operators[0]))


def _check_composite(rule: dict[str, JSON], name: str, report: Report, location: str) -> None:
    if "Variable" in rule:
        report.schema("Field 'Variable' is not supported", location)
    value, where = rule[name], child(location, name)
    if name == "Not":
        if isinstance(value, dict):
            _check_rule(value, report, where, top_level=False)
        else:
            report.schema("The value for the field 'Not' must be an OBJECT", where)
        return
    if not isinstance(value, list) or not value:
        report.schema(f"The value for the field '{name}' must be a non-empty ARRAY", where)
        return
    for index, sub_rule in enumerate(value):
        sub_location = child(where, index)
        if isinstance(sub_rule, dict):
            _check_rule(sub_rule, report, sub_location, top_level=False)
        else:
            report.schema("A choice rule must be an OBJECT", sub_location)


def _check_operand(operator: str, operand: JSON, report: Report, location: str) -> None:
    if operator in PATH_COMPARISONS:
        check_reference_path(operand, operator, report, location)
        return
    if operator in TYPE_TESTS or operator == IS_PRESENT or operator == "BooleanEquals":
        expected, ok = "a BOOLEAN", isinstance(operand, bool)
    elif operator.startswith("Numeric"):
        expected, ok = "a NUMBER", isinstance(operand, int | float) and not isinstance(operand, bool)
    elif operator.startswith("Timestamp"):
        expected, ok = "a valid timestamp STRING", is_timestamp(operand)
    else:
        assert operator in COMPARISONS
        expected, ok = "a STRING", isinstance(operand, str)
    if not ok:
        report.schema(f"The value for the field '{operator}' must be {expected}", location)
