"""graphql-core resolvers for the fields the @model transformer generated.

Root fields call the store directly; relationship fields go through per-request batch loaders so
that a list of N parents costs one query per relationship level, not N.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from graphql import GraphQLResolveInfo

from app.errors import TrellisError
from resolvers.context import RequestScope
from resolvers.loader import BatchLoader
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


def _sort_condition(sort: tuple[str, ...], args: Mapping[str, Any]) -> tuple[tuple[str, ...], Any] | None:
    name = sort[0] if len(sort) == 1 else composite_argument(sort)
    condition = args.get(name)
    return (sort, condition) if condition else None


def root_resolver(coordinate: str, op: ModelOperation, spec: ModelSpec) -> GraphQLResolver:
    model = op.model
    field_name = coordinate.split(".", 1)[1]

    if op.kind == "get":
        async def get(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            return await _store(info).get(model, args)
        return get

    if op.kind == "list":
        async def list_items(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            equal: dict[str, Any] = {}
            sort_condition = None
            if spec.sort_key:
                partition = spec.primary_key[0]
                if args.get(partition) is not None:
                    equal[partition] = args[partition]
                    sort_condition = _sort_condition(spec.sort_key, args)
            request = PageRequest(
                model=model, order=spec.primary_key, equal=equal, sort_condition=sort_condition,
                filter=args.get("filter"), descending=args.get("sortDirection") == "DESC",
                limit=args.get("limit"), next_token=args.get("nextToken"), scope=field_name,
            )
            return _connection(await _store(info).page(request))
        return list_items

    if op.kind == "index":
        index = next(i for i in spec.indexes if i.name == op.index)

        async def by_index(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            sort_condition = _sort_condition(index.sort, args) if index.sort else None
            request = PageRequest(
                model=model, order=(index.partition, *index.sort), equal={index.partition: args[index.partition]},
                sort_condition=sort_condition, filter=args.get("filter"),
                descending=args.get("sortDirection") == "DESC", limit=args.get("limit"),
                next_token=args.get("nextToken"), scope=field_name,
            )
            return _connection(await _store(info).page(request))
        return by_index

    if op.kind in ("create", "update", "delete"):
        kind = op.kind

        async def mutate(_source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
            store = _store(info)
            action = {"create": store.create, "update": store.update, "delete": store.delete}[kind]
            item = await action(model, args["input"], args.get("condition"))
            await _notify(info, field_name, model, item)
            return item
        return mutate

    raise AssertionError(f"no root resolver for {op.kind}")  # pragma: no cover


def relation_resolver(owner: ModelSpec, relation: RelationSpec, target: ModelSpec) -> GraphQLResolver:
    coordinate = f"{owner.name}.{relation.field}"
    if not relation.many:
        async def one(source: Any, info: GraphQLResolveInfo[RequestScope], **_args: Any) -> Any:
            values = tuple(source.get(f) for f in relation.source_fields)
            if any(v is None for v in values):
                return None
            scope: RequestScope = info.context
            loader = scope.loaders.get(coordinate)
            if loader is None:
                store = _store(info)

                async def fetch(keys: list[tuple[Any, ...]]) -> Mapping[tuple[Any, ...], Any]:
                    grouped = await store.load_by(target.name, relation.target_fields, keys)
                    return {k: rows[0] for k, rows in grouped.items() if rows}

                loader = scope.loaders[coordinate] = BatchLoader(fetch, None)
            return await loader.load(values)
        return one

    async def many(source: Any, info: GraphQLResolveInfo[RequestScope], **args: Any) -> Any:
        values = tuple(source.get(f) for f in relation.source_fields)
        if any(v is None for v in values):
            return {"items": [], "nextToken": None}
        store = _store(info)
        request = PageRequest(
            model=target.name, order=relation.target_fields, equal={}, filter=args.get("filter"),
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
