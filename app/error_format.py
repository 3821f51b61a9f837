"""One place decides what a client sees of an error: AppSync's shape, no stack traces.

    {"message", "errorType", "errorInfo", "data", "path", "locations"}
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from app.errors import TrellisError

log = logging.getLogger("trellis.errors")
INTERNAL_MESSAGE = "An internal error occurred"


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    original = error.original_error
    extensions = error.extensions or {}
    error_type: Any = extensions.get("errorType")
    message = error.message
    data: Any = None
    error_info: Any = None
    if isinstance(original, TrellisError):
        error_type, message = original.error_type, original.message
        data, error_info = original.data, original.error_info
    elif original is not None and not isinstance(original, GraphQLError):
        # A bug in Trellis or a user resolver: log it whole, show the client nothing inside.
        log.error("unhandled resolver error at %s", error.path, exc_info=original)
        error_type = "InternalFailure"
        message = f"{INTERNAL_MESSAGE}: {original}" if debug else INTERNAL_MESSAGE
    elif error_type is None:
        error_type = "ValidationError" if error.path is None else "ExecutionError"
    return {
        "path": error.path,
        "data": data,
        "errorType": error_type,
        "errorInfo": error_info,
        "locations": [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations or ()]
        or None,
        "message": message,
    }


def format_trellis_error(error: TrellisError) -> dict[str, Any]:
    return {
        "path": None,
        "data": error.data,
        "errorType": error.error_type,
        "errorInfo": error.error_info,
        "locations": None,
        "message": error.message,
    }
