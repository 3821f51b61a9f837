"""Amplify's ``@auth`` rules on ``@model`` types: who may do which operation, to which rows.

A model's rules are read from its SDL (``read_auth``). At request time ``ModelAuth.access`` turns
the caller and an operation into an ``Access``:

* ``everything`` — some rule grants the caller the operation outright (``public``, ``private``,
  a static ``groups`` rule naming one of the caller's groups, ``custom``);
* ``rows(predicate)`` — only rows the caller owns or whose ``groupsField`` names one of their
  groups. The predicate is an ordinary model filter, so lists add it to their SQL (no other
  owner's row is ever fetched, counted or paged over) and single rows are checked in Python
  with the same semantics (``match.matches``);
* ``nothing`` — no rule applies to the caller: the operation is refused.

Rules apply to the modes their ``provider`` names (defaults as Amplify's: public → apiKey,
private/owner/groups → userPools, custom → function). Owners are stored as Amplify stores them
(``<sub>::<username>`` for the default ``identityClaim``); a row owned under any of the caller's
claims (``sub::username``, ``sub``, ``username``) is theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldDefinitionNode, Node, ObjectTypeDefinitionNode, value_from_ast_untyped

from auth.modes import AuthMode, Identity

READ_OPERATIONS = ("get", "list", "sync", "listen", "search")
ALL_OPERATIONS = ("create", "update", "delete", *READ_OPERATIONS)
DEFAULT_OPERATIONS = ("create", "update", "delete", "read")
DEFAULT_IDENTITY_CLAIM = "sub::username"
DEFAULT_GROUP_CLAIM = "cognito:groups"

PROVIDER_MODES = {
    "apiKey": AuthMode.API_KEY,
    "iam": AuthMode.AWS_IAM,
    "identityPool": AuthMode.AWS_IAM,
    "oidc": AuthMode.OPENID_CONNECT,
    "userPools": AuthMode.AMAZON_COGNITO_USER_POOLS,
    "function": AuthMode.AWS_LAMBDA,
}
MODE_DIRECTIVES = {
    AuthMode.API_KEY: "aws_api_key",
    AuthMode.AWS_IAM: "aws_iam",
    AuthMode.OPENID_CONNECT: "aws_oidc",
    AuthMode.AMAZON_COGNITO_USER_POOLS: "aws_cognito_user_pools",
    AuthMode.AWS_LAMBDA: "aws_lambda",
}
# Amplify's defaults and the providers each strategy may use.
_DEFAULT_PROVIDER = {"public": "apiKey", "private": "userPools", "owner": "userPools", "groups": "userPools",
                     "custom": "function"}
_ALLOWED_PROVIDERS = {
    "public": {"apiKey", "iam", "identityPool"},
    "private": {"userPools", "oidc", "iam", "identityPool"},
    "owner": {"userPools", "oidc"},
    "groups": {"userPools", "oidc"},
    "custom": {"function"},
}


@dataclass(frozen=True)
class AuthRule:
    strategy: str  # owner | groups | private | public | custom
    mode: AuthMode
    operations: frozenset[str]
    owner_field: str | None = None
    identity_claim: str = DEFAULT_IDENTITY_CLAIM
    group_claim: str = DEFAULT_GROUP_CLAIM
    groups: frozenset[str] = frozenset()
    groups_field: str | None = None

    @property
    def row_level(self) -> bool:
        """Owner and dynamic-group rules grant rows, not the whole operation."""
        return self.strategy == "owner" or (self.strategy == "groups" and self.groups_field is not None)


@dataclass(frozen=True)
class Access:
    allowed: bool
    predicate: Mapping[str, Any] | None = None  # None with allowed: every row

    @property
    def everything(self) -> bool:
        return self.allowed and self.predicate is None


EVERYTHING = Access(True)
NOTHING = Access(False)


def _claims(identity: Identity) -> Mapping[str, Any]:
    appsync = identity.appsync or {}
    claims = appsync.get("claims")
    return claims if isinstance(claims, Mapping) else {}


def _claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if value is None and name == "username":
        value = claims.get("cognito:username")  # ID tokens name the user there
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def owner_values(rule: AuthRule, identity: Identity) -> list[str]:
    """The owner values that mean "this caller", the stored form first."""
    claims = _claims(identity)
    parts = rule.identity_claim.split("::")
    if len(parts) == 1:
        return _claim_values(claims, parts[0])
    singles = [v for part in parts for v in _claim_values(claims, part)[:1]]
    if len(singles) != len(parts):
        return singles  # a claim is missing: the caller can match only the parts they have
    return ["::".join(singles), *singles]


def caller_groups(rule: AuthRule, identity: Identity) -> set[str]:
    if rule.group_claim == DEFAULT_GROUP_CLAIM and identity.groups:
        return set(identity.groups)
    return set(_claim_values(_claims(identity), rule.group_claim))


@dataclass
class ModelAuth:
    model: str
    rules: list[AuthRule]
    list_fields: frozenset[str] = field(default_factory=frozenset)  # owner/groups fields that are lists

    def modes_for(self, operations: Sequence[str]) -> set[AuthMode]:
        return {r.mode for r in self.rules if not r.operations.isdisjoint(operations)}

    @property
    def modes(self) -> set[AuthMode]:
        return {r.mode for r in self.rules}

    def _row_terms(self, rule: AuthRule, identity: Identity) -> list[dict[str, Any]]:
        column = rule.owner_field if rule.strategy == "owner" else rule.groups_field
        assert column is not None
        values = owner_values(rule, identity) if rule.strategy == "owner" else sorted(caller_groups(rule, identity))
        op = "contains" if column in self.list_fields else "eq"
        return [{column: {op: value}} for value in values]

    def access(self, identity: Identity | None, operation: str) -> Access:
        if identity is None:
            return NOTHING
        terms: list[dict[str, Any]] = []
        for rule in self.rules:
            if rule.mode is not identity.mode or operation not in rule.operations:
                continue
            if rule.strategy in ("public", "private", "custom"):
                return EVERYTHING
            if rule.strategy == "groups" and rule.groups_field is None:
                if not rule.groups.isdisjoint(caller_groups(rule, identity)):
                    return EVERYTHING
                continue
            terms.extend(self._row_terms(rule, identity))
        if not terms:
            return NOTHING
        return Access(True, terms[0] if len(terms) == 1 else {"or": terms})

    def owner_defaults(self, identity: Identity, data: Mapping[str, Any]) -> dict[str, Any]:
        """On create by an owner: owner fields the input left out are set to the caller (as Amplify does)."""
        filled: dict[str, Any] = {}
        for rule in self.rules:
            if rule.strategy != "owner" or rule.mode is not identity.mode or "create" not in rule.operations:
                continue
            assert rule.owner_field is not None
            if data.get(rule.owner_field) is None and rule.owner_field not in filled:
                values = owner_values(rule, identity)
                if values:
                    filled[rule.owner_field] = [values[0]] if rule.owner_field in self.list_fields else values[0]
        return filled


def _operations(raw: Any) -> frozenset[str]:
    names = list(raw) if isinstance(raw, list) else list(DEFAULT_OPERATIONS)
    out: set[str] = set()
    for name in names:
        out.update(READ_OPERATIONS if name == "read" else (str(name),))
    return frozenset(out)


def read_auth(node: ObjectTypeDefinitionNode | FieldDefinitionNode, name: str, fields: Mapping[str, tuple[str, bool]],
              problem: Callable[[Node, str], None]) -> tuple[ModelAuth | None, dict[str, bool]]:
    """The rules on a model (or on one of its fields), and owner/groups fields Amplify would add.

    ``name`` labels messages (``Model`` or ``Model.field``); ``fields`` maps the model's declared
    field names to (type name, is_list); ``problem(node, message)`` records what is wrong.
    """
    auth = next((d for d in node.directives or () if d.name.value == "auth"), None)
    if auth is None:
        return None, {}
    raw_rules: Any = None
    for argument in auth.arguments or ():
        if argument.name.value == "rules":
            raw_rules = value_from_ast_untyped(argument.value)
    rules: list[AuthRule] = []
    added: dict[str, bool] = {}
    list_fields: set[str] = set()
    for raw in raw_rules or ():
        strategy = str(raw.get("allow"))
        provider = str(raw.get("provider") or _DEFAULT_PROVIDER.get(strategy, ""))
        if strategy not in _ALLOWED_PROVIDERS:
            problem(node, f"{name}: @auth strategy {strategy!r} is not one of owner, groups, private, public, custom")
            continue
        if provider not in _ALLOWED_PROVIDERS[strategy]:
            allowed = ", ".join(sorted(_ALLOWED_PROVIDERS[strategy]))
            problem(node, f"{name}: @auth {{allow: {strategy}}} cannot use provider {provider!r} (use {allowed})")
            continue
        owner_field = str(raw.get("ownerField") or "owner") if strategy == "owner" else None
        groups_field = raw.get("groupsField")
        groups = frozenset(str(g) for g in raw.get("groups") or ())
        if strategy == "groups" and not groups and not groups_field:
            problem(node, f"{name}: @auth {{allow: groups}} needs groups or groupsField")
            continue
        for column in (owner_field, groups_field):
            if column is None:
                continue
            declared = fields.get(column)
            if declared is None:
                added.setdefault(str(column), False)  # Amplify adds ``owner: String`` for you
            else:
                type_name, is_list = declared
                if type_name not in ("String", "ID"):
                    model = name.split(".")[0]
                    problem(node, f"{model}.{column}: an @auth owner/groups field must be String or [String]")
                if is_list:
                    list_fields.add(str(column))
        rules.append(AuthRule(
            strategy=strategy, mode=PROVIDER_MODES[provider], operations=_operations(raw.get("operations")),
            owner_field=owner_field,
            identity_claim=str(raw.get("identityClaim") or DEFAULT_IDENTITY_CLAIM),
            group_claim=str(raw.get("groupClaim") or DEFAULT_GROUP_CLAIM),
            groups=groups, groups_field=str(groups_field) if groups_field else None,
        ))
    return ModelAuth(name, rules, frozenset(list_fields)), added


__all__ = ["EVERYTHING", "MODE_DIRECTIVES", "NOTHING", "Access", "AuthRule", "ModelAuth", "read_auth"]
