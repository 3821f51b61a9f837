"""What an expression can see while one state runs.

JSONPath mode reads ``$`` (``input``), ``$$`` (``context``) and ``$name`` (``variables``).
JSONata mode reads ``$states`` — ``{"input", "context", "result"?, "errorOutput"?}`` — and the
variables as ``$name``. One ``Env`` serves both; ``result``/``error_output`` are set only while the
state's result or caught error is being processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

JSON = Any  # a decoded JSON value: dict, list, str, int, float, bool or None

_UNSET: Any = object()


@dataclass(frozen=True)
class Env:
    input: JSON
    context: JSON
    variables: Mapping[str, JSON] = field(default_factory=dict)
    result: JSON = _UNSET
    error_output: JSON = _UNSET

    def with_input(self, value: JSON) -> Env:
        return replace(self, input=value)

    def with_result(self, value: JSON) -> Env:
        return replace(self, result=value)

    def with_error_output(self, value: JSON) -> Env:
        return replace(self, error_output=value)

    def states_binding(self) -> dict[str, JSON]:
        """JSONata's ``$states``: only what is defined at this point of the state."""
        states: dict[str, JSON] = {"input": self.input, "context": self.context}
        if self.result is not _UNSET:
            states["result"] = self.result
        if self.error_output is not _UNSET:
            states["errorOutput"] = self.error_output
        return states
