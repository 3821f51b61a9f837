"""graphql-core resolvers for the fields the @model transformer generated.

Root fields call the store directly; relationship fields go through per-request batch loaders so
that a list of N parents costs one query per relationship level, not N.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from graphql import GraphQLResolveInfo

from app.errors import ConditionFailedError, TrellisError
from auth.field_rules import FieldUnauthorizedError, denied_message
from resolvers.context import RequestScope
from resolvers.loader import BatchLoader
from resolvers.model.auth import EVERYTHING, Access
from resolvers.model.match import matches
from resolvers.model.spec import ModelSpec, RelationSpec
from resolvers.model.store import ModelStore, Page, PageRequest
from resolvers.model.transformer import ModelOperation, composite_argument

GraphQLResolver = Callable[..., Awaitable[Any]]
ChangeListener = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]


def _connection(page: Page) -> dict[str, Any]:
    return {"items": page.items, "nextToken": page.next_token}


def _store(info: GraphQLResolveInfo[RequestScope]) -> ModelStore:
    scope: RequestScope = info.context
    store = scope.runtime.store
    if store is None:  # pragma: no cover - the server always builds one when models exist
        raise TrellisError("No model store is configured")
    return store


async def _notify(info: GraphQLResolveInfo[RequestScope], mutation: str, model: str, item: Mapping[str, Any]) -> None:
    scope: RequestScope = info.context
    for listener in scope.runtime.change_listeners:
        await listener(mutation, model, item)


def _access(info: GraphQLResolveInfo[RequestScope], spec: ModelSpec, operation: str) -> Access:
    """What the model's @auth rules let this caller do; refused outright when nothing."""
    if spec.auth is None:
        return EVERYTHING
    scope: RequestScope = info.context
    access = spec.auth.access(scope.caller, operation)
    if not access.allowed:
        raise _unauthorized(info)
    return access


def _unauthorized(info: GraphQLResolveInfo[RequestScope]) -> FieldUnauthorizedError:
    return FieldUnauthorizedError(denied_message(info.parent_type.name, info.field_name))


def _restricted(flt: Mapping[str, Any] | None, access: Access) -> Mapping[str, Any] | None:
    """The caller's filter narrowed to the rows the rules allow (both must hold)."""
    if access.predicate is None:
        return flt
    return {"and": [flt, access.predicate]} if flt else access.predicate


def _sort_condition(sort: tuple[str, ...], args: Mapping[str, Any]) -> tuple[tuple[str, ...], Any] | None:
    name = sort[0] if len(sort) == 1 else composite_argument(sort)
    condition = args.get(name)
    return (sort, condition) if condition else None


def root_resolver(coordinate: str, op: ModelOperation, spec: ModelSpec) -> GraphQLResolver:
    model = op.model
    field_name = coordinate.split(".", 1)[1]

    if op.kind == "get":
        async def get(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            access = _access(info, spec, "get")
            item = await _store(info).get(model, args)
            if item is not None and access.predicate is not None and not matches(item, access.predicate):
                raise _unauthorized(info)
            return item
        return get

    if op.kind == "list":
        async def list_items(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            access = _access(info, spec, "list")
            equal: dict[str, Any] = {}
            sort_condition = None
            if spec.sort_key:
                partition = spec.primary_key[0]
                if args.get(partition) is not None:
                    equal[partition] = args[partition]
                    sort_condition = _sort_condition(spec.sort_key, args)
            request = PageRequest(
                model=model, order=spec.primary_key, equal=equal, sort_condition=sort_condition,
                filter=_restricted(args.get("filter"), access), descending=args.get("sortDirection") == "DESC",
                limit=args.get("limit"), next_token=args.get("nextToken"), scope=field_name,
            )
            return _connection(await _store(info).page(request))
        return list_items

    if op.kind == "index":
        index = next(i for i in spec.indexes if i.name == op.index)

        async def by_index(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            access = _access(info, spec, "list")
            sort_condition = _sort_condition(index.sort, args) if index.sort else None
            request = PageRequest(
                model=model, order=(index.partition, *index.sort), equal={index.partition: args[index.partition]},
                sort_condition=sort_condition, filter=_restricted(args.get("filter"), access),
                descending=args.get("sortDirection") == "DESC", limit=args.get("limit"),
                next_token=args.get("nextToken"), scope=field_name,
            )
            return _connection(await _store(info).page(request))
        return by_index

    if op.kind in ("create", "update", "delete"):
        kind = op.kind

        async def mutate(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            store = _store(info)
            access = _access(info, spec, kind)
            data, condition = args["input"], args.get("condition")
            access = _field_access(info, spec, kind, data, access)
            if kind == "create":
                item = await store.create(model, _owned_input(info, spec, access, data), condition)
            else:
                action = store.update if kind == "update" else store.delete
                try:
                    item = await action(model, data, _restricted(condition, access))
                except ConditionFailedError:
                    # Refused by the rules rather than by the caller's condition: say so.
                    if access.predicate is not None:
                        current = await store.get(model, {k: data.get(k) for k in spec.primary_key})
                        if current is not None and not matches(current, access.predicate):
                            raise _unauthorized(info) from None
                    raise
            await _notify(info, field_name, model, item)
            return item
        return mutate

    raise AssertionError(f"no root resolver for {op.kind}")  # pragma: no cover


def _field_access(info: GraphQLResolveInfo[RequestScope], spec: ModelSpec, operation: str,
                  data: Mapping[str, Any], access: Access) -> Access:
    """Narrow a write by the field-level rules of the fields its input sets."""
    if not spec.field_auth or operation == "delete":
        return access
    scope: RequestScope = info.context
    predicates = [access.predicate] if access.predicate is not None else []
    for name, rules in spec.field_auth.items():
        if name not in data:
            continue
        allowed = rules.access(scope.caller, operation)
        if not allowed.allowed:
            raise _unauthorized(info)
        if allowed.predicate is not None:
            predicates.append(allowed.predicate)
    if len(predicates) <= 1:
        return Access(True, predicates[0] if predicates else None)
    return Access(True, {"and": predicates})


def field_resolver(spec: ModelSpec, field_name: str, inner: Callable[..., Any] | None) -> Callable[..., Any]:
    """A model field with its own @auth rules: read only where they let the caller read the row."""
    rules = spec.field_auth[field_name]

    def guarded(source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
        scope: RequestScope = info.context
        access = rules.access(scope.caller, "get")
        if not access.allowed or (access.predicate is not None and not matches(source, access.predicate)):
            raise _unauthorized(info)
        if inner is not None:
            return inner(source, info, **args)
        return source.get(field_name) if isinstance(source, Mapping) else getattr(source, field_name, None)

    return guarded


def _owned_input(info: GraphQLResolveInfo[RequestScope], spec: ModelSpec, access: Access,
                 data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A create's input with the caller filled in as owner where left out, checked against the rules."""
    scope: RequestScope = info.context
    caller = scope.caller
    rule_sets = [spec.auth] if spec.auth is not None else []
    rule_sets.extend(rules for name, rules in spec.field_auth.items() if name in data)
    if not rule_sets or caller is None:
        return data
    filled = dict(data)
    for rules in rule_sets:
        filled.update(rules.owner_defaults(caller, filled))
    if access.predicate is not None and not matches(filled, access.predicate):
        raise _unauthorized(info)  # creating a row owned by someone else
    return filled


def relation_resolver(owner: ModelSpec, relation: RelationSpec, target: ModelSpec) -> GraphQLResolver:
    coordinate = f"{owner.name}.{relation.field}"
    if not relation.many:
        async def one(source: Any, info: GraphQLResolveInfo[RequestScope], **_args: Any) -> Any:
            values = tuple(source.get(f) for f in relation.source_fields)
            if any(v is None for v in values):
                return None
            access = _access(info, target, "get")
            scope: RequestScope = info.context
            loader = scope.loaders.get(coordinate)
            if loader is None:
                store = _store(info)

                async def fetch(keys: list[tuple[Any, ...]]) -> Mapping[tuple[Any, ...], Any]:
                    grouped = await store.load_by(target.name, relation.target_fields, keys)
                    return {k: rows[0] for k, rows in grouped.items() if rows}

                loader = scope.loaders[coordinate] = BatchLoader(fetch, None)
            item = await loader.load(values)
            if item is not None and access.predicate is not None and not matches(item, access.predicate):
                raise _unauthorized(info)
            return item
        return one

    async def many(source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
        values = tuple(source.get(f) for f in relation.source_fields)
        if any(v is None for v in values):
            return {"items": [], "nextToken": None}
        access = _access(info, target, "list")
        store = _store(info)
        request = PageRequest(
            model=target.name, order=relation.target_fields, equal={}, filter=_restricted(args.get("filter"), access),
            descending=args.get("sortDirection") == "DESC", limit=args.get("limit"),
            next_token=args.get("nextToken"), scope=coordinate,
        )
        if request.next_token:
            scoped = replace(request, equal=dict(zip(relation.target_fields, values, strict=True)))
            return _connection(await store.page(scoped))
        scope: RequestScope = info.context
        key = (coordinate, store.tokens.fingerprint(args))
        loader = scope.loaders.get(key)
        if loader is None:
            async def fetch(groups: list[tuple[Any, ...]]) -> Mapping[tuple[Any, ...], Any]:
                return await store.page_grouped(request, relation.target_fields, groups)

            loader = scope.loaders[key] = BatchLoader(fetch, Page([], None))
        return _connection(await loader.load(values))
    return many
