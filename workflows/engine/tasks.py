"""Task runners, chosen by a Task state's ``Resource``.

A resource names a service integration and, after a dot, its pattern::

    arn:aws:states:::lambda:invoke                      request/response
    arn:aws:states:::lambda:invoke.waitForTaskToken     callback: wait for SendTaskSuccess/Failure
    arn:aws:states:::states:startExecution.sync:2       job: wait for the child execution
    arn:aws:lambda:us-east-1:123456789012:function:f    a function ARN called directly
    arn:aws:states:us-east-1:123456789012:activity:a    an activity: workers poll GetActivityTask

``TaskRegistry`` maps ``(service, action)`` pairs — ``("lambda", "invoke")``, ``("lambda",
"function")`` for function ARNs, ``("states", "activity")`` — to a ``TaskRunner``. A runner either
answers (``run`` returns the result) or, for the callback and job patterns and for activities, only
dispatches the work: the engine then waits, durably, for the task token to be answered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from workflows.errors import StatesError
from workflows.language.env import JSON
from workflows.language.interpreter import ExecutionInfo

PATTERNS = ("", "sync", "sync:2", "waitForTaskToken")
_INTEGRATION = re.compile(r"^arn:aws:states:::(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)(?:\.(?P<pattern>.+))?$")
_FUNCTION = re.compile(r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[A-Za-z0-9_-]+)(?::[A-Za-z0-9$_-]+)?$")
_ACTIVITY = re.compile(r"^arn:aws:states:[a-z0-9-]+:\d{12}:activity:(?P<name>[A-Za-z0-9_.-]+)$")


@dataclass(frozen=True)
class Resource:
    service: str
    action: str
    pattern: str        # "" | "sync" | "sync:2" | "waitForTaskToken"
    arn: str
    name: str = ""      # the function or activity name of an ARN resource

    @property
    def waits_for_token(self) -> bool:
        return self.pattern != "" or (self.service, self.action) == ("states", "activity")


def parse_resource(arn: str) -> Resource | None:
    if match := _INTEGRATION.match(arn):
        pattern = match["pattern"] or ""
        if pattern not in PATTERNS:
            return None
        return Resource(match["service"], match["action"], pattern, arn)
    if match := _FUNCTION.match(arn):
        return Resource("lambda", "function", "", arn, match["name"])
    if match := _ACTIVITY.match(arn):
        return Resource("states", "activity", "", arn, match["name"])
    return None


@dataclass(frozen=True)
class TaskRequest:
    resource: Resource
    payload: JSON
    execution: ExecutionInfo
    state_name: str
    task_token: str | None      # set whenever the engine will wait for a token
    heartbeat_seconds: float | None = None


class TaskRunner(Protocol):
    patterns: frozenset[str]    # which integration patterns this runner supports

    async def run(self, request: TaskRequest) -> JSON:
        """Do the task (request/response) or dispatch it (token patterns). Raise ``StatesError``
        with the task's error name and cause on failure."""
        ...


class TaskRegistry:
    def __init__(self) -> None:
        self._runners: dict[tuple[str, str], TaskRunner] = {}

    def register(self, service: str, action: str, runner: TaskRunner) -> None:
        self._runners[(service, action)] = runner

    def runner_for(self, resource: Resource) -> TaskRunner | None:
        runner = self._runners.get((resource.service, resource.action))
        if runner is None or resource.pattern not in runner.patterns:
            return None
        return runner

    def supports(self, arn: str) -> bool:
        """Whether a definition may name ``arn`` (validation's hook)."""
        resource = parse_resource(arn)
        return resource is not None and self.runner_for(resource) is not None

    def problem(self, arn: str) -> str:
        resource = parse_resource(arn)
        if resource is None:
            return f"The resource '{arn}' is not a valid Task resource ARN"
        runner = self._runners.get((resource.service, resource.action))
        if runner is None:
            return (f"The resource '{arn}' is not supported by Trellis "
                    f"(no runner for {resource.service}:{resource.action})")
        return (f"The resource '{arn}' does not support the integration pattern "
                f"'{resource.pattern or 'request-response'}'")


def task_failed(error: str, cause: str | None) -> StatesError:
    return StatesError(error, cause)


def string_field(payload: JSON, name: str, state: str) -> str:
    value = payload.get(name) if isinstance(payload, Mapping) else None
    if not isinstance(value, str) or not value:
        raise StatesError("States.Runtime", f"An error occurred while executing the state '{state}'. "
                          f"The field '{name}' is required and must be a string.")
    return value
