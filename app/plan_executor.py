"""A specialised execution path for cached, validated GraphQL documents.

graphql-core's executor re-derives everything about a field on every request and for every
list item: it looks the field definition up, builds a ``GraphQLResolveInfo``, creates a
``Path``, calls the default resolver and walks the ``complete_value`` type switch.  For a
100-item list of three leaf fields that is 300 times the full machinery for what amounts to
``item.get("sku")``.

This module splits execution in two:

* **Planning** (once per document and operation, see :class:`Plan`): the operation's
  selection sets are collected per runtime object type into :class:`_ObjectPlan` lists of
  :class:`_FieldPlan`, with field definitions, resolvers, argument values that contain no
  variables, and a :class:`_Completer` tree for the return type all resolved up front.
  Field collection depends on ``@skip``/``@include`` variables, so a plan keeps one
  compiled variant per combination of those variables' values, and on the runtime type of
  abstract values, so object plans are compiled lazily per runtime type.
* **Execution** (per request, see :class:`_Run`): mirrors graphql-core 3.3's ``Executor``
  step for step — same resolver calls, same error wrapping, same null propagation, same
  points where sibling awaitables are gathered — but a leaf field without a resolver whose
  source is a ``dict`` is answered with ``source.get(name)`` when the value passes through
  the scalar's output coercion unchanged; no info, no path, no type switch.  Resolve infos
  and paths are only built when a resolver, a type resolver or an error needs them.

Queries and mutations are planned, introspection fields included (they are ordinary fields
with resolvers).  Everything else makes :meth:`PlanExecutor.plan` return ``None`` and the
caller uses ``graphql.execute``: subscriptions, unknown or ambiguous operation names,
experimental fragment arguments, ``@defer``/``@stream`` and
``@experimental_disableErrorPropagation``.  Field resolvers are read when a plan is built
(finish configuring the schema before planning); ``resolve_type`` and ``is_type_of`` are read
per value, as graphql-core does.

``python -m app.plan_executor`` prints a micro-benchmark against ``graphql.execute``.
"""

# Resolvers may raise anything: like graphql-core, every Exception becomes a field error.
# ruff: noqa: BLE001

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from enum import Enum
from types import NoneType
from typing import Any, Final, Protocol, TypeAlias

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    assert_valid_schema,
    default_type_resolver,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql import execute as graphql_execute
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined, gather_with_cancel, inspect, is_iterable
from graphql.pyutils import is_awaitable as default_is_awaitable
from graphql.type import GraphQLResolveInfoHelpers
from graphql.type import scalars as std_scalars
from graphql.utilities import type_from_ast

__all__ = ["Plan", "PlanExecutor"]

# graphql.execute's default for ``max_coercion_errors``; variable coercion must report the same errors.
MAX_COERCION_ERRORS: Final = 50
GRAPHQL_MIN_INT: Final = std_scalars.GRAPHQL_MIN_INT
GRAPHQL_MAX_INT: Final = std_scalars.GRAPHQL_MAX_INT

# Completed values of these types are never awaitable, so the (comparatively slow) awaitable
# test is skipped for them.  Everything else goes through graphql-core's own predicate.
_PLAIN: Final[frozenset[type]] = frozenset({dict, list, str, int, float, bool, NoneType})

# Argument values of these types can be computed once at plan time and shared between
# requests: a resolver can't mutate them (it gets a fresh ``**kwargs`` dict either way).
_IMMUTABLE: Final = (str, int, float, bool, NoneType, Enum)

ResolvedValue: TypeAlias = Any
"""Whatever a resolver returns or a completion produces: data, ``None`` or an awaitable."""

Info: TypeAlias = "GraphQLResolveInfo[Any]"


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------

# How a value of a (wrapped) output type is completed; see _Completer.
_NON_NULL: Final = 0
_LIST: Final = 1
_LEAF: Final = 2
_OBJECT: Final = 3
_ABSTRACT: Final = 4

# Which shortcut execute_fields may take for a field; see _FieldPlan.fast.
_GENERAL: Final = 0
_TYPENAME: Final = 1
_DICT_LEAF: Final = 2

# Extra check a pass-through leaf value needs (mirrors serialize_int / serialize_float).
_CHECK_NONE: Final = 0
_CHECK_INT_RANGE: Final = 1
_CHECK_FINITE: Final = 2

# Scalars whose output coercion returns a value of this exact type unchanged.
_PASS_THROUGH: Final[dict[Callable[[Any], Any], tuple[type, int]]] = {
    std_scalars.serialize_string: (str, _CHECK_NONE),
    std_scalars.serialize_id: (str, _CHECK_NONE),
    std_scalars.serialize_boolean: (bool, _CHECK_NONE),
    std_scalars.serialize_int: (int, _CHECK_INT_RANGE),
    std_scalars.serialize_float: (float, _CHECK_FINITE),
}


class _ObjectPlan:
    """The collected fields of one selection for one runtime object type, in response order."""

    __slots__ = ("fields", "type")

    def __init__(self, type_: GraphQLObjectType, fields: list[_FieldPlan]) -> None:
        self.type = type_
        self.fields = fields


class _Completer:
    """How to complete values of one level of a field's return type.

    ``[Product!]!`` becomes NON_NULL -> LIST -> NON_NULL -> OBJECT.  Object and abstract
    levels keep the field nodes whose sub-selections they complete, and compile the object
    plan for each runtime type on first use (an interface may have many implementations, and
    only the ones actually returned need a plan).
    """

    __slots__ = ("compiler", "field_nodes", "kind", "object_plans", "of_type", "type")

    def __init__(
        self,
        kind: int,
        type_: GraphQLOutputType,
        of_type: _Completer | None,
        compiler: _Compiler,
        field_nodes: list[FieldNode],
    ) -> None:
        self.kind = kind
        self.type: Any = type_
        self.of_type = of_type
        self.compiler = compiler
        self.field_nodes = field_nodes
        self.object_plans: dict[GraphQLObjectType, _ObjectPlan] = {}

    def object_plan(self, runtime_type: GraphQLObjectType) -> _ObjectPlan:
        plan = self.object_plans.get(runtime_type)
        if plan is None:
            plan = self.compiler.object_plan(runtime_type, self.field_nodes)
            self.object_plans[runtime_type] = plan
        return plan


class _FieldPlan:
    """One response key of an object plan: everything about the field that doesn't vary per request."""

    __slots__ = (
        "args",
        "check",
        "completer",
        "dynamic_args",
        "fast",
        "field_def",
        "field_name",
        "nodes",
        "non_null",
        "parent_name",
        "parent_type",
        "pass_type",
        "resolver",
        "response_name",
        "return_type",
    )

    def __init__(
        self,
        parent_type: GraphQLObjectType,
        response_name: str,
        nodes: list[FieldNode],
        field_def: GraphQLField,
        completer: _Completer,
    ) -> None:
        self.parent_type = parent_type
        self.parent_name = parent_type.name
        self.response_name = response_name
        self.field_name = nodes[0].name.value
        self.nodes = nodes
        self.field_def = field_def
        self.return_type = field_def.type
        self.non_null = is_non_null_type(field_def.type)
        self.resolver = field_def.resolve
        self.completer = completer
        self.args: dict[str, Any] = {}
        self.dynamic_args = False
        self.fast = _GENERAL
        self.pass_type: Any = None  # a type, or None if values always need coercion
        self.check = _CHECK_NONE
        self._plan_arguments()
        self._plan_shortcut()

    def _plan_arguments(self) -> None:
        node = self.nodes[0]
        if not (self.field_def.args or node.arguments):
            return  # graphql-core passes no arguments at all in this case
        if not any(_contains_variables(argument.value) for argument in node.arguments or ()):
            # Literal arguments (and defaults) coerce to the same values on every request.
            try:
                args = get_argument_values(self.field_def, node)
            except Exception:  # let the request report the error, as graphql-core would
                args = None
            if args is not None and all(_is_immutable(value) for value in args.values()):
                self.args = args
                return
        self.dynamic_args = True

    def _plan_shortcut(self) -> None:
        if self.field_name == "__typename":
            self.fast = _TYPENAME
            return
        completer = self.completer
        leaf = completer.of_type if completer.kind == _NON_NULL else completer
        if self.resolver is not None or self.dynamic_args or leaf is None or leaf.kind != _LEAF:
            return
        self.fast = _DICT_LEAF
        pass_through = _PASS_THROUGH.get(getattr(leaf.type, "coerce_output_value", None))  # type: ignore[arg-type]
        if pass_through is not None:
            self.pass_type, self.check = pass_through


def _contains_variables(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_contains_variables(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_contains_variables(field.value) for field in value.fields)
    return False


def _is_immutable(value: Any) -> bool:
    return isinstance(value, _IMMUTABLE)


class _Compiler:
    """Collects and compiles selection sets for one combination of @skip/@include variable values."""

    def __init__(self, plan: Plan, conditions: Mapping[str, bool]) -> None:
        self.schema = plan.schema
        self.fragments = plan.fragments
        self.conditions = conditions

    def root_plan(self, root_type: GraphQLObjectType, operation: OperationDefinitionNode) -> _ObjectPlan:
        return self._compile(root_type, [operation.selection_set])

    def object_plan(self, runtime_type: GraphQLObjectType, field_nodes: list[FieldNode]) -> _ObjectPlan:
        return self._compile(runtime_type, [node.selection_set for node in field_nodes if node.selection_set])

    def _compile(self, runtime_type: GraphQLObjectType, selection_sets: list[SelectionSetNode]) -> _ObjectPlan:
        grouped: dict[str, list[FieldNode]] = {}
        # As in graphql-core, a named fragment is spread at most once per collected selection.
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._collect(runtime_type, selection_set, grouped, visited)
        fields: list[_FieldPlan] = []
        for response_name, nodes in grouped.items():
            field_def = self.schema.get_field(runtime_type, nodes[0].name.value)
            if field_def is None:
                continue  # graphql-core silently skips unknown fields
            completer = self._completer(field_def.type, nodes)
            fields.append(_FieldPlan(runtime_type, response_name, nodes, field_def, completer))
        return _ObjectPlan(runtime_type, fields)

    def _collect(
        self,
        runtime_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection.directives):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._condition_matches(selection, runtime_type):
                    self._collect(runtime_type, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or not self._condition_matches(fragment, runtime_type) or name in visited:
                    continue
                visited.add(name)
                self._collect(runtime_type, fragment.selection_set, grouped, visited)

    def _included(self, directives: Sequence[DirectiveNode] | None) -> bool:
        """@skip wins over @include, as in graphql-core's should_include_node."""
        for directive in directives or ():
            name = directive.name.value
            if name == "skip" and self._condition(directive):
                return False
            if name == "include" and not self._condition(directive):
                return False
        return True

    def _condition(self, directive: DirectiveNode) -> bool:
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                value = argument.value
                if isinstance(value, VariableNode):
                    return self.conditions[value.name.value]
                if isinstance(value, BooleanValueNode):
                    return value.value
        raise _Unsupported  # invalid documents are not planned

    def _condition_matches(
        self, fragment: InlineFragmentNode | FragmentDefinitionNode, runtime_type: GraphQLObjectType
    ) -> bool:
        if fragment.type_condition is None:
            return True
        condition = type_from_ast(self.schema, fragment.type_condition)
        if condition is runtime_type:
            return True
        if is_abstract_type(condition):
            return self.schema.is_sub_type(condition, runtime_type)
        return False

    def _completer(self, type_: GraphQLOutputType, nodes: list[FieldNode]) -> _Completer:
        if is_non_null_type(type_):
            return _Completer(_NON_NULL, type_, self._completer(type_.of_type, nodes), self, nodes)
        if is_list_type(type_):
            return _Completer(_LIST, type_, self._completer(type_.of_type, nodes), self, nodes)
        if is_leaf_type(type_):
            return _Completer(_LEAF, type_, None, self, nodes)
        if is_object_type(type_):
            return _Completer(_OBJECT, type_, None, self, nodes)
        if is_abstract_type(type_):
            return _Completer(_ABSTRACT, type_, None, self, nodes)
        raise _Unsupported


class FieldGuard(Protocol):
    """Fields one request may not read (authorization), decided before execution."""

    @property
    def denied(self) -> frozenset[tuple[str, str]]: ...

    def error(self, type_name: str, field_name: str) -> Exception: ...

    def resolve(self, next_resolver: Any, source: Any, info: Any, **args: Any) -> Any:
        """The same rule as graphql-core middleware (an object with ``resolve``), for documents
        that fall back to the stock executor."""
        ...


class _Unsupported(Exception):
    """Raised while planning for documents the plan executor leaves to graphql-core."""


class Plan:
    """An operation of a validated document, compiled for :meth:`PlanExecutor.execute`."""

    # One compiled variant per combination of @skip/@include variable values; more than this
    # many combinations in one document is pathological, so the variants are then recompiled.
    MAX_VARIANTS: Final = 64

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        operation: OperationDefinitionNode,
        root_type: GraphQLObjectType,
        fragments: dict[str, FragmentDefinitionNode],
    ) -> None:
        self.schema = schema
        self.document = document
        self.operation_name = operation_name
        self.operation = operation
        self.root_type = root_type
        self.fragments = fragments
        self.serial = operation.operation == OperationType.MUTATION
        self.variable_definitions = operation.variable_definitions or ()
        self.condition_variables = tuple(sorted(_condition_variables(operation, fragments)))
        self._variants: dict[tuple[Any, ...], _ObjectPlan] = {}
        if not self.condition_variables:
            self._variants[()] = self._compile({})

    def _compile(self, conditions: Mapping[str, bool]) -> _ObjectPlan:
        return _Compiler(self, conditions).root_plan(self.root_type, self.operation)

    def root_plan(self, coerced: Mapping[str, Any]) -> _ObjectPlan | None:
        """The compiled root selection for these variable values; None if graphql-core should run."""
        names = self.condition_variables
        if not names:
            return self._variants[()]
        key = tuple(coerced.get(name) for name in names)
        root = self._variants.get(key)
        if root is None:
            if not all(type(value) is bool for value in key):
                # A missing or null condition is a request error in graphql-core; let it report it.
                return None
            if len(self._variants) >= self.MAX_VARIANTS:
                self._variants.clear()
            root = self._variants[key] = self._compile(
                {name: bool(value) for name, value in zip(names, key, strict=True)}
            )
        return root


def _condition_variables(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> set[str]:
    """Variables that @skip/@include depend on, anywhere in the operation or its fragments.

    Raises _Unsupported for a condition that is neither a variable nor a boolean literal
    (validation rules those out), so that variants compiled later, per request, can't fail.
    """
    names: set[str] = set()
    seen: set[str] = set()
    stack: list[SelectionSetNode] = [operation.selection_set]
    while stack:
        for selection in stack.pop().selections:
            for directive in selection.directives or ():
                if directive.name.value in ("skip", "include"):
                    conditions = [
                        argument.value for argument in directive.arguments or () if argument.name.value == "if"
                    ]
                    if len(conditions) != 1 or not isinstance(conditions[0], VariableNode | BooleanValueNode):
                        raise _Unsupported
                    if isinstance(conditions[0], VariableNode):
                        names.add(conditions[0].name.value)
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                stack.append(selection.selection_set)  # type: ignore[attr-defined]
    return names


def _uses_unsupported_syntax(document: DocumentNode) -> bool:
    """Fragment arguments and incremental delivery are left to graphql-core."""
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FragmentDefinitionNode) and node.variable_definitions:
            return True
        if isinstance(node, FragmentSpreadNode) and node.arguments:
            return True
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value in ("defer", "stream"):
                return True
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return False


class PlanExecutor:
    """Plans and executes operations against one schema; see the module docstring."""

    def __init__(self, schema: GraphQLSchema, cache_size: int = 1000) -> None:
        self.schema = schema
        self._cache_size = cache_size
        # Keyed by the document's identity: callers cache and reuse parsed documents.  The
        # document is kept in the value so that its id can't be reused while the entry lives.
        self._plans: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Plan | None]] = OrderedDict()

    def plan(self, document: DocumentNode, operation_name: str | None = None) -> Plan | None:
        """Compile an operation of a validated document, or None to use ``graphql.execute``."""
        key = (id(document), operation_name)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is document:
            self._plans.move_to_end(key)
            return cached[1]
        plan = self._plan(document, operation_name)
        self._plans[key] = (document, plan)
        if len(self._plans) > self._cache_size:
            self._plans.popitem(last=False)
        return plan

    def _plan(self, document: DocumentNode, operation_name: str | None) -> Plan | None:
        schema = self.schema
        assert_valid_schema(schema)  # raises like graphql.execute for an invalid schema
        if schema.get_directive("defer") or schema.get_directive("stream"):
            return None  # graphql.execute refuses such schemas; let it say so
        if _uses_unsupported_syntax(document):
            return None
        operation: OperationDefinitionNode | None = None
        fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if operation_name is None:
                    if operation is not None:
                        return None  # "Must provide operation name ..." comes from graphql-core
                    operation = definition
                elif definition.name and definition.name.value == operation_name:
                    operation = definition
            elif isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
        if operation is None or operation.operation == OperationType.SUBSCRIPTION:
            return None
        if any(d.name.value == "experimental_disableErrorPropagation" for d in operation.directives or ()):
            return None
        root_type = schema.get_root_type(operation.operation)
        if root_type is None:
            return None
        try:
            return Plan(schema, document, operation_name, operation, root_type, fragments)
        except (_Unsupported, RecursionError):
            return None

    def execute(
        self,
        plan: Plan,
        root_value: Any = None,
        context_value: Any = None,
        variable_values: dict[str, Any] | None = None,
        guard: FieldGuard | None = None,
    ) -> ExecutionResult | Awaitable[ExecutionResult]:
        """Execute a plan; the same result as ``graphql.execute`` on the planned document.

        With a ``guard``, the fields it denies resolve as if their resolver had raised its
        error (null, an error at their path, non-null propagation as usual).
        """
        schema = plan.schema
        coerced = get_variable_values(
            schema, plan.variable_definitions, variable_values or {}, max_errors=MAX_COERCION_ERRORS
        )
        if isinstance(coerced, list):
            return ExecutionResult(None, errors=coerced)
        root = plan.root_plan(coerced.coerced)
        if root is None:
            return graphql_execute(
                schema, plan.document, root_value, context_value, variable_values, plan.operation_name,
                middleware=[guard] if guard is not None else None,
            )
        return _Run(plan, root_value, context_value, coerced, guard).execute_operation(root)


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


class _Run:
    """The state of one execution: the request's values and the errors collected so far.

    Every method mirrors the graphql-core 3.3 ``Executor`` method of the same name.  Where
    graphql-core gathers sibling awaitables (``gather_with_cancel`` for two or more, a plain
    ``await`` for one), so does this class, so that resolvers start, finish and fail in the
    same order and batch loaders see all sibling requests before the first one completes.
    """

    __slots__ = (
        "_background",
        "_helpers",
        "context_value",
        "denied",
        "error_positions",
        "errors",
        "guard",
        "plan",
        "root_value",
        "variable_values",
    )

    def __init__(self, plan: Plan, root_value: Any, context_value: Any, variable_values: VariableValues,
                 guard: FieldGuard | None = None) -> None:
        self.plan = plan
        self.guard = guard
        self.denied = guard.denied if guard is not None and guard.denied else None
        self.root_value = root_value
        self.context_value = context_value
        self.variable_values = variable_values
        self.errors: list[GraphQLError] = []
        # Positions nulled by an error; later errors at or below them are dropped (graphql-core's
        # CollectedErrors), e.g. from work that settles after its parent was already nulled.
        self.error_positions: set[Path | None] = set()
        self._helpers: GraphQLResolveInfoHelpers | None = None
        self._background: set[asyncio.Future[Any]] = set()

    # -- the operation ------------------------------------------------------------------------

    def execute_operation(self, root: _ObjectPlan) -> ExecutionResult | Awaitable[ExecutionResult]:
        try:
            if self.plan.serial:
                data = self.execute_fields_serially(root, self.root_value)
            else:
                data = self.execute_fields(root, self.root_value, None)
        except GraphQLError as error:
            self.add_error(error, None)
            return ExecutionResult(None, self.errors)
        if type(data) is not dict:
            return self.await_result(data)
        return ExecutionResult(data, self.errors or None)

    async def await_result(self, data: Awaitable[dict[str, Any]]) -> ExecutionResult:
        try:
            completed = await data
        except GraphQLError as error:
            self.add_error(error, None)
            return ExecutionResult(None, self.errors)
        return ExecutionResult(completed, self.errors or None)

    def execute_fields_serially(self, plan: _ObjectPlan, source: Any) -> ResolvedValue:
        """Mutation root fields: each one starts only after the previous one has completed."""
        results: dict[str, Any] = {}
        fields = plan.fields
        for index, field in enumerate(fields):
            result = self.execute_field(field, source, None)
            if type(result) not in _PLAIN and default_is_awaitable(result):
                return self.execute_remaining_serially(
                    results, field.response_name, result, fields[index + 1 :], source
                )
            results[field.response_name] = result
        return results

    async def execute_remaining_serially(
        self,
        results: dict[str, Any],
        response_name: str,
        pending: Awaitable[Any],
        remaining: list[_FieldPlan],
        source: Any,
    ) -> dict[str, Any]:
        results[response_name] = await pending
        for field in remaining:
            result = self.execute_field(field, source, None)
            if type(result) not in _PLAIN and default_is_awaitable(result):
                result = await result
            results[field.response_name] = result
        return results

    # -- selection sets and fields ------------------------------------------------------------

    def execute_fields(self, plan: _ObjectPlan, source: Any, path: Path | None) -> ResolvedValue:
        """Execute an object's fields; a dict, or an awaitable of it if any field is async."""
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        source_is_dict = type(source) is dict
        denied = self.denied
        try:
            for field in plan.fields:
                fast = field.fast
                if denied is not None and (field.parent_name, field.field_name) in denied:
                    fast = _GENERAL  # execute_field reports the denial
                if fast == _DICT_LEAF and source_is_dict:
                    # The hot path: a plain dict property that needs no output coercion.  A plain
                    # dict's get() has no side effects, so anything unusual can simply take the
                    # general path below, which reads the value again.
                    value = source.get(field.field_name)
                    if value is None:
                        if not field.non_null:
                            results[field.response_name] = None
                            continue
                    elif type(value) is field.pass_type:
                        check = field.check
                        if (
                            check == _CHECK_NONE
                            or (check == _CHECK_INT_RANGE and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT)
                            or (check == _CHECK_FINITE and value - value == 0.0)
                        ):
                            results[field.response_name] = value
                            continue
                elif fast == _TYPENAME:
                    results[field.response_name] = field.parent_name
                    continue
                result = self.execute_field(field, source, path)
                results[field.response_name] = result
                if type(result) not in _PLAIN and default_is_awaitable(result):
                    awaitable_fields.append(field.response_name)
        except Exception:
            if awaitable_fields:
                # A non-null error is bubbling up synchronously; the sibling fields already
                # started still have to settle (their errors are dropped as nulled positions).
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self.gather_fields(results, awaitable_fields)

    async def gather_fields(self, results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        if len(awaitable_fields) == 1:
            name = awaitable_fields[0]
            results[name] = await results[name]
        else:
            values = await gather_with_cancel(*(results[name] for name in awaitable_fields))
            results.update(zip(awaitable_fields, values, strict=True))
        return results

    def execute_field(self, field: _FieldPlan, source: Any, parent_path: Path | None) -> ResolvedValue:
        """Resolve one field on its source and complete the value (graphql-core's execute_field)."""
        path = Path(parent_path, field.response_name, field.parent_name)
        info: Info | None = None
        try:
            if self.denied is not None and (field.parent_name, field.field_name) in self.denied:
                assert self.guard is not None
                raise self.guard.error(field.parent_name, field.field_name)
            args = (
                get_argument_values(field.field_def, field.nodes[0], self.variable_values)
                if field.dynamic_args
                else field.args
            )
            resolver = field.resolver
            if resolver is None:
                # graphql-core's default_field_resolver, inlined to build the info only if needed
                value = (
                    source.get(field.field_name)
                    if isinstance(source, Mapping)
                    else getattr(source, field.field_name, None)
                )
                if callable(value):
                    info = self.build_resolve_info(field, path)
                    value = value(info, **args)
            else:
                info = self.build_resolve_info(field, path)
                value = resolver(source, info, **args)
            if type(value) not in _PLAIN and default_is_awaitable(value):
                return self.complete_awaitable_value(field, path, info, value)
            completed = self.complete_value(field.completer, field, path, path, info, value)
            if type(completed) not in _PLAIN and default_is_awaitable(completed):
                return self.await_completed(field.completer, field, path, completed)
        except Exception as error:
            self.handle_field_error(error, field.non_null, field, path)
            return None
        return completed

    def build_resolve_info(self, field: _FieldPlan, path: Path) -> Info:
        plan = self.plan
        helpers = self._helpers
        if helpers is None:
            helpers = self._helpers = GraphQLResolveInfoHelpers(
                gather=self.gather_async_work, track=self.track_async_work
            )
        return GraphQLResolveInfo(
            field.field_name,
            field.nodes,
            field.return_type,
            field.parent_type,
            path,
            plan.schema,
            plan.fragments,
            self.root_value,
            plan.operation,
            self.variable_values,
            self.context_value,
            default_is_awaitable,
            None,  # abort_signal: Trellis does not pass one to graphql.execute either
            helpers,
        )

    def handle_field_error(self, raw_error: Exception, non_null: bool, field: _FieldPlan, path: Path) -> None:
        """Null the field and record the error, or re-raise it to null the parent (non-null)."""
        error = located_error(raw_error, field.nodes, path.as_list())
        if non_null:
            raise error
        self.add_error(error, path)

    def add_error(self, error: GraphQLError, path: Path | None) -> None:
        positions = self.error_positions
        position = path
        while position is not None:
            if position in positions:
                return
            position = position.prev
        if None in positions:
            return
        positions.add(path)
        self.errors.append(error)

    async def complete_awaitable_value(
        self, field: _FieldPlan, path: Path, info: Info | None, result: Awaitable[Any]
    ) -> Any:
        try:
            resolved = await result
            completed = self.complete_value(field.completer, field, path, path, info, resolved)
            if type(completed) not in _PLAIN and default_is_awaitable(completed):
                completed = await completed
        except Exception as error:
            self.handle_field_error(error, field.non_null, field, path)
            return None
        return completed

    async def await_completed(self, completer: _Completer, field: _FieldPlan, path: Path, completed: Any) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, completer.kind == _NON_NULL, field, path)
            return None

    # -- value completion ---------------------------------------------------------------------
    # ``field_path`` is the path of the field being completed (what resolvers' info carries),
    # ``path`` the position of the value itself (an item path inside lists).

    def complete_value(
        self,
        completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        path: Path,
        info: Info | None,
        result: Any,
    ) -> ResolvedValue:
        if isinstance(result, Exception):
            raise result
        kind = completer.kind
        if kind == _NON_NULL:
            completed = self.complete_value(completer.of_type, field, field_path, path, info, result)  # type: ignore[arg-type]
            if completed is None:
                msg = f"Cannot return null for non-nullable field {field.parent_type}.{field.field_name}."
                raise TypeError(msg)
            return completed
        if result is None or result is Undefined:
            return None
        if kind == _LEAF:
            return self.complete_leaf_value(completer.type, result)
        if kind == _OBJECT:
            return self.complete_object_value(completer, completer.type, field, field_path, path, info, result)
        if kind == _LIST:
            return self.complete_list_value(completer, field, field_path, path, info, result)
        return self.complete_abstract_value(completer, field, field_path, path, info, result)

    @staticmethod
    def complete_leaf_value(return_type: GraphQLLeafType, result: Any) -> Any:
        coerced = return_type.coerce_output_value(result)
        if coerced is Undefined or coerced is None:
            msg = (
                f"Expected `{inspect(return_type)}.coerce_output_value("
                f"{inspect(result)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
            raise TypeError(msg)
        return coerced

    def complete_object_value(
        self,
        completer: _Completer,
        runtime_type: GraphQLObjectType,
        field: _FieldPlan,
        field_path: Path,
        path: Path,
        info: Info | None,
        result: Any,
    ) -> ResolvedValue:
        is_type_of = runtime_type.is_type_of
        if is_type_of is not None:
            if info is None:
                info = self.build_resolve_info(field, field_path)
            matches = is_type_of(result, info)
            if type(matches) is not bool and default_is_awaitable(matches):
                return self.execute_subfields_async(completer, runtime_type, field, path, result, matches)
            if not matches:
                raise invalid_return_type_error(runtime_type, result, field)
        return self.execute_fields(completer.object_plan(runtime_type), result, path)

    async def execute_subfields_async(
        self,
        completer: _Completer,
        runtime_type: GraphQLObjectType,
        field: _FieldPlan,
        path: Path,
        result: Any,
        matches: Awaitable[Any],
    ) -> dict[str, Any]:
        if not await matches:
            raise invalid_return_type_error(runtime_type, result, field)
        sub_fields = self.execute_fields(completer.object_plan(runtime_type), result, path)
        if type(sub_fields) is not dict:
            return await sub_fields  # type: ignore[no-any-return]
        return sub_fields

    def complete_abstract_value(
        self,
        completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        path: Path,
        info: Info | None,
        result: Any,
    ) -> ResolvedValue:
        abstract_type: GraphQLAbstractType = completer.type
        resolve_type = abstract_type.resolve_type
        runtime_type: Any = None
        if resolve_type is None and type(result) is dict:
            # default_type_resolver's first step, without building an info
            runtime_type = result.get("__typename")
        if not isinstance(runtime_type, str):
            if info is None:
                info = self.build_resolve_info(field, field_path)
            runtime_type = (resolve_type or default_type_resolver)(result, info, abstract_type)
            if type(runtime_type) is not str and runtime_type is not None and default_is_awaitable(runtime_type):
                return self.complete_abstract_value_async(
                    completer, field, field_path, path, info, result, runtime_type
                )
        return self.complete_object_value(
            completer,
            self.ensure_valid_runtime_type(runtime_type, abstract_type, field, result),
            field,
            field_path,
            path,
            info,
            result,
        )

    async def complete_abstract_value_async(
        self,
        completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        path: Path,
        info: Info,
        result: Any,
        runtime_type: Awaitable[Any],
    ) -> Any:
        value = self.complete_object_value(
            completer,
            self.ensure_valid_runtime_type(await runtime_type, completer.type, field, result),
            field,
            field_path,
            path,
            info,
            result,
        )
        if type(value) is not dict and default_is_awaitable(value):
            return await value
        return value

    def ensure_valid_runtime_type(
        self, runtime_type_name: Any, return_type: GraphQLAbstractType, field: _FieldPlan, result: Any
    ) -> GraphQLObjectType:
        where = f"{field.parent_type}.{field.field_name}"
        if runtime_type_name is None:
            msg = (
                f"Abstract type '{return_type}' must resolve to an Object type at runtime"
                f" for field '{where}'. Either the '{return_type}' type should provide"
                " a 'resolve_type' function or each possible type should provide"
                " an 'is_type_of' function."
            )
            raise GraphQLError(msg, field.nodes)
        if not isinstance(runtime_type_name, str):
            msg = (
                f"Abstract type '{return_type}' must resolve to an Object type at runtime"
                f" for field '{where}' with value {inspect(result)},"
                f" received '{inspect(runtime_type_name)}', which is not a valid Object type name."
            )
            raise GraphQLError(msg, field.nodes)
        schema = self.plan.schema
        runtime_type = schema.get_type(runtime_type_name)
        if runtime_type is None:
            msg = (
                f"Abstract type '{return_type}' was resolved to a type"
                f" '{runtime_type_name}' that does not exist inside the schema."
            )
            raise GraphQLError(msg, field.nodes)
        if not is_object_type(runtime_type):
            msg = f"Abstract type '{return_type}' was resolved to a non-object type '{runtime_type_name}'."
            raise GraphQLError(msg, field.nodes)
        if not schema.is_sub_type(return_type, runtime_type):
            msg = f"Runtime Object type '{runtime_type}' is not a possible type for '{return_type}'."
            raise GraphQLError(msg, field.nodes)
        return runtime_type

    # -- lists --------------------------------------------------------------------------------

    def complete_list_value(
        self,
        completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        path: Path,
        info: Info | None,
        result: Any,
    ) -> ResolvedValue:
        item_completer: _Completer = completer.of_type  # type: ignore[assignment]
        if hasattr(result, "__aiter__"):  # graphql-core's is_async_iterable
            return self.complete_async_iterator_value(item_completer, field, field_path, path, info, result.__aiter__())
        if not is_iterable(result):
            msg = f"Expected Iterable, but did not find one for field '{field.parent_type}.{field.field_name}'."
            raise GraphQLError(msg)

        # Lists of objects are the common case worth a shortcut: a dict item can't be an
        # exception, null or awaitable, so it goes straight to its object's fields.
        object_completer = item_completer.of_type if item_completer.kind == _NON_NULL else item_completer
        object_plan: _ObjectPlan | None = None
        if (
            object_completer is not None
            and object_completer.kind == _OBJECT
            and object_completer.type.is_type_of is None
        ):
            object_plan = object_completer.object_plan(object_completer.type)

        completed_results: list[Any] = []
        append = completed_results.append
        awaitable_indices: list[int] = []
        iterator = iter(result)
        index = 0
        try:
            for item in iterator:
                item_path = Path(path, index, None)
                if object_plan is not None and type(item) is dict:
                    try:
                        completed = self.execute_fields(object_plan, item, item_path)
                    except Exception as error:
                        self.handle_field_error(error, item_completer.kind == _NON_NULL, field, item_path)
                        completed = None
                    if type(completed) is not dict and completed is not None:
                        append(self.await_completed(item_completer, field, item_path, completed))
                        awaitable_indices.append(index)
                    else:
                        append(completed)
                elif type(item) not in _PLAIN and default_is_awaitable(item):
                    append(
                        self.complete_awaitable_list_item_value(
                            item, item_completer, field, field_path, item_path, info
                        )
                    )
                    awaitable_indices.append(index)
                elif self.complete_list_item_value(
                    item, completed_results, item_completer, field, field_path, item_path, info
                ):
                    awaitable_indices.append(index)
                index += 1
        except Exception:
            # Don't close the iterator: drain it, so that awaitable items it still holds can be
            # settled in the background like the ones already started.
            pending = [completed_results[i] for i in awaitable_indices]
            pending.extend(_remaining_awaitables(iterator))
            if pending:
                self.settle_in_background(pending)
            raise
        if not awaitable_indices:
            return completed_results
        return self.gather_items(completed_results, awaitable_indices)

    async def gather_items(self, completed_results: list[Any], awaitable_indices: list[int]) -> list[Any]:
        if len(awaitable_indices) == 1:
            index = awaitable_indices[0]
            completed_results[index] = await completed_results[index]
        else:
            values = await gather_with_cancel(*(completed_results[i] for i in awaitable_indices))
            for index, value in zip(awaitable_indices, values, strict=True):
                completed_results[index] = value
        return completed_results

    def complete_list_item_value(
        self,
        item: Any,
        completed_results: list[Any],
        item_completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        item_path: Path,
        info: Info | None,
    ) -> bool:
        """Append the completed item; True if what was appended is awaitable."""
        try:
            completed = self.complete_value(item_completer, field, field_path, item_path, info, item)
            if type(completed) not in _PLAIN and default_is_awaitable(completed):
                completed_results.append(self.await_completed(item_completer, field, item_path, completed))
                return True
            completed_results.append(completed)
        except Exception as error:
            self.handle_field_error(error, item_completer.kind == _NON_NULL, field, item_path)
            completed_results.append(None)
        return False

    async def complete_awaitable_list_item_value(
        self,
        item: Awaitable[Any],
        item_completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        item_path: Path,
        info: Info | None,
    ) -> Any:
        try:
            resolved = await item
            completed = self.complete_value(item_completer, field, field_path, item_path, info, resolved)
            if type(completed) not in _PLAIN and default_is_awaitable(completed):
                completed = await completed
        except Exception as error:
            self.handle_field_error(error, item_completer.kind == _NON_NULL, field, item_path)
            return None
        return completed

    async def complete_async_iterator_value(
        self,
        item_completer: _Completer,
        field: _FieldPlan,
        field_path: Path,
        path: Path,
        info: Info | None,
        async_iterator: AsyncIterator[Any],
    ) -> list[Any]:
        completed_results: list[Any] = []
        awaitable_indices: list[int] = []
        early_return = getattr(async_iterator, "aclose", None)
        index = 0
        try:
            while True:
                item_path = Path(path, index, None)
                try:
                    item = await anext(async_iterator)
                except StopAsyncIteration:
                    break
                except Exception as raw_error:
                    raise located_error(raw_error, field.nodes, path.as_list()) from raw_error
                if default_is_awaitable(item):
                    completed_results.append(
                        self.complete_awaitable_list_item_value(
                            item, item_completer, field, field_path, item_path, info
                        )
                    )
                    awaitable_indices.append(index)
                elif self.complete_list_item_value(
                    item, completed_results, item_completer, field, field_path, item_path, info
                ):
                    awaitable_indices.append(index)
                index += 1
        except Exception:
            if early_return is not None:
                with suppress(Exception):
                    await early_return()
            if awaitable_indices:
                self.settle_in_background([completed_results[i] for i in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed_results
        return await self.gather_items(completed_results, awaitable_indices)

    # -- asynchronous work that outlives its field ----------------------------------------------

    def settle_in_background(self, awaitables: list[Awaitable[Any]]) -> None:
        """Let abandoned awaitables finish (observing their errors) instead of orphaning them."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop: they can never run, so dispose of the coroutines
            for awaitable in awaitables:
                close = getattr(awaitable, "close", None)
                if asyncio.iscoroutine(awaitable) and close is not None:
                    close()
            return
        future = asyncio.gather(*awaitables, return_exceptions=True)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    def track_async_work(self, values: Sequence[Any]) -> None:
        awaitables = [value for value in values if default_is_awaitable(value)]
        if awaitables:
            self.settle_in_background(awaitables)

    @staticmethod
    def gather_async_work(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return gather_with_cancel(*values)


def invalid_return_type_error(return_type: GraphQLObjectType, result: Any, field: _FieldPlan) -> GraphQLError:
    return GraphQLError(f"Expected value of type '{return_type}' but got: {inspect(result)}.", field.nodes)


def _remaining_awaitables(iterator: Iterator[Any]) -> list[Awaitable[Any]]:
    awaitables: list[Awaitable[Any]] = []
    with suppress(Exception):
        awaitables.extend(item for item in iterator if default_is_awaitable(item))
    return awaitables


# ---------------------------------------------------------------------------------------------
# Micro-benchmark: python -m app.plan_executor
# ---------------------------------------------------------------------------------------------


def _benchmark() -> None:  # pragma: no cover - a measuring tool, not part of the server
    import time

    from graphql import build_schema, parse

    schema = build_schema(
        """
        type Product { id: ID! sku: String! name: String! description: String priceCents: Int! }
        type ProductConnection { items: [Product!]! nextToken: String }
        type Query {
          listProducts(limit: Int, nextToken: String): ProductConnection
          getProduct(id: ID!): Product
        }
        """
    )
    items = [
        {"id": f"p{i}", "sku": f"SKU-{i:04d}", "name": f"Product {i}", "description": None, "priceCents": 100 + i}
        for i in range(100)
    ]

    async def list_products(_source: Any, _info: Info, **_args: Any) -> dict[str, Any]:
        return {"items": items, "nextToken": None}

    async def get_product(_source: Any, _info: Info, id: str) -> dict[str, Any]:
        return items[0]

    query_type = schema.type_map["Query"]
    assert isinstance(query_type, GraphQLObjectType)
    query_type.fields["listProducts"].resolve = list_products
    query_type.fields["getProduct"].resolve = get_product
    executor = PlanExecutor(schema)
    cases = {
        "100-item list": "{ listProducts(limit: 100) { items { id sku name } } }",
        "small query": '{ getProduct(id: "p0") { id sku name priceCents } }',
    }

    async def run_stock(document: DocumentNode) -> ExecutionResult:
        result = graphql_execute(schema, document)
        if isinstance(result, ExecutionResult):
            return result
        return await result

    async def run_plan(document: DocumentNode) -> ExecutionResult:
        plan = executor.plan(document)
        assert plan is not None
        result = executor.execute(plan)
        if isinstance(result, ExecutionResult):
            return result
        return await result

    async def measure(run: Callable[[DocumentNode], Awaitable[ExecutionResult]], document: DocumentNode) -> float:
        for _ in range(200):
            await run(document)
        best = float("inf")
        for _ in range(5):
            rounds = 1000
            start = time.perf_counter()
            for _ in range(rounds):
                await run(document)
            best = min(best, (time.perf_counter() - start) / rounds)
        return best

    async def main() -> None:
        for label, query in cases.items():
            document = parse(query)
            stock, planned = await run_stock(document), await run_plan(document)
            assert (stock.data, stock.errors) == (planned.data, planned.errors)
            stock_time = await measure(run_stock, document)
            plan_time = await measure(run_plan, document)
            print(
                f"{label:14}  graphql.execute {stock_time * 1e6:8.1f} us   plan executor {plan_time * 1e6:8.1f} us"
                f"   speedup {stock_time / plan_time:5.2f}x"
            )

    asyncio.run(main())


if __name__ == "__main__":  # pragma: no cover
    _benchmark()
