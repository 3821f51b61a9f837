"""Everything a running Trellis needs, built from ``Settings`` in one place.

``build`` is shared by ``trellis serve`` and ``trellis check``: it loads the schema, builds the
data sources and resolvers and reports *every* problem at once (``ConfigError``). ``start``
then opens connections and migrates the @model tables.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from app.config_lines import with_lines
from app.errors import ConfigError, Problem
from app.execution import Executor
from app.schema_loader import LoadedSchema, bind_resolvers, load_schema
from app.settings import Settings
from auth.api_keys import ApiKeyStore
from auth.base import Authenticator
from auth.config import build_authenticator
from auth.field_rules import FieldRules, GuardCache
from datasources.base import DataSource, build_data_source
from datasources.sql import SqlDatabase, SqlDataSource, open_database
from resolvers.model.store import ModelStore
from resolvers.model.tokens import TokenCodec
from resolvers.registry import build_configured
from resolvers.runtime import ResolverRuntime

DEFAULT_DATASOURCE = "default"


@dataclass
class Runtime:
    settings: Settings
    loaded: LoadedSchema
    executor: Executor
    database: SqlDatabase
    resolvers: ResolverRuntime
    api_keys: ApiKeyStore
    authenticator: Authenticator
    field_guards: GuardCache
    datasources: dict[str, DataSource] = field(default_factory=dict)
    ready: bool = False

    async def start(self) -> None:
        for source in self.datasources.values():
            if source.name != DEFAULT_DATASOURCE:
                await source.start()
        if self.resolvers.store is not None:
            await self.resolvers.store.migrate()
        await self.api_keys.migrate()
        if self.settings.env_api_key:
            self.api_keys.register(self.settings.env_api_key)
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        for authorizer in self.authenticator.authorizers:
            close = getattr(authorizer, "close", None)
            if close is not None:
                await close()
        for source in self.datasources.values():
            if source.name != DEFAULT_DATASOURCE:
                await source.close()
        await self.database.close()


def build(settings: Settings) -> Runtime:
    problems: list[Problem] = []
    where = str(settings.config_path) if settings.config_path else None
    for module in settings.resolver_modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append(Problem(f"resolver module {module!r} cannot be imported: {exc}", file=where))
    try:
        loaded = load_schema(settings.schema_path)
    except ConfigError as exc:
        raise ConfigError([*exc.problems, *problems]) from exc

    database = open_database(settings.effective_database_url)
    default_source = SqlDataSource(DEFAULT_DATASOURCE, database.url)
    default_source.database = database  # the default source shares the model store's engine
    datasources: dict[str, DataSource] = {DEFAULT_DATASOURCE: default_source}
    for name, config in settings.datasources.items():
        if name == DEFAULT_DATASOURCE:
            problems.append(Problem(f"data source name {name!r} is reserved for the model database", file=where))
            continue
        try:
            datasources[name] = build_data_source(name, config if isinstance(config, dict) else {})
        except ConfigError as exc:
            problems.extend(Problem(p.message, file=p.file or where) for p in exc.problems)

    built, resolver_problems = build_configured(settings.resolvers, settings.functions, set(datasources), where)
    problems.extend(resolver_problems)
    problems.extend(bind_resolvers(loaded, built, where))
    api_keys = ApiKeyStore(database)
    authenticator: Authenticator | None = None
    try:
        authenticator = build_authenticator(settings.auth, api_keys, where, settings.admin_access_key)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems or authenticator is None:
        text = settings.config_path.read_text() if settings.config_path and settings.config_path.exists() else None
        raise ConfigError(with_lines(problems, where, text))

    store = None
    if loaded.model.models:
        store = ModelStore(database, loaded.model.models, TokenCodec(settings.pagination_secret()))
    return Runtime(
        settings=settings,
        loaded=loaded,
        executor=Executor(loaded.schema, settings.limits),
        database=database,
        resolvers=ResolverRuntime(datasources=datasources, store=store),
        api_keys=api_keys,
        authenticator=authenticator,
        field_guards=GuardCache(FieldRules(loaded.schema, authenticator.default_mode)),
        datasources=datasources,
    )
