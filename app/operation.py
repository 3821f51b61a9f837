"""One query or mutation run as an identity: what HTTP, graphql-transport-ws and workflow Tasks share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphql import ExecutionResult

from app.execution import GraphQLRequest, Prepared
from auth.modes import Identity
from resolvers.context import RequestInfo, RequestScope

if TYPE_CHECKING:
    from app.runtime import Runtime


async def execute_operation(runtime: Runtime, prepared: Prepared, request: GraphQLRequest, info: RequestInfo,
                            identity: Identity) -> ExecutionResult:
    """Run one prepared query or mutation as ``identity``."""
    scope = RequestScope(runtime=runtime.resolvers, request=info, identity=identity.appsync, caller=identity)
    guard = runtime.field_guards.guard_for(identity)
    return await runtime.executor.execute(prepared, request, scope, guard)
