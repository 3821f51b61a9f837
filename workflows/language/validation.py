"""Definition validation on create/update: every problem names its path in the definition.
OWNER: choice/validation helper.

``validate`` returns findings the way ValidateStateMachineDefinition does (severity, code, message,
location); ``load`` parses and validates for CreateStateMachine/UpdateStateMachine and raises
``DefinitionError`` whose problems read like AWS's (``CODE: message at /location``);
``invalid_definition_message`` renders them as AWS's ``InvalidDefinition`` message.

Each scope (the machine, a Parallel branch, a Map's item processor) is checked on its own: required
fields, its states, that every transition names a state of the same scope, that some state ends the
scope, and that every state can be reached from ``StartAt``. State names must be unique across the
whole machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workflows.errors import DefinitionError
from workflows.language.env import JSON
from workflows.language.validation_fields import (
    JSONATA,
    JSONPATH,
    MAX_STATE_NAME_LENGTH,
    QUERY_LANGUAGES,
    ROOT_FIELDS,
    STATE_TYPES,
)
from workflows.language.validation_report import (
    DUPLICATE_STATE_NAME,
    INVALID_JSON_DESCRIPTION,
    INVALID_STATE_NAME,
    MISSING_END_STATE,
    MISSING_TRANSITION_TARGET,
    Diagnostic,
    Report,
    child,
)
from workflows.language.validation_states import StateContext, check_state

__all__ = ["Diagnostic", "invalid_definition_message", "load", "parse", "validate"]


class _ParsedObject(dict[str, Any]):
    """A decoded JSON object that remembers keys it saw more than once (the last value wins, as in
    AWS's parser) so that repeated state names can be reported."""

    repeated_keys: tuple[str, ...] = ()


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> _ParsedObject:
    parsed = _ParsedObject(pairs)
    if len(parsed) != len(pairs):
        seen: set[str] = set()
        repeated: list[str] = []
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        parsed.repeated_keys = tuple(repeated)
    return parsed


def parse(definition_text: str) -> tuple[JSON, list[Diagnostic]]:
    """Decode ``definition_text``; on a syntax error the value is None and the finding says where."""
    try:
        return json.loads(definition_text, object_pairs_hook=_object_from_pairs), []
    except json.JSONDecodeError as problem:
        source = json.dumps(definition_text[:500])
        where = f"[Source: (String){source}; line: {problem.lineno}, column: {problem.colno}]"
        return None, [Diagnostic("ERROR", INVALID_JSON_DESCRIPTION, f"{problem.msg}\n at {where}", where)]


def validate(definition: JSON, supported_resource: object = None, machine_type: str = "STANDARD") -> list[Diagnostic]:
    """The findings about ``definition`` (a decoded JSON value). ``supported_resource``, when given,
    is ``(resource) -> bool``: a Task whose Resource it refuses does not validate. ``machine_type``
    ("STANDARD"/"EXPRESS") adds Express's limits (no ``.sync``/``.waitForTaskToken``)."""
    report = Report()
    if not isinstance(definition, dict):
        report.schema("Definition must be a valid JSON object", "")
        return report.diagnostics
    checker = _MachineChecker(report, _resource_predicate(supported_resource), machine_type)
    checker.check_root(definition)
    return report.diagnostics


def load(definition_text: str, supported_resource: object = None, machine_type: str = "STANDARD") -> dict[str, JSON]:
    """Parse and validate; raise ``DefinitionError`` listing the ERROR diagnostics."""
    definition, diagnostics = parse(definition_text) if definition_text.strip() else (None, [])
    if not diagnostics:
        diagnostics = validate(definition, supported_resource, machine_type)
    errors = [diagnostic for diagnostic in diagnostics if diagnostic.severity == "ERROR"]
    if errors:
        raise DefinitionError([str(diagnostic) for diagnostic in errors])
    assert isinstance(definition, dict)  # validate reports anything else
    return definition


def invalid_definition_message(problems: list[str]) -> str:
    """CreateStateMachine's ``InvalidDefinition`` message for ``DefinitionError.problems``."""
    return f"Invalid State Machine Definition: '{', '.join(problems)}'"


def _resource_predicate(supported_resource: object) -> Callable[[str], bool] | None:
    if supported_resource is None:
        return None
    if not callable(supported_resource):
        raise TypeError("supported_resource must be a callable (resource) -> bool")
    return lambda resource: bool(supported_resource(resource))


class _MachineChecker:
    def __init__(self, report: Report, supported_resource: Callable[[str], bool] | None, machine_type: str) -> None:
        self.report = report
        self.seen_names: set[str] = set()
        self.root_language = JSONPATH
        self.context = StateContext(report, self.check_scope, supported_resource, machine_type)

    def check_root(self, definition: dict[str, JSON]) -> None:
        language = definition.get("QueryLanguage", JSONPATH)
        if language not in QUERY_LANGUAGES:
            self.report.schema(f"The field 'QueryLanguage' does not match any of the allowed values: "
                               f"[{', '.join(QUERY_LANGUAGES)}]", "/QueryLanguage")
            language = JSONPATH
        self.root_language = language
        self.report.expect_type(definition, "Version", "string", "/")
        if definition.get("TimeoutSeconds") is not None and self.report.expect_type(
                definition, "TimeoutSeconds", "integer", "/") and definition["TimeoutSeconds"] < 0:
            self.report.schema("The value for the field 'TimeoutSeconds' must be >= 0", "/TimeoutSeconds")
        self.check_scope(definition, "/", ROOT_FIELDS, language)

    def check_scope(self, scope: dict[str, JSON], location: str, allowed: frozenset[str], language: str) -> None:
        report = self.report
        report.only(scope, allowed, location)
        report.expect_type(scope, "Comment", "string", location)
        missing = [name for name in ("States", "StartAt") if name not in scope]
        if missing:
            report.schema(f"These fields are required: [{', '.join(missing)}]", location)
            return
        if not (report.expect_type(scope, "States", "object", location)
                and report.expect_type(scope, "StartAt", "string", location)):
            return
        states: dict[str, JSON] = scope["States"]
        states_location = child(location, "States")
        if not states:
            report.schema("The field 'States' should be non-empty", states_location)
            return
        for name in getattr(states, "repeated_keys", ()):
            report.error(DUPLICATE_STATE_NAME, f"Duplicate State name: {name}", child(states_location, name))
        valid_states: dict[str, dict[str, JSON]] = {}
        for name, state in states.items():
            if self._check_state_entry(name, state, language, child(states_location, name)):
                valid_states[name] = state
        _check_transitions(scope["StartAt"], states, valid_states, report, location)

    def _check_state_entry(self, name: str, state: JSON, inherited: str, location: str) -> bool:
        report = self.report
        if name in self.seen_names:
            report.error(DUPLICATE_STATE_NAME, f"Duplicate State name: {name}", location)
        self.seen_names.add(name)
        if len(name) > MAX_STATE_NAME_LENGTH:
            report.error(INVALID_STATE_NAME, f"State name is longer than {MAX_STATE_NAME_LENGTH} characters: {name}",
                         location)
        if not isinstance(state, dict):
            report.schema("A state must be an OBJECT", location)
            return False
        if "Type" not in state:
            report.schema("These fields are required: [Type]", location)
            return False
        if state["Type"] not in STATE_TYPES:
            report.schema(f"The field 'Type' does not match any of the allowed values: [{', '.join(STATE_TYPES)}]",
                          child(location, "Type"))
            return False
        language = state.get("QueryLanguage", inherited)
        if language not in QUERY_LANGUAGES:
            report.schema(f"The field 'QueryLanguage' does not match any of the allowed values: "
                          f"[{', '.join(QUERY_LANGUAGES)}]", child(location, "QueryLanguage"))
            language = inherited
        elif language == JSONPATH and inherited == JSONATA:
            report.schema("'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                          location)
        check_state(state, language, self.context, location)
        return True


def _transitions(state: dict[str, JSON], location: str) -> list[tuple[JSON, str]]:
    """(target, location of the field naming it) for every transition out of ``state``."""
    found: list[tuple[JSON, str]] = []
    if "Next" in state:
        found.append((state["Next"], child(location, "Next")))
    if "Default" in state:
        found.append((state["Default"], child(location, "Default")))
    for kind in ("Choices", "Catch"):
        entries = state.get(kind)
        if isinstance(entries, list):
            for index, entry in enumerate(entries):
                if isinstance(entry, dict) and "Next" in entry:
                    found.append((entry["Next"], child(child(child(location, kind), index), "Next")))
    return found


def _check_transitions(start_at: str, states: dict[str, JSON], valid_states: dict[str, dict[str, JSON]],
                       report: Report, location: str) -> None:
    states_location = child(location, "States")
    if start_at not in states:
        report.error(MISSING_TRANSITION_TARGET, f"Missing 'Next' target: {start_at}", child(location, "StartAt"))
    edges: dict[str, list[str]] = {name: [] for name in states}
    for name, state in valid_states.items():
        for target, where in _transitions(state, child(states_location, name)):
            if not isinstance(target, str):
                continue  # its type was reported already
            if target in states:
                edges[name].append(target)
            else:
                report.error(MISSING_TRANSITION_TARGET, f"Missing 'Next' target: {target}", where)
    if not any(_is_terminal(state) for state in valid_states.values()):
        # AWS reports this alone, without also calling every state unreachable.
        if len(valid_states) == len(states):
            report.error(MISSING_END_STATE, "Workflow has no terminal state", "" if location == "/" else location)
        return
    reached = _reachable(start_at, edges)
    for name in states:
        if name not in reached:
            report.error(MISSING_TRANSITION_TARGET, f'State "{name}" is not reachable.', child(states_location, name))


def _is_terminal(state: dict[str, JSON]) -> bool:
    return state.get("End") is True or state["Type"] in ("Succeed", "Fail")


def _reachable(start_at: str, edges: dict[str, list[str]]) -> set[str]:
    reached: set[str] = set()
    pending = [start_at] if start_at in edges else []
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending.extend(edges.get(name, ()))
    return reached
