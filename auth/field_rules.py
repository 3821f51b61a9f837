"""Which auth modes may read each field, from the schema's ``@aws_*`` directives (AppSync's rules).

* A field with its own ``@aws_*`` directives is open to exactly those modes.
* Otherwise it takes its type's directives (root types included).
* With no directive on either, the API's default mode applies — and only it: once a type or
  field names modes, the default is not implied.
* ``@aws_cognito_user_pools(cognito_groups: [...])`` (and ``@aws_auth``) narrow user-pool access
  to members of those groups; without the argument any signed-in user may read.
* Per identity on top of the directives: an IAM principal's policies, and the ``deniedFields`` an
  AWS_LAMBDA authorizer answered with (``Identity.denied_fields``).

``FieldRules`` is computed once per schema; checking a field is a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DirectiveNode, GraphQLObjectType, GraphQLSchema, value_from_ast_untyped

from app.errors import TrellisError
from auth.modes import AuthMode, Identity

DIRECTIVE_MODES = {
    "aws_api_key": AuthMode.API_KEY,
    "aws_iam": AuthMode.AWS_IAM,
    "aws_oidc": AuthMode.OPENID_CONNECT,
    "aws_cognito_user_pools": AuthMode.AMAZON_COGNITO_USER_POOLS,
    "aws_auth": AuthMode.AMAZON_COGNITO_USER_POOLS,
    "aws_lambda": AuthMode.AWS_LAMBDA,
}


@dataclass(frozen=True)
class FieldAccess:
    modes: frozenset[AuthMode]
    cognito_groups: frozenset[str] | None = None  # None: any user-pool user

    def allows(self, identity: Identity) -> bool:
        if identity.mode not in self.modes:
            return False
        if identity.mode is AuthMode.AMAZON_COGNITO_USER_POOLS and self.cognito_groups is not None:
            return not self.cognito_groups.isdisjoint(identity.groups)
        return True


def _access(directives: Iterable[DirectiveNode]) -> FieldAccess | None:
    modes: set[AuthMode] = set()
    groups: set[str] | None = None
    for directive in directives:
        mode = DIRECTIVE_MODES.get(directive.name.value)
        if mode is None:
            continue
        modes.add(mode)
        for argument in directive.arguments or ():
            if argument.name.value == "cognito_groups":
                value = value_from_ast_untyped(argument.value)
                if isinstance(value, list):
                    groups = (groups or set()) | {str(v) for v in value}
    if not modes:
        return None
    return FieldAccess(frozenset(modes), frozenset(groups) if groups is not None else None)


def _type_directives(graphql_type: GraphQLObjectType) -> list[DirectiveNode]:
    nodes = [graphql_type.ast_node, *(graphql_type.extension_ast_nodes or ())]
    return [d for node in nodes if node is not None for d in node.directives or ()]


class FieldRules:
    def __init__(self, schema: GraphQLSchema, default_mode: AuthMode) -> None:
        self.default = FieldAccess(frozenset({default_mode}))
        self._rules: dict[tuple[str, str], FieldAccess] = {}
        for graphql_type in schema.type_map.values():
            if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
                continue
            type_access = _access(_type_directives(graphql_type))
            for name, field_def in graphql_type.fields.items():
                node = field_def.ast_node
                own = _access(node.directives or ()) if node is not None else None
                self._rules[(graphql_type.name, name)] = own or type_access or self.default

    def access(self, type_name: str, field_name: str) -> FieldAccess:
        if field_name == "__typename":
            return FieldAccess(frozenset(AuthMode))  # never protected: it reveals only the type name
        return self._rules.get((type_name, field_name), self.default)

    def allowed(self, identity: Identity, type_name: str, field_name: str) -> bool:
        return self.access(type_name, field_name).allows(identity)

    def as_mapping(self) -> Mapping[tuple[str, str], FieldAccess]:
        return dict(self._rules)


def denied_message(type_name: str, field_name: str) -> str:
    """AppSync's text for a field the caller's mode may not read."""
    return f"Not Authorized to access {field_name} on type {type_name}"


class FieldUnauthorizedError(TrellisError):
    error_type = "Unauthorized"


@dataclass(frozen=True)
class DeniedFields:
    """The plan executor's ``FieldGuard`` for one identity's access class."""

    denied: frozenset[tuple[str, str]]
    explain: Callable[[str, str], str | None] | None = field(default=None, compare=False)

    def error(self, type_name: str, field_name: str) -> Exception:
        encoded = self.explain(type_name, field_name) if self.explain is not None else None
        info = {"encodedAuthorizationMessage": encoded} if encoded is not None else None
        return FieldUnauthorizedError(denied_message(type_name, field_name), error_info=info)

    def resolve(self, next_resolver: Any, source: Any, info: Any, **args: Any) -> Any:
        # graphql-core middleware: it takes objects with ``resolve`` (bound methods are ignored).
        if (info.parent_type.name, info.field_name) in self.denied:
            raise self.error(info.parent_type.name, info.field_name)
        return next_resolver(source, info, **args)


_GuardKey = tuple[AuthMode, frozenset[str], str | None, frozenset[tuple[str, str]]]


def _guard_key(identity: Identity) -> _GuardKey:
    return identity.mode, identity.groups, identity.policy_cache_key, identity.denied_fields


class GuardCache:
    """Denied fields per (mode, groups, Lambda deniedFields): computed once, then a lookup per request."""

    def __init__(self, rules: FieldRules) -> None:
        self.rules = rules
        self._guards: dict[_GuardKey, DeniedFields | None] = {}

    def _compute(self, identity: Identity) -> DeniedFields | None:
        policy = identity.field_policy
        named = identity.denied_fields  # AWS_LAMBDA's deniedFields
        denied = frozenset(
            coordinate for coordinate, access in self.rules.as_mapping().items()
            if not access.allows(identity) or coordinate in named
            or (policy is not None and not policy(*coordinate))
        )
        return DeniedFields(denied, identity.explain_denial) if denied else None

    def guard_for(self, identity: Identity) -> DeniedFields | None:
        if identity.field_policy is not None and identity.policy_cache_key is None:
            return self._compute(identity)  # the policies look at the request: decide afresh
        key = _guard_key(identity)
        if key not in self._guards:
            if len(self._guards) > 4096:
                self._guards.clear()
            self._guards[key] = self._compute(identity)
        return self._guards[key]
