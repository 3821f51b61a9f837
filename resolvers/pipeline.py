"""Unit and pipeline resolvers, as AppSync runs them.

* ``FunctionResolver``: a Python function ``fn(ctx)`` is the whole resolver (sync or async).
* ``UnitResolver``: ``request(ctx)`` builds the data-source request, the data source runs it, and
  ``response(ctx)`` shapes ``ctx.result``. Without ``request``, the data source gets AppSync's
  Lambda-style event (a direct resolver); without ``response``, the result is returned as is.
* ``PipelineResolver``: ``before(ctx)`` → each ``PipelineFunction`` (request → data source →
  response; its result becomes ``ctx.prev.result``) → ``after(ctx)``. The stash is shared.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from datasources.base import Invocation
from resolvers.context import RequestScope, ResolverContext, make_context

Step = Callable[[ResolverContext], Any]


async def _call(step: Step, ctx: ResolverContext) -> Any:
    result = step(ctx)
    if inspect.isawaitable(result):
        result = await result
    return result


@dataclass(frozen=True)
class PipelineFunction:
    name: str
    datasource: str
    request: Step | None = None
    response: Step | None = None

    async def run(self, ctx: ResolverContext) -> Any:
        request = await _call(self.request, ctx) if self.request is not None else None
        source = ctx.datasource(self.datasource)
        ctx.result = await source.invoke(Invocation(request=request, event=ctx.as_event()))
        return await _call(self.response, ctx) if self.response is not None else ctx.result


class Resolver(ABC):
    """A graphql-core resolver built from AppSync-style steps."""

    @abstractmethod
    async def run(self, ctx: ResolverContext) -> Any:
        """Resolve the field for this context."""

    def __call__(self, source: Any, info: GraphQLResolveInfo[RequestScope], **arguments: Any) -> Awaitable[Any]:
        return self.run(make_context(source, info, arguments))


@dataclass(frozen=True)
class FunctionResolver(Resolver):
    fn: Step

    async def run(self, ctx: ResolverContext) -> Any:
        return await _call(self.fn, ctx)


@dataclass(frozen=True)
class UnitResolver(Resolver):
    function: PipelineFunction

    async def run(self, ctx: ResolverContext) -> Any:
        return await self.function.run(ctx)


@dataclass(frozen=True)
class PipelineResolver(Resolver):
    functions: Sequence[PipelineFunction]
    before: Step | None = None
    after: Step | None = None

    async def run(self, ctx: ResolverContext) -> Any:
        if self.before is not None:
            ctx.prev.result = await _call(self.before, ctx)
        for function in self.functions:
            ctx.prev.result = await function.run(ctx)
        ctx.result = ctx.prev.result
        return await _call(self.after, ctx) if self.after is not None else ctx.result
