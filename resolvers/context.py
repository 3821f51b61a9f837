"""The AppSync-shaped context a resolver sees.

``RequestScope`` lives for one GraphQL request (it is graphql-core's ``context_value``): identity,
headers, the per-request batch loaders and errors appended with ``append_error``.
``ResolverContext`` is what user resolver functions receive, as ``ctx`` in AppSync:
``arguments``, ``source``, ``identity``, ``stash``, ``prev.result``, ``info`` and ``request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, FragmentSpreadNode, GraphQLResolveInfo, InlineFragmentNode, SelectionSetNode, print_ast

from app.errors import TrellisError
from auth.modes import Identity

if TYPE_CHECKING:
    from resolvers.runtime import ResolverRuntime


@dataclass(frozen=True)
class RequestInfo:
    headers: Mapping[str, str]
    domain_name: str | None = None

    def as_event(self) -> dict[str, Any]:
        return {"headers": dict(self.headers), "domainName": self.domain_name}


@dataclass
class RequestScope:
    runtime: ResolverRuntime
    request: RequestInfo
    identity: Mapping[str, Any] | None = None
    caller: Identity | None = None  # the authenticated identity (``identity`` is its AppSync view)
    loaders: dict[Any, Any] = field(default_factory=dict)
    appended_errors: list[TrellisError] = field(default_factory=list)
    subscription_filter: Mapping[str, Any] | None = None  # set by a subscription resolver


@dataclass
class Extensions:
    """AppSync's ``extensions`` in a resolver."""

    scope: RequestScope

    def set_subscription_filter(self, filter_json: Mapping[str, Any]) -> None:
        """In a subscription resolver: the enhanced filter (``{"filterGroup": [...]}``) events must pass."""
        self.scope.subscription_filter = filter_json


@dataclass
class Prev:
    result: Any = None


@dataclass
class Info:
    field_name: str
    parent_type_name: str
    variables: Mapping[str, Any]
    _graphql: GraphQLResolveInfo[RequestScope]

    @property
    def selection_set_list(self) -> list[str]:
        """AppSync's ``selectionSetList``: field paths below this field, fragments flattened."""
        out: list[str] = []
        for node in self._graphql.field_nodes:
            if node.selection_set is not None:
                _collect(node.selection_set, "", self._graphql.fragments, out)
        return list(dict.fromkeys(out))

    @property
    def selection_set_graphql(self) -> str:
        parts = [print_ast(n.selection_set) for n in self._graphql.field_nodes if n.selection_set is not None]
        return "\n".join(parts)

    def as_event(self) -> dict[str, Any]:
        return {
            "fieldName": self.field_name,
            "parentTypeName": self.parent_type_name,
            "variables": dict(self.variables),
            "selectionSetList": self.selection_set_list,
            "selectionSetGraphQL": self.selection_set_graphql,
        }


def _collect(selection_set: SelectionSetNode, prefix: str, fragments: Mapping[str, Any], out: list[str]) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.alias.value if selection.alias else selection.name.value
            if name == "__typename":
                continue
            path = f"{prefix}{name}"
            out.append(path)
            if selection.selection_set is not None:
                _collect(selection.selection_set, path + "/", fragments, out)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, prefix, fragments, out)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                _collect(fragment.selection_set, prefix, fragments, out)


@dataclass
class ResolverContext:
    arguments: dict[str, Any]
    source: Any
    identity: Mapping[str, Any] | None
    info: Info
    request: RequestInfo
    scope: RequestScope
    stash: dict[str, Any] = field(default_factory=dict)
    prev: Prev = field(default_factory=Prev)
    result: Any = None

    @property
    def args(self) -> dict[str, Any]:
        return self.arguments

    @property
    def extensions(self) -> Extensions:
        return Extensions(self.scope)

    def datasource(self, name: str) -> Any:
        return self.scope.runtime.datasource(name)

    def append_error(self, message: str, error_type: str | None = None, data: Any = None,
                     error_info: Mapping[str, Any] | None = None) -> None:
        """Report an error alongside the data without stopping (AppSync's ``util.appendError``)."""
        self.scope.appended_errors.append(
            TrellisError(message, error_type=error_type or "ResolverError", data=data, error_info=error_info)
        )

    def as_event(self) -> dict[str, Any]:
        """AppSync's Lambda resolver event."""
        return {
            "arguments": self.arguments,
            "identity": self.identity,
            "source": self.source,
            "request": self.request.as_event(),
            "info": self.info.as_event(),
            "prev": {"result": self.prev.result} if self.prev.result is not None else None,
            "stash": self.stash,
        }


def _variables(info: GraphQLResolveInfo[RequestScope]) -> Mapping[str, Any]:
    # graphql-core 3.3 wraps coerced variables in ``VariableValues``; 3.2 gave a plain dict.
    values: Any = info.variable_values
    coerced = getattr(values, "coerced", values)
    return coerced if isinstance(coerced, Mapping) else {}


def make_context(source: Any, info: GraphQLResolveInfo[RequestScope], arguments: dict[str, Any]) -> ResolverContext:
    scope: RequestScope = info.context
    return ResolverContext(
        arguments=arguments,
        source=source,
        identity=scope.identity,
        info=Info(info.field_name, info.parent_type.name, _variables(info), info),
        request=scope.request,
        scope=scope,
    )
