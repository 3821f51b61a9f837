"""Request limits that are enforced before any resolver runs.

Three layers, cheapest first:

* ``check_tokens`` runs on the raw query text before it is parsed, so a huge document is
  rejected after reading at most ``max_tokens`` tokens instead of being parsed in full.
* ``limit_rules`` returns graphql-core validation rules (depth, aliases, and optionally
  introspection) that run together with ``graphql.specified_rules`` on the parsed document.
* Body size and batch length are checked by the HTTP layer; ``QueryLimits`` only carries them.

Depth and alias counts follow fragment spreads, because a fragment is expanded wherever it
is spread: counting only what is written would let a small document fan out into a huge
response. Both are computed with one memoised pass per fragment, so validation stays linear
in the size of the document however the fragments multiply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from graphql import GraphQLError
from graphql.language import (
    SKIP,
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    VisitorAction,
)
from graphql.validation import ASTValidationContext, ASTValidationRule

from app.errors import QueryLimitError, ValidationFailedError

__all__ = ["QueryLimits", "check_tokens", "limit_rules"]

# AppSync documents only that a disabled introspection query fails validation (its docs show
# a screenshot, not the text), so the message is ours and the errorType is the validation one.
INTROSPECTION_DISABLED_MESSAGE = "GraphQL introspection is not allowed"

# ``__typename`` stays allowed: clients (Apollo, Amplify) add it to every selection set to
# normalise their caches, and it reveals nothing the response would not show anyway.
_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class QueryLimits:
    """Per-API request limits; the defaults suit a public API."""

    max_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 2000
    max_body_bytes: int = 1_000_000
    max_batch: int = 10
    introspection: bool = True


def check_tokens(source: str, max_tokens: int) -> None:
    """Raise ``QueryLimitError`` if ``source`` has more than ``max_tokens`` lexical tokens.

    Meant to run before ``graphql.parse``: it stops reading at the first token over the
    limit, so a multi-megabyte document costs at most ``max_tokens + 1`` token reads.
    Comments count as tokens here. ``Lexer.advance`` would skip a run of comments in one
    call, reading all of them, so a document padded with millions of comment lines would
    escape the bound; reading token by token with ``read_next_token`` sees each comment.
    Lexical errors (an unterminated string, an unexpected character) propagate as
    ``GraphQLSyntaxError`` so that the caller reports them as the syntax errors they are.
    """
    lexer = Lexer(Source(source))
    token = lexer.token  # the <SOF> token, which is not counted
    count = 0
    while True:
        token = lexer.read_next_token(token.end)
        if token.kind is TokenKind.EOF:
            return
        count += 1
        if count > max_tokens:
            raise QueryLimitError(f"Query has more than {max_tokens} tokens")


def limit_rules(limits: QueryLimits) -> list[type[ASTValidationRule]]:
    """Validation rules enforcing ``limits``, to append to ``graphql.specified_rules``.

    The classes are built per ``QueryLimits`` because graphql-core instantiates a rule with
    nothing but the validation context, so the limits have to live on the class.
    """
    rules = [_max_depth_rule(limits.max_depth), _max_aliases_rule(limits.max_aliases)]
    if not limits.introspection:
        rules.append(_NoIntrospectionRule)
    return rules


# --- cost of an operation, through fragments -----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cost:
    """What a selection set expands to: field levels and aliased fields."""

    depth: int
    aliases: int


_NO_COST = _Cost(depth=0, aliases=0)

# Alias counts grow exponentially along a fragment chain. Saturating them keeps the
# arithmetic constant-size and the message printable (Python refuses to print integers of
# more than 4300 digits); any count this large is rejected anyway.
_ALIAS_CEILING = 2**63 - 1


@dataclass(slots=True)
class _Body:
    """One selection set scanned up to, but not through, its fragment spreads."""

    depth: int = 0
    aliases: int = 0
    # (fragment name, number of field levels above the spread) for each spread.
    spreads: list[tuple[str, int]] = field(default_factory=list)


def _scan(selection_set: SelectionSetNode) -> _Body:
    """Measure the fields written directly in ``selection_set`` and list its spreads.

    Iterative rather than recursive: nesting is bounded only by the token limit, which an
    operator may raise past what Python's recursion limit would survive.
    """
    body = _Body()
    stack: list[tuple[SelectionSetNode, int]] = [(selection_set, 0)]
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                body.depth = max(body.depth, level + 1)
                if selection.alias is not None:
                    body.aliases += 1
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, level + 1))
            elif isinstance(selection, InlineFragmentNode):
                # An inline fragment adds no field level of its own.
                stack.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                body.spreads.append((selection.name.value, level))
    return body


class _CostMeter:
    """Costs operations, expanding fragments where spread, with one scan per fragment.

    Each fragment's ``_Cost`` is memoised, so a fragment spread many times (or reached
    through many paths) is scanned once, and a chain of fragments each spreading the next
    twice costs linear time even though the count it reports is exponential (exact up to
    ``_ALIAS_CEILING``, where it saturates).

    A spread that closes a cycle, or names an unknown fragment, counts as nothing: the
    standard ``NoFragmentCycles`` and ``KnownFragmentNames`` rules already reject those
    documents, and this rule only has to terminate.
    """

    def __init__(self, context: ASTValidationContext) -> None:
        self._context = context
        self._memo: dict[str, _Cost] = {}

    def cost(self, selection_set: SelectionSetNode) -> _Cost:
        body = _scan(selection_set)
        self._cost_fragments(name for name, _level in body.spreads)
        return self._combine(body)

    def _cost_fragments(self, names: Iterable[str]) -> None:
        """Memoise the cost of every fragment reachable from ``names`` (iterative DFS)."""
        in_progress: set[str] = set()
        for root in names:
            root_body = self._body_of(root, in_progress)
            if root_body is None:
                continue
            in_progress.add(root)
            # Frames are (fragment name, its body, index of the next spread to visit).
            stack: list[tuple[str, _Body, int]] = [(root, root_body, 0)]
            while stack:
                name, body, index = stack[-1]
                if index < len(body.spreads):
                    stack[-1] = (name, body, index + 1)
                    child = body.spreads[index][0]
                    child_body = self._body_of(child, in_progress)
                    if child_body is not None:
                        in_progress.add(child)
                        stack.append((child, child_body, 0))
                    continue
                # Every spread is costed now, or is on a cycle and counts as nothing.
                self._memo[name] = self._combine(body)
                in_progress.discard(name)
                stack.pop()

    def _body_of(self, name: str, in_progress: set[str]) -> _Body | None:
        """The fragment's scanned body, or None if it is costed, on the stack, or unknown."""
        if name in self._memo or name in in_progress:
            return None
        fragment = self._context.get_fragment(name)
        if fragment is None:
            return None
        return _scan(fragment.selection_set)

    def _combine(self, body: _Body) -> _Cost:
        depth, aliases = body.depth, body.aliases
        for name, level in body.spreads:
            spread = self._memo.get(name, _NO_COST)
            depth = max(depth, level + spread.depth)
            aliases += spread.aliases
        return _Cost(depth=depth, aliases=min(aliases, _ALIAS_CEILING))


def _limit_error(message: str, node: OperationDefinitionNode) -> GraphQLError:
    return GraphQLError(message, nodes=[node], extensions={"errorType": QueryLimitError.error_type})


# --- the rules -------------------------------------------------------------------------------


def _max_depth_rule(max_depth: int) -> type[ASTValidationRule]:
    class MaxDepthRule(ASTValidationRule):
        """Reject an operation whose selection sets nest more than ``max_depth`` fields."""

        def __init__(self, context: ASTValidationContext) -> None:
            super().__init__(context)
            self._meter = _CostMeter(context)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> VisitorAction:
            depth = self._meter.cost(node.selection_set).depth
            if depth > max_depth:
                message = f"Query depth {depth} exceeds the maximum of {max_depth}"
                self.report_error(_limit_error(message, node))
            # The meter has already walked everything below; the visitor need not.
            return SKIP

    return MaxDepthRule


def _max_aliases_rule(max_aliases: int) -> type[ASTValidationRule]:
    class MaxAliasesRule(ASTValidationRule):
        """Reject an operation using more than ``max_aliases`` aliases once fragments expand."""

        def __init__(self, context: ASTValidationContext) -> None:
            super().__init__(context)
            self._meter = _CostMeter(context)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> VisitorAction:
            aliases = self._meter.cost(node.selection_set).aliases
            if aliases > max_aliases:
                count = f"at least {aliases}" if aliases >= _ALIAS_CEILING else str(aliases)
                message = f"Query uses {count} aliases, more than the maximum of {max_aliases}"
                self.report_error(_limit_error(message, node))
            return SKIP

    return MaxAliasesRule


class _NoIntrospectionRule(ASTValidationRule):
    """Reject ``__schema`` and ``__type`` anywhere, fragments included; allow ``__typename``.

    Matching by name rather than by the field's type also catches the fields when the rest
    of the document is invalid, and a user schema cannot define ``__``-prefixed fields.
    """

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value in _INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(
                    INTROSPECTION_DISABLED_MESSAGE,
                    nodes=[node],
                    extensions={"errorType": ValidationFailedError.error_type},
                )
            )
