"""Evaluation of identity policies for one request.

AWS's logic for a single account with identity-based policies only: every statement whose action, resource and
conditions all match the request applies. An applicable ``Deny`` wins over any ``Allow`` (explicit deny); otherwise an
applicable ``Allow`` allows; otherwise the request is implicitly denied. Statement and policy order never matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from auth.iam.context import ContextValue, RequestContext
from auth.iam.policy import Policy, Statement
from auth.iam.variables import compile_pattern

__all__ = ["AuthorizationRequest", "Decision", "MatchedStatement", "Principal", "evaluate", "statement_applies"]

Reason = Literal["explicit_deny", "allow", "implicit_deny"]


@dataclass(frozen=True)
class Principal:
    """The caller; its attributes become the ``aws:username``, ``aws:userid``, ``aws:PrincipalArn``,
    ``aws:PrincipalAccount`` and ``aws:PrincipalTag/<key>`` context keys (and so policy variables)."""

    username: str | None = None
    userid: str | None = None
    arn: str | None = None
    account: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthorizationRequest:
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: Principal = field(default_factory=Principal)
    #: When given, supplies ``aws:CurrentTime`` and ``aws:EpochTime`` unless the context already has them.
    time: datetime | None = None

    def request_context(self) -> RequestContext:
        ctx = RequestContext(self.context)
        p = self.principal
        for key, value in (
            ("aws:username", p.username),
            ("aws:userid", p.userid),
            ("aws:PrincipalArn", p.arn),
            ("aws:PrincipalAccount", p.account),
        ):
            if value is not None:
                ctx.set(key, value)
        for tag, tag_value in p.tags.items():
            ctx.set(f"aws:PrincipalTag/{tag}", tag_value)
        if self.time is not None:
            now = self.time if self.time.tzinfo else self.time.replace(tzinfo=UTC)
            if not ctx.has("aws:CurrentTime"):
                ctx.set("aws:CurrentTime", now)
            if not ctx.has("aws:EpochTime"):
                ctx.set("aws:EpochTime", int(now.timestamp()))
        return ctx


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    policy: str
    sid: str | None
    index: int
    effect: str


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    #: The first deciding statement (policy order, then statement order); ``None`` for an implicit deny.
    statement: MatchedStatement | None = None
    #: Every statement with the deciding effect that applied.
    statements: tuple[MatchedStatement, ...] = ()


def _action_matches(statement: Statement, action: str) -> bool:
    hit = any(
        compile_pattern(((pattern, False),), arn=False, ignore_case=True).fullmatch(action) is not None
        for pattern in statement.actions
    )
    return hit != statement.not_action


def _resource_matches(statement: Statement, resource: str, ctx: RequestContext) -> bool:
    hit = False
    for template in statement.resources:
        segments = template.resolve(ctx.variable)
        if segments is None:
            continue  # a variable without a value: this resource entry matches nothing
        if compile_pattern(segments, arn=True).fullmatch(resource) is not None:
            hit = True
            break
    return hit != statement.not_resource


def statement_applies(statement: Statement, request: AuthorizationRequest, ctx: RequestContext | None = None) -> bool:
    context = ctx if ctx is not None else request.request_context()
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request.resource, context)
        and all(condition.evaluate(context) for condition in statement.conditions)
    )


def evaluate(policies: Sequence[Policy], request: AuthorizationRequest) -> Decision:
    ctx = request.request_context()
    allows: list[MatchedStatement] = []
    denies: list[MatchedStatement] = []
    for policy in policies:
        for statement in policy.statements:
            if statement_applies(statement, request, ctx):
                matched = MatchedStatement(policy.name, statement.sid, statement.index, statement.effect)
                (denies if statement.effect == "Deny" else allows).append(matched)
    return decide(allows, denies)


def decide(allows: Sequence[MatchedStatement], denies: Sequence[MatchedStatement]) -> Decision:
    """AWS's rule over the statements that applied: an explicit Deny wins, then an Allow, else deny."""
    if denies:
        return Decision(False, "explicit_deny", denies[0], tuple(denies))
    if allows:
        return Decision(True, "allow", allows[0], tuple(allows))
    return Decision(False, "implicit_deny")
