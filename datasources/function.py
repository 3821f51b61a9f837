"""The ``function`` data source: AppSync's Lambda data source, as an in-process Python callable.

``handler = "package.module:callable"`` names the function; it is imported at start(). It receives
the resolver's request if there is one, else AppSync's Lambda event (arguments, identity, source,
request, info, prev, stash). As with AppSync's ``{"operation": "Invoke", "payload": ...}`` request,
a request of that shape hands the handler only its ``payload``; ``"BatchInvoke"`` hands it the list
of payloads and must get a list of the same length back.

Sync handlers run in a worker thread so they cannot stall the event loop; async ones are awaited.
Errors follow AppSync: a ``TrellisError`` (e.g. ``util.error``'s ``ResolverError``) passes through
unchanged, anything else becomes ``Lambda:Unhandled`` with the exception's message, and the class
name as ``errorInfo.errorType`` (Lambda's own name for it in an error payload).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from app.errors import ConfigError, DataSourceError, DataSourceTimeoutError, Problem, TrellisError
from datasources.base import Invocation, register_kind

_OPTIONS = frozenset({"kind", "handler", "timeout_seconds"})
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_HANDLER = re.compile(rf"^{_DOTTED}:{_DOTTED}$")

Handler = Callable[[Any], Any]


class FunctionDataSource:
    kind = "function"

    def __init__(self, name: str, *, handler: str, timeout_seconds: float) -> None:
        self.name = name
        self.handler_path = handler
        self.timeout_seconds = timeout_seconds
        self._handler: Handler | None = None

    async def start(self) -> None:
        self._handler = load_handler(self.name, self.handler_path)

    async def close(self) -> None:
        self._handler = None

    async def invoke(self, invocation: Invocation) -> Any:
        handler = self._handler
        if handler is None:
            raise DataSourceError(f"data source {self.name!r} is not started")
        request = invocation.request
        event: Any = invocation.event if request is None else request
        batch_size: int | None = None
        if isinstance(request, Mapping) and "payload" in request:
            operation = request.get("operation")
            if operation == "BatchInvoke":
                event = request["payload"]
                if not isinstance(event, list):
                    raise DataSourceError(f"data source {self.name!r}: BatchInvoke payload must be a list")
                batch_size = len(event)
            elif operation == "Invoke":
                event = request["payload"]
        try:
            # asyncio.timeout, not wait_for: no extra task per call.
            async with asyncio.timeout(self.timeout_seconds):
                result = await self._call(handler, event)
        except TimeoutError:
            # Only wait_for's own timeout gets here: _call turns the handler's errors into ours.
            # A sync handler's thread cannot be killed; it runs on, but nobody waits for it.
            raise DataSourceTimeoutError(
                f"data source {self.name!r}: handler {self.handler_path} timed out after "
                f"{self.timeout_seconds:g} s"
            ) from None
        if batch_size is not None and (not isinstance(result, list) or len(result) != batch_size):
            got = f"{len(result)} results" if isinstance(result, list) else type(result).__name__
            raise DataSourceError(
                f"data source {self.name!r}: BatchInvoke handler must return a list of {batch_size} "
                f"results, got {got}"
            )
        return result

    async def _call(self, handler: Handler, event: Any) -> Any:
        try:
            if _is_async(handler):
                return await handler(event)
            result = await asyncio.to_thread(handler, event)
            if inspect.isawaitable(result):  # a sync wrapper that hands back a coroutine
                result = await result
            return result
        except TrellisError:
            raise
        except Exception as exc:
            raise DataSourceError(
                str(exc) or type(exc).__name__,
                error_type="Lambda:Unhandled",
                error_info={"errorType": type(exc).__name__},
            ) from exc


def _is_async(handler: Handler) -> bool:
    # The second test catches a callable object whose ``__call__`` is ``async def``.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)


def load_handler(name: str, path: str) -> Handler:
    """Import ``package.module:attr.path``; any failure is a ConfigError naming the path."""

    def problem(message: str) -> ConfigError:
        return ConfigError([Problem(f"data source {name!r}: handler {path!r}: {message}")])

    module_name, _, attr_path = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raised while importing
        raise problem(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from exc
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError as exc:
            raise problem(f"{module_name!r} has no attribute {attr_path!r}") from exc
    if not callable(target):
        raise problem("is not callable")
    handler: Handler = target
    return handler


def build(name: str, config: Mapping[str, Any]) -> FunctionDataSource:
    """Validate a ``function`` data source's config table; the import itself waits for start()."""
    problems = [f"unknown option {key!r}" for key in sorted(map(str, config)) if key not in _OPTIONS]
    handler = config.get("handler")
    if handler is None:
        problems.append('handler: required (e.g. "package.module:function")')
    elif not isinstance(handler, str) or not _HANDLER.match(handler):
        problems.append(f'handler: {handler!r} is not of the form "package.module:callable"')
    timeout = config.get("timeout_seconds", 10.0)
    if not _positive_number(timeout):
        problems.append("timeout_seconds: must be a number greater than 0")
    if problems:
        raise ConfigError([Problem(f"data source {name!r}: {p}") for p in problems])
    assert isinstance(handler, str)
    return FunctionDataSource(name, handler=handler, timeout_seconds=float(timeout))


def _positive_number(value: Any) -> bool:
    # bool is an int to Python, but "timeout_seconds = true" is a mistake, not one second.
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


register_kind("function", build)
