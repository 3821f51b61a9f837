"""Errors of the workflow engine.

::

    StatesError                 a runtime error as ASL sees it: ``error`` (matched by Retry/Catch
    │                           ``ErrorEquals``) and ``cause``; ends a state, maybe the execution
    └── EvaluationError         raised by expression evaluation (paths, templates, intrinsics, JSONata)
                                with only the *detail* of the cause; the interpreter prefixes AWS's
                                "An error occurred while executing the state '<S>' (entered at the
                                event id #<N>). " before the error reaches Retry/Catch
    DefinitionError             a state machine definition that does not validate (on create/update)
    WorkflowApiError            a Step Functions API error: ``code`` is AWS's ``__type``
"""

from __future__ import annotations

# The predefined error names (ASL spec "Errors" + AWS's additions).
ALL = "States.ALL"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TASK_FAILED = "States.TaskFailed"
PERMISSIONS = "States.Permissions"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"


class StatesError(Exception):
    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause is not None else error)
        self.error = error
        self.cause = cause


class EvaluationError(StatesError):
    """``cause`` is the detail only; see the module docstring."""


class DefinitionError(Exception):
    """``problems`` are human-readable, each naming the definition path it is about."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class WorkflowApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
