"""Which fields each part of a definition may carry, per state type and query language.

AWS validates a definition against a schema per query language: a field outside it is reported as
``Field 'X' is not supported``. JSONPath states use the ``*Path`` fields, ``Parameters``,
``ResultSelector`` and ``Result``; JSONata states use ``Arguments``, ``Output``, ``Items`` and
``{% %}`` values in the plain fields instead. ``Assign`` exists in both.
"""

from __future__ import annotations

JSONPATH = "JSONPath"
JSONATA = "JSONata"
QUERY_LANGUAGES = (JSONPATH, JSONATA)

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")

# Fields any state may have, whatever its type and query language.
_COMMON = frozenset({"Type", "Comment", "QueryLanguage"})

# Per type: (fields in both languages, JSONPath-only fields, JSONata-only fields).
_STATE_FIELDS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "Pass": (
        frozenset({"Next", "End", "Assign"}),
        frozenset({"InputPath", "OutputPath", "Parameters", "Result", "ResultPath"}),
        frozenset({"Output"}),
    ),
    "Task": (
        frozenset({"Next", "End", "Assign", "Resource", "Retry", "Catch", "TimeoutSeconds", "HeartbeatSeconds",
                   "Credentials"}),
        frozenset({"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "TimeoutSecondsPath",
                   "HeartbeatSecondsPath"}),
        frozenset({"Arguments", "Output"}),
    ),
    "Choice": (
        frozenset({"Choices", "Default", "Assign"}),
        frozenset({"InputPath", "OutputPath"}),
        frozenset({"Output"}),
    ),
    "Wait": (
        frozenset({"Next", "End", "Assign", "Seconds", "Timestamp"}),
        frozenset({"InputPath", "OutputPath", "SecondsPath", "TimestampPath"}),
        frozenset({"Output"}),
    ),
    "Succeed": (
        frozenset(),
        frozenset({"InputPath", "OutputPath"}),
        frozenset({"Output"}),
    ),
    "Fail": (
        frozenset({"Error", "Cause"}),
        frozenset({"ErrorPath", "CausePath"}),
        frozenset(),
    ),
    "Parallel": (
        frozenset({"Next", "End", "Assign", "Branches", "Retry", "Catch"}),
        frozenset({"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath"}),
        frozenset({"Arguments", "Output"}),
    ),
    "Map": (
        frozenset({"Next", "End", "Assign", "Retry", "Catch", "ItemProcessor", "Iterator", "ItemSelector",
                   "ItemReader", "ResultWriter", "ItemBatcher", "MaxConcurrency", "ToleratedFailureCount",
                   "ToleratedFailurePercentage", "Label"}),
        frozenset({"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "ItemsPath",
                   "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"}),
        frozenset({"Items", "Output"}),
    ),
}


def allowed_state_fields(state_type: str, language: str) -> frozenset[str]:
    shared, jsonpath_only, jsonata_only = _STATE_FIELDS[state_type]
    return _COMMON | shared | (jsonata_only if language == JSONATA else jsonpath_only)


# Types whose states move on with Next or End (Choice uses its rules; Succeed and Fail end).
TRANSITIONING_TYPES = frozenset({"Pass", "Task", "Wait", "Parallel", "Map"})

ROOT_FIELDS = frozenset({"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"})
BRANCH_FIELDS = frozenset({"StartAt", "States", "Comment"})
PROCESSOR_FIELDS = frozenset({"StartAt", "States", "Comment", "ProcessorConfig"})
PROCESSOR_CONFIG_FIELDS = frozenset({"Mode", "ExecutionType"})
MAP_MODES = ("INLINE", "DISTRIBUTED")
EXECUTION_TYPES = ("STANDARD", "EXPRESS")

RETRIER_FIELDS = frozenset({"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
                            "JitterStrategy", "Comment"})
JITTER_STRATEGIES = ("FULL", "NONE")
CATCHER_FIELDS = {
    JSONPATH: frozenset({"ErrorEquals", "Next", "ResultPath", "Assign", "Comment"}),
    JSONATA: frozenset({"ErrorEquals", "Next", "Output", "Assign", "Comment"}),
}

# Fields holding a reference path (``$``, ``$$`` or ``$variable`` based), per state; null allowed
# where the spec gives null a meaning.
NULLABLE_PATH_FIELDS = ("InputPath", "OutputPath", "ResultPath")
PATH_FIELDS = ("ItemsPath", "SecondsPath", "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath",
               "ErrorPath", "CausePath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
               "ToleratedFailurePercentagePath")

# Payload templates whose ``"key.$"`` entries must hold a path or an intrinsic function call.
TEMPLATE_FIELDS = ("Parameters", "ResultSelector", "ItemSelector")

MAX_STATE_NAME_LENGTH = 80
