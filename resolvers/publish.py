"""Custom mutations named in ``@aws_subscribe(mutations: [...])`` publish what they return.

@model mutations publish the stored item themselves; a mutation with a user resolver publishes
its result (as AppSync does: the mutation's response is the subscription's event), but the
whole object the resolver returned, not only the fields the mutation selected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLResolveInfo
from graphql.pyutils import is_awaitable

from resolvers.context import RequestScope


def publishing_resolver(field_name: str, inner: Callable[..., Any] | None) -> Callable[..., Any]:
    async def resolve(source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
        if inner is None:
            result = source.get(field_name) if isinstance(source, Mapping) else getattr(source, field_name, None)
        else:
            result = inner(source, info, **args)
        if is_awaitable(result):
            result = await result
        if isinstance(result, Mapping):
            scope: RequestScope = info.context
            for listener in scope.runtime.change_listeners:
                await listener(field_name, None, result)
        return result

    return resolve
