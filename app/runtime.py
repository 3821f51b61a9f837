"""Everything a running Trellis needs, built from ``Settings`` in one place.

``build`` is shared by ``trellis serve`` and ``trellis check``: it loads the schema, builds the
data sources and resolvers and reports *every* problem at once (``ConfigError``). ``start``
then opens connections and migrates the @model tables.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from app.aws_endpoint import AwsJsonService, AwsQueryService
from app.config_lines import with_lines
from app.errors import ConfigError, Problem
from app.execution import Executor
from app.pubsub import MemoryPubSub, PubSub, open_pubsub
from app.realtime.events import ChangePublisher
from app.realtime.subscriptions import SubscriptionEngine
from app.schema_loader import LoadedSchema, bind_resolvers, load_schema
from app.settings import Settings
from app.workflow_graphql import WorkflowGraphQL, declare_execution_roles, workflow_graphql_config
from app.workflows_setup import WorkflowHost, attach_workflows, workflows_config
from auth.api_keys import ApiKeyStore
from auth.base import Authenticator
from auth.config import build_authenticator
from auth.field_rules import FieldRules, GuardCache
from auth.iam_setup import attach_iam
from auth.userpool.pool import UserPool
from auth.userpool.setup import user_pool_from_settings, user_pool_service
from datasources.base import DataSource, build_data_source
from datasources.sql import SqlDatabase, SqlDataSource, open_database
from resolvers.model.store import ModelStore
from resolvers.model.tokens import TokenCodec
from resolvers.registry import build_configured
from resolvers.runtime import ResolverRuntime
from workflows.engine.engine import WorkflowEngine

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
    # AWS-compatible wire APIs served at ``POST /`` (STS, the built-in user pool, ...).
    json_services: list[AwsJsonService] = field(default_factory=list)
    query_services: list[AwsQueryService] = field(default_factory=list)
    user_pool: UserPool | None = None  # [auth.user_pool]
    pubsub: PubSub = field(default_factory=MemoryPubSub)
    subscriptions: SubscriptionEngine | None = None
    workflow_graphql: WorkflowGraphQL | None = None  # [workflows]: its GraphQL fields and events
    workflows: WorkflowEngine | None = None  # [workflows]: the engine (app.workflows_setup)
    workflow_host: WorkflowHost | None = None  # starts and closes the engine and what it holds
    ready: bool = False

    async def start(self) -> None:
        for source in self.datasources.values():
            if source.name != DEFAULT_DATASOURCE:
                await source.start()
        if self.resolvers.store is not None:
            await self.resolvers.store.migrate()
        await self.api_keys.migrate()
        await self.pubsub.start()
        if self.user_pool is not None:
            await self.user_pool.start()
        if self.settings.env_api_key:
            self.api_keys.register(self.settings.env_api_key)
        if self.workflow_host is not None:
            await self.workflow_host.start()
        if self.workflow_graphql is not None:  # after the engine: it installs state machines on it
            await self.workflow_graphql.start(self.pubsub)
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        if self.workflow_graphql is not None:
            await self.workflow_graphql.close()
        if self.workflow_host is not None:  # before the data sources its tasks call
            await self.workflow_host.close()
        if self.subscriptions is not None:
            await self.subscriptions.close()
        await self.pubsub.close()
        for authorizer in self.authenticator.authorizers:
            close = getattr(authorizer, "close", None)
            if close is not None:
                await close()
        if self.user_pool is not None:
            await self.user_pool.close()
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
    workflow_config, workflow_problems = workflow_graphql_config(settings, where)
    problems.extend(workflow_problems)
    engine_config, engine_problems = workflows_config(settings, where)
    problems.extend(engine_problems)
    try:
        loaded = load_schema(settings.schema_path, workflow_config.extend if workflow_config else None)
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
    user_pool: UserPool | None = None
    try:
        user_pool = user_pool_from_settings(settings, database)
        authenticator = build_authenticator(settings.auth, api_keys, where, settings.admin_access_key,
                                            datasources=datasources, user_pool=user_pool)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems or authenticator is None:
        text = settings.config_path.read_text() if settings.config_path and settings.config_path.exists() else None
        raise ConfigError(with_lines(problems, where, text))

    store = None
    if loaded.model.models:
        store = ModelStore(database, loaded.model.models, TokenCodec(settings.pagination_secret()))
    runtime = Runtime(
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
    sts = attach_iam(authenticator, settings.auth, data_dir=settings.data_dir, config_path=settings.config_path,
                     secret=settings.token_secret, admin_key=settings.admin_access_key)
    if sts is not None:
        runtime.query_services.append(sts)  # STS whenever AWS_IAM is one of the API's modes
    if workflow_config is not None:
        declare_execution_roles(authenticator, workflow_config.machines, where)
    _attach_realtime(runtime)
    if engine_config is not None:
        attach_workflows(runtime, engine_config)
    if workflow_config is not None:
        runtime.workflow_graphql = WorkflowGraphQL(workflow_config, loaded.schema, datasources,
                                                   engine=lambda: getattr(runtime, "workflows", None))
    if user_pool is not None:
        runtime.user_pool = user_pool
        runtime.json_services.append(user_pool_service(user_pool, authenticator, settings))
    return runtime


def _attach_realtime(runtime: Runtime) -> None:
    """Mutations publish their changes; the subscription engine delivers them (over Redis when configured)."""
    runtime.pubsub = open_pubsub(runtime.settings.realtime.redis_url)
    runtime.resolvers.change_listeners.append(ChangePublisher(runtime.pubsub))
    operations = runtime.loaded.model.operations
    watched = {c.split(".", 1)[1]: op.model for c, op in operations.items() if c.startswith("Subscription.")}
    runtime.subscriptions = SubscriptionEngine(runtime.executor, runtime.resolvers, runtime.field_guards,
                                               runtime.loaded.model.models, watched, runtime.pubsub,
                                               resolvers_at_start=runtime.loaded.subscription_resolvers)
