"""Load ``schema.graphql`` into an executable graphql-core schema.

The user's SDL is parsed as its own ``Source`` (so every error carries its file and line), the
AppSync scalars and directives are added from a built-in source, the @model transformer adds the
generated SDL, and the whole is validated once. Resolvers are then bound to fields; a resolver
for a field that does not exist is a start-up error, never a request-time surprise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DefinitionNode,
    DocumentNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    Source,
    build_ast_schema,
    parse,
    validate_schema,
)
from graphql.validation.validate import validate_sdl

from app.directives import AMPLIFY_DIRECTIVES_SDL, APPSYNC_DIRECTIVES_SDL
from app.errors import ConfigError, Problem
from app.realtime.events import all_subscribed_mutations
from app.scalars import APPSYNC_SCALAR_SDL, bind_scalars
from resolvers.model.resolvers import field_resolver, relation_resolver, root_resolver
from resolvers.model.transformer import TransformResult, transform
from resolvers.publish import publishing_resolver

BUILTIN_SOURCE_NAME = "<appsync built-ins>"
# ``@aws_subscribe(mutations: ["trellis:..."])`` names a topic Trellis publishes to itself; no
# mutation can have that name.
INTERNAL_TOPIC_PREFIX = "trellis:"
_BUILTINS = parse(Source(APPSYNC_SCALAR_SDL + APPSYNC_DIRECTIVES_SDL + AMPLIFY_DIRECTIVES_SDL, BUILTIN_SOURCE_NAME))


@dataclass
class LoadedSchema:
    schema: GraphQLSchema
    model: TransformResult
    path: Path
    # Resolvers bound to Subscription fields run once, when a subscription starts (they may refuse it
    # or set an enhanced filter); events then pass through the field as they are.
    subscription_resolvers: dict[str, Any] = field(default_factory=dict)


def _problems_from(errors: Iterable[GraphQLError], fallback_file: str) -> list[Problem]:
    problems = []
    for error in errors:
        file, line, column = fallback_file, None, None
        if error.source is not None and error.locations:
            file = error.source.name
            line, column = error.locations[0].line, error.locations[0].column
        elif error.nodes:
            node = error.nodes[0]
            if node.loc is not None:
                location = node.loc.source.get_location(node.loc.start)
                file, line, column = node.loc.source.name, location.line, location.column
        problems.append(Problem(error.message, file=file, line=line, column=column))
    return problems


# Extra definitions appended after the @model transform (the workflow SDL when [workflows] is set).
Extender = Callable[[Sequence[DefinitionNode]], Sequence[DefinitionNode]]


def load_schema_text(text: str, name: str, extend: Extender | None = None) -> LoadedSchema:
    try:
        user = parse(Source(text, name))
    except GraphQLSyntaxError as exc:
        raise ConfigError(_problems_from([exc], name)) from exc
    result = transform(user, name)
    if result.problems:
        raise ConfigError(result.problems)
    definitions = tuple(result.definitions)
    if extend is not None:
        definitions += tuple(extend(definitions))
    document = DocumentNode(definitions=(*_BUILTINS.definitions, *definitions))
    errors = validate_sdl(document)
    if errors:
        raise ConfigError(_problems_from(errors, name))
    try:
        schema = build_ast_schema(document, assume_valid_sdl=True)
    except (TypeError, GraphQLError) as exc:
        raise ConfigError([Problem(str(exc), file=name)]) from exc
    errors = validate_schema(schema)
    if errors:
        raise ConfigError(_problems_from(errors, name))
    bind_scalars(schema)
    return LoadedSchema(schema, result, Path(name))


def load_schema(path: str | Path, extend: Extender | None = None) -> LoadedSchema:
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read schema: {exc.strerror}", file=str(file))]) from exc
    return load_schema_text(text, str(file), extend)


def bind_resolvers(loaded: LoadedSchema, resolvers: Mapping[str, Any], where: str | None) -> list[Problem]:
    """Attach @model resolvers and user resolvers; report coordinates that name no field."""
    schema = loaded.schema
    model = loaded.model
    for coordinate, op in model.operations.items():
        type_name, field_name = coordinate.split(".", 1)
        if op.kind == "subscribe":
            continue  # wired by the real-time layer
        field = _field(schema, type_name, field_name)
        if field is None:
            continue
        if type_name in ("Query", "Mutation"):
            field.resolve = root_resolver(coordinate, op, model.models[op.model])
        else:
            owner = model.models[type_name]
            relation = owner.relations[field_name]
            field.resolve = relation_resolver(owner, relation, model.models[relation.target])
    for spec in model.models.values():
        for field_name in spec.field_auth:
            field = _field(schema, spec.name, field_name)
            if field is not None:
                field.resolve = field_resolver(spec, field_name, field.resolve)
    problems = []
    for coordinate, resolver in resolvers.items():
        type_name, _, field_name = coordinate.partition(".")
        field = _field(schema, type_name, field_name)
        if field is None:
            file, line = _defined_at(resolver, where)
            message = f"resolver bound to {coordinate}, but the schema has no such field"
            problems.append(Problem(message, file=file, line=line))
            continue
        if type_name == "Subscription":
            loaded.subscription_resolvers[field_name] = resolver
            continue
        field.resolve = resolver
    model_mutations = {c.split(".", 1)[1] for c in model.operations if c.startswith("Mutation.")}
    for name in sorted(all_subscribed_mutations(schema) - model_mutations):
        if name.startswith(INTERNAL_TOPIC_PREFIX):
            continue  # published by Trellis itself (e.g. workflow events), not by a mutation
        field = _field(schema, "Mutation", name)
        if field is None:
            message = f"@aws_subscribe names mutation {name!r}, but the schema has no such mutation"
            problems.append(Problem(message, file=str(loaded.path)))
            continue
        field.resolve = publishing_resolver(name, field.resolve)
    return problems


def _defined_at(resolver: Any, config_file: str | None) -> tuple[str | None, int | None]:
    """Where a binding was made: the decorated function's source line, else the config file."""
    fn = getattr(resolver, "fn", None)
    if fn is not None and getattr(fn, "_trellis_decorated", False):
        try:
            return inspect.getsourcefile(fn), inspect.getsourcelines(fn)[1]
        except (OSError, TypeError):
            return None, None
    return config_file, None


def _field(schema: GraphQLSchema, type_name: str, field_name: str) -> Any:
    graphql_type = schema.type_map.get(type_name)
    if not isinstance(graphql_type, GraphQLObjectType):
        return None
    return graphql_type.fields.get(field_name)
