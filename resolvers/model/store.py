"""The @model store: one SQL table per model, created and widened automatically.

Tables follow the model: a column per stored field, the primary key from ``@primaryKey``, an SQL
index per ``@index``. At start-up ``migrate`` creates what is missing and adds columns for new
fields (``ALTER TABLE ... ADD COLUMN``), so adding a field to the schema needs no migration.
Filters, key conditions, ordering and keyset pagination all run in the database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Float,
    Index,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeEngine

from app.errors import ConditionFailedError, InvalidTokenError, ValidationFailedError
from datasources.sql import PreparedSelect, SqlDatabase, rows_of
from resolvers.model.filters import compile_filter, compile_key_condition
from resolvers.model.match import matches
from resolvers.model.spec import ColumnKind, FieldSpec, ModelSpec
from resolvers.model.tokens import TokenCodec

Clock = Callable[[], datetime]
Item = dict[str, Any]
MAX_LIMIT = 1000
_MAX_PREPARED = 1024
DEFAULT_LIMIT = 100
CONDITION_FAILED = "The conditional request failed"


def _sql_type(spec: FieldSpec) -> TypeEngine[Any]:
    types: dict[ColumnKind, TypeEngine[Any]] = {
        ColumnKind.STRING: Text(),
        ColumnKind.ENUM: Text(),
        ColumnKind.INT: BigInteger(),
        ColumnKind.FLOAT: Float(),
        ColumnKind.BOOLEAN: Boolean(),
        ColumnKind.JSON: JSON(none_as_null=True),
    }
    return types[spec.kind]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """AWSDateTime as AppSync writes it: UTC, millisecond precision, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_token: str | None


@dataclass(frozen=True)
class PageRequest:
    """One page of one model: equality on leading key fields, an optional sort-key condition."""

    model: str
    order: tuple[str, ...]
    equal: Mapping[str, Any]
    sort_condition: tuple[tuple[str, ...], Mapping[str, Any]] | None = None
    """Sort-key fields and a condition on them (scalar operands, or mappings when composite)."""
    filter: Mapping[str, Any] | None = None
    descending: bool = False
    limit: int | None = None
    next_token: str | None = None
    scope: str = ""  # names the query in the token fingerprint


class ModelStore:
    def __init__(self, database: SqlDatabase, models: Mapping[str, ModelSpec], tokens: TokenCodec,
                 clock: Clock = utc_now) -> None:
        self.database = database
        self.models = models
        self.tokens = tokens
        self.clock = clock
        self.metadata = MetaData()
        self.tables: dict[str, Table] = {name: self._table(spec) for name, spec in models.items()}
        self._prepared_by_shape: dict[tuple[Any, ...], PreparedSelect] = {}
        # One INSERT per model, values as parameters: compiled once instead of per write.
        self._inserts = {name: insert(table) for name, table in self.tables.items()}

    def _table(self, spec: ModelSpec) -> Table:
        columns = [
            Column(f.name, _sql_type(f), primary_key=f.name in spec.primary_key,
                   nullable=f.name not in spec.primary_key)
            for f in spec.fields.values()
        ]
        table = Table(spec.name, self.metadata, *columns)
        for index in spec.indexes:
            Index(f"ix_{spec.name}_{index.name}", *(table.c[c] for c in (index.partition, *index.sort)))
        return table

    # -- schema ---------------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Create missing tables and indexes, add missing columns; returns what it changed."""
        return await self.database.run(self._migrate_sync)

    def _migrate_sync(self, sync_conn: Any) -> list[str]:
        from sqlalchemy.schema import CreateColumn

        changes: list[str] = []
        inspector = inspect(sync_conn)
        existing = set(inspector.get_table_names())
        for name, table in self.tables.items():
            if name not in existing:
                table.create(sync_conn)
                changes.append(f"created table {name}")
                continue
            have = {c["name"] for c in inspector.get_columns(name)}
            for column in table.columns:
                if column.name in have:
                    continue
                ddl = CreateColumn(column).compile(dialect=sync_conn.dialect)
                quoted = sync_conn.dialect.identifier_preparer.quote(name)
                sync_conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {ddl}")
                changes.append(f"added column {name}.{column.name}")
            have_indexes = {i["name"] for i in inspector.get_indexes(name)}
            for index in table.indexes:
                if index.name not in have_indexes:
                    index.create(sync_conn)
                    changes.append(f"created index {index.name}")
        return changes

    # -- reads ----------------------------------------------------------------------------------

    def _prepared(self, shape: tuple[Any, ...], build: Callable[[], Select[Any]]) -> PreparedSelect:
        prepared = self._prepared_by_shape.get(shape)
        if prepared is None:
            if len(self._prepared_by_shape) >= _MAX_PREPARED:
                self._prepared_by_shape.clear()
            prepared = self._prepared_by_shape[shape] = self.database.prepare(build())
        return prepared

    async def get(self, model: str, key: Mapping[str, Any]) -> Item | None:
        table = self.tables[model]
        names = self.models[model].primary_key
        prepared = self._prepared(
            ("get", model), lambda: select(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in names))
        )
        rows = await self.database.fetch(prepared, {f"k_{k}": key[k] for k in names}, in_loop=True)
        return rows[0] if rows else None

    async def load_by(self, model: str, fields: Sequence[str], values: Sequence[tuple[Any, ...]],
                      order: Sequence[str] = ()) -> dict[tuple[Any, ...], list[Item]]:
        """Every row whose ``fields`` equal one of ``values``, grouped by those values (one query)."""
        table = self.tables[model]
        wanted = list(dict.fromkeys(v for v in values if all(x is not None for x in v)))
        grouped: dict[tuple[Any, ...], list[Item]] = {v: [] for v in wanted}
        if not wanted:
            return grouped
        if len(fields) == 1:
            column, count = fields[0], len(wanted)

            def build() -> Select[Any]:
                stmt = select(table).where(table.c[column].in_([bindparam(f"v{i}") for i in range(count)]))
                return stmt.order_by(*(table.c[c] for c in order)) if order else stmt

            prepared = self._prepared(("load_by", model, column, count, tuple(order)), build)
            found = await self.database.fetch(prepared, {f"v{i}": v[0] for i, v in enumerate(wanted)}, in_loop=True)
        else:
            stmt = select(table).where(_in(table, fields, wanted))
            if order:
                stmt = stmt.order_by(*(table.c[c] for c in order))
            found = await self.database.read(lambda conn: rows_of(conn.execute(stmt)), in_loop=True)
        for item in found:
            grouped.setdefault(tuple(item[f] for f in fields), []).append(item)
        return grouped

    def _order_columns(self, request: PageRequest) -> list[str]:
        spec = self.models[request.model]
        return list(dict.fromkeys((*request.order, *spec.primary_key)))

    def _fingerprint(self, request: PageRequest) -> str:
        return self.tokens.fingerprint(request.scope, request.model, request.equal, request.sort_condition,
                                       request.filter, request.descending)

    def _page_statement(self, request: PageRequest, limit: int) -> Select[Any]:
        table = self.tables[request.model]
        spec = self.models[request.model]
        order = self._order_columns(request)
        conditions: list[ColumnElement[bool]] = [table.c[k] == v for k, v in request.equal.items()]
        if request.sort_condition is not None:
            sort_fields, condition = request.sort_condition
            conditions.append(compile_key_condition([table.c[c] for c in sort_fields], condition))
        conditions.append(compile_filter(table, spec, request.filter))
        if request.next_token:
            after = self.tokens.decode(request.next_token, self._fingerprint(request))
            if len(after) != len(order):
                raise InvalidTokenError("Invalid nextToken")
            row = tuple_(*(table.c[c] for c in order))
            conditions.append(row < tuple_(*after) if request.descending else row > tuple_(*after))
        columns = [table.c[c].desc() if request.descending else table.c[c].asc() for c in order]
        return select(table).where(and_(*conditions)).order_by(*columns).limit(limit + 1)

    async def page(self, request: PageRequest) -> Page:
        limit = _limit(request.limit)
        if not request.filter and request.sort_condition is None:
            return await self._unfiltered_page(request, limit)
        stmt = self._page_statement(request, limit)
        # Without a filter the page is an index range of limit+1 rows; a filter may scan.
        rows = await self.database.read(lambda conn: rows_of(conn.execute(stmt)), in_loop=not request.filter)
        return self._to_page(request, rows, limit)

    async def _unfiltered_page(self, request: PageRequest, limit: int) -> Page:
        """The common list: equality on key fields, key order, a limit — one prepared shape."""
        table = self.tables[request.model]
        order = self._order_columns(request)
        equal = tuple(request.equal)
        parameters: dict[str, Any] = {f"e_{k}": v for k, v in request.equal.items()}
        parameters["limit"] = limit + 1
        parameters["offset"] = 0
        after = None
        if request.next_token:
            after = self.tokens.decode(request.next_token, self._fingerprint(request))
            if len(after) != len(order):
                raise InvalidTokenError("Invalid nextToken")
            parameters.update({f"a{i}": v for i, v in enumerate(after)})

        def build() -> Select[Any]:
            conditions: list[ColumnElement[bool]] = [table.c[k] == bindparam(f"e_{k}") for k in equal]
            if after is not None:
                row = tuple_(*(table.c[c] for c in order))
                bound = tuple_(*(bindparam(f"a{i}") for i in range(len(order))))
                conditions.append(row < bound if request.descending else row > bound)
            columns = [table.c[c].desc() if request.descending else table.c[c].asc() for c in order]
            # An explicit bound OFFSET: SQLite's compiler otherwise adds an anonymous one.
            return select(table).where(*conditions).order_by(*columns).limit(bindparam("limit")).offset(
                bindparam("offset")
            )

        shape = ("page", request.model, tuple(order), equal, after is not None, request.descending)
        rows = await self.database.fetch(self._prepared(shape, build), parameters, in_loop=True)
        return self._to_page(request, rows, limit)

    def _to_page(self, request: PageRequest, rows: list[Item], limit: int) -> Page:
        if len(rows) <= limit:
            return Page(rows, None)
        rows = rows[:limit]
        order = self._order_columns(request)
        token = self.tokens.encode([rows[-1][c] for c in order], self._fingerprint(request))
        return Page(rows, token)

    async def page_grouped(self, request: PageRequest, group_fields: Sequence[str],
                           groups: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Page]:
        """The first page for each group in one statement (a window function per group)."""
        table = self.tables[request.model]
        spec = self.models[request.model]
        limit = _limit(request.limit)
        wanted = list(dict.fromkeys(g for g in groups if all(x is not None for x in g)))
        pages: dict[tuple[Any, ...], Page] = {g: Page([], None) for g in wanted}
        if not wanted:
            return pages
        order = self._order_columns(request)
        count = len(wanted)
        # One shape per group count when unfiltered (prepared once); filtered ones bind inline.
        prepared_shape = not request.filter and len(group_fields) == 1

        def build() -> Select[Any]:
            ordering = [table.c[c].desc() if request.descending else table.c[c].asc() for c in order]
            rank = func.row_number().over(partition_by=[table.c[f] for f in group_fields], order_by=ordering)
            where: ColumnElement[bool]
            if prepared_shape:
                where = table.c[group_fields[0]].in_([bindparam(f"g{i}") for i in range(count)])
            else:
                where = and_(_in(table, group_fields, wanted), compile_filter(table, spec, request.filter))
            where_clause: ColumnElement[bool] = where
            inner = select(table, rank.label("_trellis_rank")).where(where_clause).subquery()
            return (
                select(*(inner.c[c.name] for c in table.columns))
                .where(inner.c["_trellis_rank"] <= bindparam("limit"))
                .order_by(*(inner.c[f] for f in group_fields), inner.c["_trellis_rank"])
            )

        rows_by_group: dict[tuple[Any, ...], list[Item]] = {g: [] for g in wanted}
        if prepared_shape:
            shape = ("grouped", request.model, group_fields[0], count, tuple(order), request.descending)
            parameters = {f"g{i}": g[0] for i, g in enumerate(wanted)}
            parameters["limit"] = limit + 1
            found = await self.database.fetch(self._prepared(shape, build), parameters, in_loop=True)
        else:
            stmt = build()
            found = await self.database.read(
                lambda conn: rows_of(conn.execute(stmt, {"limit": limit + 1})), in_loop=False
            )
        for item in found:
            rows_by_group.setdefault(tuple(item[f] for f in group_fields), []).append(item)
        for group, rows in rows_by_group.items():
            scoped = replace(request, equal=dict(zip(group_fields, group, strict=True)))
            pages[group] = self._to_page(scoped, rows, limit)
        return pages

    # -- writes ---------------------------------------------------------------------------------

    def _coerce_default(self, spec: FieldSpec) -> Any:
        raw = spec.default
        if raw is None:
            return None
        try:
            if spec.kind is ColumnKind.INT:
                return int(raw)
            if spec.kind is ColumnKind.FLOAT:
                return float(raw)
            if spec.kind is ColumnKind.BOOLEAN:
                return raw.lower() == "true"
            if spec.kind is ColumnKind.JSON:
                return json.loads(raw)
        except ValueError as exc:
            raise ValidationFailedError(f"@default value {raw!r} does not fit field {spec.name}") from exc
        return raw

    def _check_input(self, spec: ModelSpec, values: Mapping[str, Any]) -> None:
        for name in values:
            if name not in spec.fields:
                raise ValidationFailedError(f"{spec.name} has no field {name!r}")

    async def create(self, model: str, data: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> Item:
        spec = self.models[model]
        self._check_input(spec, data)
        if condition and not matches({}, condition):
            raise ConditionFailedError(CONDITION_FAILED)
        now = iso(self.clock())
        item: Item = {}
        for f in spec.fields.values():
            value = data.get(f.name)
            if value is None and f.name not in data and f.default is not None:
                value = self._coerce_default(f)
            item[f.name] = value
        if "id" in spec.fields and spec.fields["id"].type_name == "ID" and item.get("id") is None:
            item["id"] = str(uuid.uuid4())
        for stamp in (spec.created_at, spec.updated_at):
            if stamp and item.get(stamp) is None:
                item[stamp] = now
        missing = [f.name for f in spec.fields.values() if f.non_null and item.get(f.name) is None]
        if missing:
            raise ValidationFailedError(f"Missing required field(s) {', '.join(missing)} for {model}")
        statement = self._inserts[model]

        def write(conn: Connection) -> Item:
            try:
                conn.execute(statement, item)
            except IntegrityError as exc:
                raise ConditionFailedError(CONDITION_FAILED) from exc
            return item

        result: Item = await self.database.write(write)
        return result

    async def update(self, model: str, data: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> Item:
        spec = self.models[model]
        self._check_input(spec, data)
        key = _key(spec, data)
        changes = {k: v for k, v in data.items() if k not in spec.primary_key}
        for name, value in changes.items():
            if value is None and spec.fields[name].non_null:
                raise ValidationFailedError(f"Cannot set non-null field {model}.{name} to null")
        if spec.updated_at and spec.updated_at not in changes:
            changes[spec.updated_at] = iso(self.clock())
        table = self.tables[model]
        where = and_(*(table.c[k] == v for k, v in key.items()), compile_filter(table, spec, condition))
        stmt = update(table).where(where).values(changes).returning(*table.columns) if changes else None

        def write(conn: Connection) -> Item:
            rows = rows_of(conn.execute(select(table).where(where) if stmt is None else stmt))
            if not rows:
                raise ConditionFailedError(CONDITION_FAILED)
            return rows[0]

        result: Item = await self.database.write(write)
        return result

    async def delete(self, model: str, data: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> Item:
        spec = self.models[model]
        key = _key(spec, data)
        table = self.tables[model]
        where = and_(*(table.c[k] == v for k, v in key.items()), compile_filter(table, spec, condition))
        stmt = delete(table).where(where).returning(*table.columns)

        def write(conn: Connection) -> Item:
            rows = rows_of(conn.execute(stmt))
            if not rows:
                raise ConditionFailedError(CONDITION_FAILED)
            return rows[0]

        result: Item = await self.database.write(write)
        return result

    async def count(self, model: str) -> int:
        """Rows in a model's table (used by tests and the readiness probe)."""
        table = self.tables[model]
        stmt = select(func.count()).select_from(table)
        return int(await self.database.read(lambda conn: conn.execute(stmt).scalar_one()))


def _key(spec: ModelSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in spec.primary_key if data.get(k) is None]
    if missing:
        raise ValidationFailedError(f"Missing key field(s) {', '.join(missing)} for {spec.name}")
    return {k: data[k] for k in spec.primary_key}


def _limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailedError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _in(table: Table, fields: Sequence[str], values: Sequence[tuple[Any, ...]]) -> ColumnElement[bool]:
    if len(fields) == 1:
        return table.c[fields[0]].in_([v[0] for v in values])
    return tuple_(*(table.c[f] for f in fields)).in_(values)


__all__ = ["ModelStore", "Page", "PageRequest", "iso", "utc_now"]
