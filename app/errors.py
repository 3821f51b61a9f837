"""Trellis's one error hierarchy.

Every error a client can see is a ``TrellisError``; its ``error_type`` is AppSync's ``errorType``::

    TrellisError (errorType chosen per leaf)
    ├── BadRequestError          "BadRequestException"     malformed request, bad variables
    │   ├── QueryLimitError      "QueryLimitExceeded"      depth / aliases / tokens / batch / body
    │   └── InvalidTokenError    "InvalidNextTokenException" tampered or foreign nextToken
    ├── ValidationFailedError    "ValidationError"         input that fails schema/scalar rules
    ├── UnauthorizedError        "UnauthorizedException"   no valid credential (HTTP 401)
    ├── ConditionFailedError     "ConditionalCheckFailedException"
    ├── NotFoundError            "NotFound"
    ├── DataSourceError          "DataSourceError"         a data source failed
    │   ├── DataSourceTimeoutError "Timeout"
    │   └── ForbiddenAddressError  "ForbiddenAddress"      HTTP target refused by SSRF guard
    ├── ResolverError            any errorType             ``util.error(...)`` from user code
    └── ConfigError              "ConfigError"             bad schema or config (start-up only)

``ConfigError`` carries a list of problems so ``trellis check`` can report all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class TrellisError(Exception):
    """Base of every error Trellis reports to a client, in AppSync's shape."""

    error_type: str = "InternalFailure"

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        data: Any = None,
        error_info: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if error_type is not None:
            self.error_type = error_type
        self.data = data
        self.error_info = dict(error_info) if error_info is not None else None


class BadRequestError(TrellisError):
    error_type = "BadRequestException"


class QueryLimitError(BadRequestError):
    error_type = "QueryLimitExceeded"


class InvalidTokenError(BadRequestError):
    error_type = "InvalidNextTokenException"


class ValidationFailedError(TrellisError):
    error_type = "ValidationError"


class UnauthorizedError(TrellisError):
    error_type = "UnauthorizedException"


class ConditionFailedError(TrellisError):
    error_type = "ConditionalCheckFailedException"


class NotFoundError(TrellisError):
    error_type = "NotFound"


class DataSourceError(TrellisError):
    error_type = "DataSourceError"


class DataSourceTimeoutError(DataSourceError):
    error_type = "Timeout"


class ForbiddenAddressError(DataSourceError):
    error_type = "ForbiddenAddress"


class ResolverError(TrellisError):
    """Raised by ``util.error``; the user picks the errorType."""

    error_type = "ResolverError"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the schema or config, with where it is."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return where + self.message


class ConfigError(TrellisError):
    """The schema or config is wrong; raised at start-up, never at request time."""

    error_type = "ConfigError"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
