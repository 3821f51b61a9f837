"""What the @model transformer knows about each model, read from the user's SDL.

``read_models`` walks the parsed user document once and returns a ``ModelSpec`` per ``@model``
type: its stored fields, keys, indexes, defaults and relationships (with Amplify's implicit
foreign-key fields worked out). Everything wrong is collected as a ``Problem`` with the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    Node,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    TypeNode,
    value_from_ast_untyped,
)

from app.errors import Problem
from resolvers.model.auth import ModelAuth, read_auth
from resolvers.model.naming import lower_first, pluralize, upper_first

STRING_SCALARS = {
    "ID", "String", "AWSDate", "AWSTime", "AWSDateTime", "AWSEmail", "AWSURL", "AWSPhone", "AWSIPAddress",
}
INT_SCALARS = {"Int", "AWSTimestamp"}


class ColumnKind(Enum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOLEAN = "boolean"
    ENUM = "enum"
    JSON = "json"  # AWSJSON, lists and non-model object types are stored as JSON


class RelationKind(Enum):
    HAS_MANY = "hasMany"
    HAS_ONE = "hasOne"
    BELONGS_TO = "belongsTo"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type_name: str
    is_list: bool
    non_null: bool
    kind: ColumnKind
    default: str | None = None


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition: str
    sort: tuple[str, ...]
    query_field: str | None


@dataclass(frozen=True)
class RelationSpec:
    """Load the ``target`` rows whose ``target_fields`` equal this row's ``source_fields``."""

    field: str
    kind: RelationKind
    target: str
    source_fields: tuple[str, ...]
    target_fields: tuple[str, ...]
    many: bool


@dataclass
class ModelSpec:
    name: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ("id",)
    indexes: list[IndexSpec] = field(default_factory=list)
    relations: dict[str, RelationSpec] = field(default_factory=dict)
    created_at: str | None = "createdAt"
    updated_at: str | None = "updatedAt"
    query_names: dict[str, str | None] = field(default_factory=dict)
    mutation_names: dict[str, str | None] = field(default_factory=dict)
    subscription_names: dict[str, str | None] = field(default_factory=dict)
    implicit_fields: list[str] = field(default_factory=list)  # FK fields Trellis added
    auth: ModelAuth | None = None  # @auth rules; None: the API's @aws_* directives alone decide
    field_auth: dict[str, ModelAuth] = field(default_factory=dict)  # field-level @auth rules

    @property
    def sort_key(self) -> tuple[str, ...]:
        return self.primary_key[1:]


@dataclass(frozen=True)
class ManyToMany:
    """``@manyToMany(relationName:)`` pairs, resolved into a generated join model."""

    relation_name: str
    model: str
    field: str


def named_type(node: TypeNode) -> tuple[str, bool, bool]:
    """(name, is_list, non_null) of a field type such as ``[Item!]!``."""
    non_null = isinstance(node, NonNullTypeNode)
    inner: Any = node.type if isinstance(node, NonNullTypeNode) else node
    is_list = isinstance(inner, ListTypeNode)
    while not isinstance(inner, NamedTypeNode):
        inner = inner.type
    return inner.name.value, is_list, non_null


def directive(node: ObjectTypeDefinitionNode | FieldDefinitionNode, name: str) -> DirectiveNode | None:
    for d in node.directives or ():
        if d.name.value == name:
            return d
    return None


def directive_args(d: DirectiveNode) -> dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value) for a in d.arguments or ()}


def _line(node: Node) -> int | None:
    loc = node.loc
    if loc is None:
        return None
    return int(loc.source.get_location(loc.start).line)


class _Reader:
    def __init__(self, document: DocumentNode, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.objects = {
            d.name.value: d for d in document.definitions if isinstance(d, ObjectTypeDefinitionNode)
        }
        self.enums = {d.name.value for d in document.definitions if isinstance(d, EnumTypeDefinitionNode)}
        self.model_nodes = {n: d for n, d in self.objects.items() if directive(d, "model")}

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(message, file=self.file, line=_line(node)))

    def read(self) -> dict[str, ModelSpec]:
        models = {name: self._model(node) for name, node in self.model_nodes.items()}
        for name, node in self.model_nodes.items():
            self._relations(models, models[name], node)
        return models

    def _kind(self, type_name: str, is_list: bool) -> ColumnKind:
        if is_list or type_name == "AWSJSON" or type_name in self.objects:
            return ColumnKind.JSON
        if type_name in STRING_SCALARS:
            return ColumnKind.STRING
        if type_name in INT_SCALARS:
            return ColumnKind.INT
        if type_name == "Float":
            return ColumnKind.FLOAT
        if type_name == "Boolean":
            return ColumnKind.BOOLEAN
        if type_name in self.enums:
            return ColumnKind.ENUM
        return ColumnKind.JSON

    def _model(self, node: ObjectTypeDefinitionNode) -> ModelSpec:
        name = node.name.value
        spec = ModelSpec(name=name)
        model_directive = directive(node, "model")
        assert model_directive is not None  # only @model types are read here
        model_args = directive_args(model_directive)
        plural = pluralize(name)
        queries = model_args.get("queries", {}) if "queries" in model_args else {}
        mutations = model_args.get("mutations", {}) if "mutations" in model_args else {}
        subs = model_args.get("subscriptions", {}) if "subscriptions" in model_args else {}
        stamps = model_args.get("timestamps", {}) if "timestamps" in model_args else {}
        spec.query_names = {
            "get": _pick(queries, "get", f"get{name}"),
            "list": _pick(queries, "list", f"list{plural}"),
        }
        spec.mutation_names = {
            op: _pick(mutations, op, f"{op}{name}") for op in ("create", "update", "delete")
        }
        spec.subscription_names = {
            op: _pick_sub(subs, op, f"{op}{name}") for op in ("onCreate", "onUpdate", "onDelete")
        }
        spec.created_at = _pick(stamps, "createdAt", "createdAt")
        spec.updated_at = _pick(stamps, "updatedAt", "updatedAt")

        key_fields: list[str] = []
        for f in node.fields or ():
            fname = f.name.value
            type_name, is_list, non_null = named_type(f.type)
            if _relation_directive(f) is not None:
                continue
            if type_name in self.model_nodes and not is_list:
                self.problem(f, f"{name}.{fname} refers to model {type_name}: add @hasOne or @belongsTo")
                continue
            if type_name in self.model_nodes:
                self.problem(f, f"{name}.{fname} is a list of model {type_name}: add @hasMany or @manyToMany")
                continue
            default_dir = directive(f, "default")
            default = None
            if default_dir is not None:
                raw = directive_args(default_dir).get("value")
                default = None if raw is None else str(raw)
            spec.fields[fname] = FieldSpec(fname, type_name, is_list, non_null, self._kind(type_name, is_list),
                                           default)
            pk = directive(f, "primaryKey")
            if pk is not None:
                if key_fields:
                    self.problem(f, f"{name} has more than one @primaryKey")
                sort = tuple(directive_args(pk).get("sortKeyFields") or ())
                key_fields = [fname, *sort]
            for idx in (d for d in f.directives or () if d.name.value == "index"):
                args = directive_args(idx)
                index_name = args.get("name") or f"{lower_first(name)}By{upper_first(fname)}"
                spec.indexes.append(
                    IndexSpec(str(index_name), fname, tuple(args.get("sortKeyFields") or ()),
                              args.get("queryField"))
                )
        declared = {fname: (f.type_name, f.is_list) for fname, f in spec.fields.items()}
        spec.auth, added = read_auth(node, name, declared, self.problem)
        for f in node.fields or ():
            field_rules, field_added = read_auth(f, f"{name}.{f.name.value}", declared, self.problem)
            if field_rules is not None:
                spec.field_auth[f.name.value] = field_rules
                added.update(field_added)
        for fname in added:
            # Amplify adds an owner (or groups) field the model does not declare: ``owner: String``.
            spec.fields[fname] = FieldSpec(fname, "String", False, False, ColumnKind.STRING)
            spec.implicit_fields.append(fname)
        if "id" not in spec.fields and not key_fields:
            spec.fields = {"id": FieldSpec("id", "ID", False, True, ColumnKind.STRING), **spec.fields}
        for stamp in (spec.created_at, spec.updated_at):
            if stamp and stamp not in spec.fields:
                spec.fields[stamp] = FieldSpec(stamp, "AWSDateTime", False, True, ColumnKind.STRING)
        if key_fields:
            spec.primary_key = tuple(key_fields)
        for key in spec.primary_key:
            fs = spec.fields.get(key)
            if fs is None:
                self.problem(node, f"{name}: primary key field {key!r} is not a field of {name}")
            elif fs.kind in (ColumnKind.JSON,):
                self.problem(node, f"{name}: primary key field {key!r} must be a scalar or enum")
        for index in spec.indexes:
            for key in (index.partition, *index.sort):
                if key not in spec.fields:
                    self.problem(node, f"{name}: index {index.name!r} uses unknown field {key!r}")
        return spec

    def _add_implicit(self, model: ModelSpec, fname: str, like: ModelSpec, like_field: str) -> None:
        if fname in model.fields:
            return
        ref = like.fields.get(like_field)
        type_name = ref.type_name if ref else "ID"
        kind = ref.kind if ref else ColumnKind.STRING
        model.fields[fname] = FieldSpec(fname, type_name, False, False, kind)
        model.implicit_fields.append(fname)

    def _relations(self, models: dict[str, ModelSpec], spec: ModelSpec, node: ObjectTypeDefinitionNode) -> None:
        for f in node.fields or ():
            rel = _relation_directive(f)
            if rel is None or rel.name.value == "manyToMany":
                continue
            fname = f.name.value
            target_name, is_list, _ = named_type(f.type)
            target = models.get(target_name)
            if target is None:
                self.problem(f, f"{spec.name}.{fname}: @{rel.name.value} needs a @model type, {target_name} is not")
                continue
            args = directive_args(rel)
            references = tuple(args.get("references") or ())
            fields = tuple(args.get("fields") or ())
            kind = RelationKind(rel.name.value)
            if kind is RelationKind.HAS_MANY:
                if not is_list:
                    self.problem(f, f"{spec.name}.{fname}: @hasMany needs a list type")
                    continue
                if references:
                    source, dest = spec.primary_key, references
                elif args.get("indexName"):
                    index = next((i for i in target.indexes if i.name == args["indexName"]), None)
                    if index is None:
                        self.problem(f, f"{spec.name}.{fname}: {target_name} has no index {args['indexName']!r}")
                        continue
                    source = fields or spec.primary_key
                    dest = (index.partition, *index.sort)[: len(source)]
                else:
                    implicit = f"{lower_first(spec.name)}{upper_first(fname)}{upper_first(spec.primary_key[0])}"
                    self._add_implicit(target, implicit, spec, spec.primary_key[0])
                    source, dest = spec.primary_key[:1], (implicit,)
                spec.relations[fname] = RelationSpec(fname, kind, target_name, tuple(source), tuple(dest), True)
            elif kind is RelationKind.BELONGS_TO or (kind is RelationKind.HAS_ONE and not references):
                if is_list:
                    self.problem(f, f"{spec.name}.{fname}: @{kind.value} needs a single (non-list) type")
                    continue
                local = fields or references
                if not local:
                    back = self._back_reference(models, target, spec.name) if kind is RelationKind.BELONGS_TO else None
                    if back is not None:
                        local = back
                    else:
                        implicit = f"{lower_first(spec.name)}{upper_first(fname)}{upper_first(target.primary_key[0])}"
                        self._add_implicit(spec, implicit, target, target.primary_key[0])
                        local = (implicit,)
                for name in local:
                    if name not in spec.fields:
                        self.problem(f, f"{spec.name}.{fname}: field {name!r} is not a field of {spec.name}")
                spec.relations[fname] = RelationSpec(
                    fname, kind, target_name, tuple(local), target.primary_key[: len(local)], False
                )
            else:  # hasOne with references: the foreign key lives on the related model
                spec.relations[fname] = RelationSpec(fname, kind, target_name, spec.primary_key, references, False)

    def _back_reference(self, models: dict[str, ModelSpec], parent: ModelSpec, child: str) -> tuple[str, ...] | None:
        """A @belongsTo without fields reuses the implicit key of its parent's @hasMany."""
        node = self.model_nodes[parent.name]
        for f in node.fields or ():
            rel = _relation_directive(f)
            if rel is None or rel.name.value != "hasMany" or named_type(f.type)[0] != child:
                continue
            args = directive_args(rel)
            if args.get("references") or args.get("indexName"):
                continue
            implicit = f"{lower_first(parent.name)}{upper_first(f.name.value)}{upper_first(parent.primary_key[0])}"
            self._add_implicit(models[child], implicit, parent, parent.primary_key[0])
            return (implicit,)
        return None


def _relation_directive(f: FieldDefinitionNode) -> DirectiveNode | None:
    for d in f.directives or ():
        if d.name.value in ("hasMany", "hasOne", "belongsTo", "manyToMany"):
            return d
    return None


def _pick(table: Any, key: str, default: str) -> str | None:
    # ``queries: null`` turns all off; ``queries: {get: null}`` turns one off.
    if table is None:
        return None
    if key in table:
        value = table[key]
        return None if value is None else str(value)
    return default


def _pick_sub(table: Any, key: str, default: str) -> str | None:
    if table is None:
        return None
    if key in table:
        value = table[key]
        if not value:
            return None
        return str(value[0]) if isinstance(value, list) else str(value)
    return default


def many_to_many_pairs(document: DocumentNode, file: str) -> tuple[dict[str, list[ManyToMany]], list[Problem]]:
    """Group ``@manyToMany`` fields by relation name; each name must join exactly two models."""
    pairs: dict[str, list[ManyToMany]] = {}
    problems: list[Problem] = []
    for d in document.definitions:
        if not isinstance(d, ObjectTypeDefinitionNode):
            continue
        for f in d.fields or ():
            rel = directive(f, "manyToMany")
            if rel is None:
                continue
            relation = directive_args(rel).get("relationName")
            if not relation:
                problems.append(Problem("@manyToMany needs relationName", file=file, line=_line(f)))
                continue
            pairs.setdefault(str(relation), []).append(ManyToMany(str(relation), d.name.value, f.name.value))
    for relation, members in pairs.items():
        if len(members) != 2:
            problems.append(
                Problem(f"@manyToMany(relationName: {relation!r}) must appear on exactly two fields, "
                        f"found {len(members)}", file=file)
            )
    return pairs, problems


def read_models(document: DocumentNode, file: str) -> tuple[dict[str, ModelSpec], list[Problem]]:
    reader = _Reader(document, file)
    models = reader.read()
    return models, reader.problems


