"""Role trust policies: resource-based policies whose ``Principal`` says who may assume the role.

The identity-policy evaluator knows nothing of principals, so a trust policy is parsed in two parts: each
statement's ``Principal``/``NotPrincipal`` is kept here and the rest (with ``Resource: "*"`` standing for
the role itself, as trust policies name no resource) is parsed by ``parse_policy``. A statement applies
when its principal matches the caller *and* its action and conditions match; Deny wins over Allow.

Principal forms: ``"*"``, ``{"AWS": ...}`` (an IAM user or role ARN, an assumed-role session ARN, the
account as ``arn:aws:iam::<acct>:root`` or its bare id, or ``"*"``), ``{"Federated": ...}`` (an OIDC
issuer: its URL, its URL without ``https://``, or ``arn:aws:iam::<acct>:oidc-provider/<host/path>``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auth.iam.evaluate import AuthorizationRequest, Decision, MatchedStatement, decide, statement_applies
from auth.iam.policy import Policy, PolicyError, parse_policy

_PRINCIPAL_KINDS = {"AWS", "Federated", "Service", "CanonicalUser"}


@dataclass(frozen=True)
class PrincipalSpec:
    anyone: bool = False
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrustPolicy:
    policy: Policy
    principals: tuple[tuple[PrincipalSpec, bool], ...]  # per statement: (spec, is NotPrincipal)


@dataclass(frozen=True)
class Caller:
    """Who asks to assume a role: ``kind`` ``AWS`` (with the ARNs it is known by) or ``Federated``."""

    kind: str
    ids: frozenset[str]
    account: str | None = None


def _spec(value: Any, label: str) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(anyone=True)
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(f"{label}: Principal must be \"*\" or an object such as {{\"AWS\": ...}}")
    out: dict[str, tuple[str, ...]] = {}
    for kind, raw in value.items():
        if kind not in _PRINCIPAL_KINDS:
            raise PolicyError(f"{label}: unknown principal type {kind!r}")
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(isinstance(item, str) and item for item in items):
            raise PolicyError(f"{label}: Principal {kind} must be a string or a list of strings")
        out[kind] = tuple(items)
    return PrincipalSpec(values=out)


def parse_trust_policy(document: Mapping[str, Any] | str, name: str = "TrustPolicy") -> TrustPolicy:
    doc = json.loads(document) if isinstance(document, str) else dict(document)
    if not isinstance(doc, dict):
        raise PolicyError("a trust policy is a JSON object")
    raw = doc.get("Statement")
    statements = raw if isinstance(raw, list) else [raw]
    stripped: list[dict[str, Any]] = []
    principals: list[tuple[PrincipalSpec, bool]] = []
    for index, statement in enumerate(statements):
        label = f"Statement[{index}]"
        if not isinstance(statement, dict):
            raise PolicyError(f"{label}: a statement is an object")
        has = [k for k in ("Principal", "NotPrincipal") if k in statement]
        if len(has) != 1:
            raise PolicyError(f"{label}: a trust policy statement needs exactly one of Principal or NotPrincipal")
        rest = {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}
        if "Resource" not in rest and "NotResource" not in rest:
            rest["Resource"] = "*"
        stripped.append(rest)
        principals.append((_spec(statement[has[0]], label), has[0] == "NotPrincipal"))
    policy = parse_policy({**{k: v for k, v in doc.items() if k != "Statement"}, "Statement": stripped}, name=name)
    return TrustPolicy(policy, tuple(principals))


def _aws_matches(value: str, caller: Caller) -> bool:
    if value == "*" or value in caller.ids:
        return True
    return caller.account is not None and value in (caller.account, f"arn:aws:iam::{caller.account}:root")


def _federated_matches(value: str, caller: Caller) -> bool:
    if value in caller.ids:
        return True
    if ":oidc-provider/" in value:
        return value.split(":oidc-provider/", 1)[1] in caller.ids
    return False


def principal_matches(spec: PrincipalSpec, caller: Caller) -> bool:
    if spec.anyone:
        return True
    values = spec.values.get(caller.kind, ())
    match = _aws_matches if caller.kind == "AWS" else _federated_matches
    return any(match(value, caller) for value in values)


def evaluate_trust(trust: TrustPolicy, request: AuthorizationRequest, caller: Caller) -> Decision:
    ctx = request.request_context()
    allows: list[MatchedStatement] = []
    denies: list[MatchedStatement] = []
    statements: Sequence[Any] = trust.policy.statements
    for statement, (spec, negated) in zip(statements, trust.principals, strict=True):
        if principal_matches(spec, caller) == negated:
            continue
        if statement_applies(statement, request, ctx):
            matched = MatchedStatement(trust.policy.name, statement.sid, statement.index, statement.effect)
            (denies if statement.effect == "Deny" else allows).append(matched)
    return decide(allows, denies)
