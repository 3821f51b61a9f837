"""Binding user resolver functions to ``Type.field``, by decorator or by config.

    from resolvers.registry import resolver

    @resolver("Query.orderTotal")
    async def order_total(ctx): ...

Modules listed in ``resolver_modules`` are imported at start-up so their decorators run. Config
entries (``[resolvers."Type.field"]``) name functions as ``"package.module:function"``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from app.errors import Problem
from resolvers.pipeline import FunctionResolver, PipelineFunction, PipelineResolver, Resolver, Step, UnitResolver

_DECORATED: dict[str, Step] = {}


def resolver(coordinate: str) -> Callable[[Step], Step]:
    """Bind a Python function as the whole resolver of ``Type.field``."""

    def bind(fn: Step) -> Step:
        _DECORATED[coordinate] = fn
        with contextlib.suppress(AttributeError):  # builtins take no attributes; errors then name no line
            fn._trellis_decorated = True  # type: ignore[attr-defined]
        return fn

    return bind


def decorated() -> dict[str, Step]:
    return dict(_DECORATED)


def import_callable(path: str) -> Callable[..., Any]:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{path!r} is not of the form 'package.module:function'")
    module = importlib.import_module(module_name)
    target = getattr(module, attribute, None)
    if not callable(target):
        raise ValueError(f"{path!r}: {attribute!r} is not a callable in {module_name}")
    return target  # type: ignore[no-any-return]


class _Builder:
    def __init__(self, functions: Mapping[str, Mapping[str, Any]], datasources: set[str], where: str | None) -> None:
        self.functions = functions
        self.datasources = datasources
        self.where = where
        self.problems: list[Problem] = []

    def step(self, owner: str, table: Mapping[str, Any], key: str) -> Step | None:
        path = table.get(key)
        if path is None:
            return None
        try:
            return import_callable(str(path))
        except (ImportError, ValueError) as exc:
            self.problems.append(Problem(f"{owner}: {key} = {path!r}: {exc}", file=self.where))
            return None

    def function(self, owner: str, table: Mapping[str, Any]) -> PipelineFunction | None:
        source = table.get("datasource")
        if not isinstance(source, str):
            self.problems.append(Problem(f"{owner}: 'datasource' is required", file=self.where))
            return None
        if source not in self.datasources:
            self.problems.append(Problem(f"{owner}: unknown data source {source!r}", file=self.where))
            return None
        return PipelineFunction(owner, source, self.step(owner, table, "request"), self.step(owner, table, "response"))

    def resolver(self, coordinate: str, table: Mapping[str, Any]) -> Resolver | None:
        owner = f"resolver {coordinate}"
        allowed = {"datasource", "request", "response", "handler", "functions", "before", "after"}
        for key in sorted(set(table) - allowed):
            self.problems.append(Problem(f"{owner}: unknown option {key!r}", file=self.where))
        if "handler" in table:
            fn = self.step(owner, table, "handler")
            return FunctionResolver(fn) if fn is not None else None
        if "functions" in table:
            names = table["functions"]
            pipeline: list[PipelineFunction] = []
            for name in names if isinstance(names, list) else []:
                spec = self.functions.get(name)
                if spec is None:
                    self.problems.append(Problem(f"{owner}: unknown pipeline function {name!r}", file=self.where))
                    continue
                built = self.function(f"function {name}", spec)
                if built is not None:
                    pipeline.append(built)
            before, after = self.step(owner, table, "before"), self.step(owner, table, "after")
            return PipelineResolver(tuple(pipeline), before, after)
        built = self.function(owner, table)
        return UnitResolver(built) if built is not None else None


def build_configured(
    resolvers: Mapping[str, Mapping[str, Any]],
    functions: Mapping[str, Mapping[str, Any]],
    datasources: set[str],
    where: str | None,
) -> tuple[dict[str, Resolver], list[Problem]]:
    builder = _Builder(functions, datasources, where)
    built: dict[str, Resolver] = {}
    for coordinate, table in resolvers.items():
        if not isinstance(table, Mapping):
            builder.problems.append(Problem(f"resolver {coordinate}: must be a table", file=where))
            continue
        made = builder.resolver(coordinate, table)
        if made is not None:
            built[coordinate] = made
    for coordinate, fn in _DECORATED.items():
        built.setdefault(coordinate, FunctionResolver(fn))
    return built, builder.problems
