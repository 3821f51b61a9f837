"""Settings: zero-config defaults, one optional TOML file, secrets from the environment.

The config file (``trellis.toml`` next to the schema, or ``--config PATH``) has these tables::

    [server]       host, port, log_level
    [database]     url  (SQLAlchemy async URL; default a SQLite file under data_dir)
    [limits]       max_depth, max_aliases, max_tokens, max_body_bytes, max_batch, introspection
    [datasources.NAME]   kind = "sql" | "http" | "function" | "none", plus the kind's options
    [resolvers."Type.field"]  datasource, request, response, handler, functions, before, after
    [functions.NAME]     datasource, request, response (pipeline functions)
    [auth]               default, additional, [auth.openid_connect], [auth.cognito_user_pools]
    [workflows]          the workflow engine and its Step Functions API (see app.workflows_setup)
    resolver_modules = ["resolvers.demo"]   modules whose @resolver decorators bind fields

Secrets never live in the file: ``TRELLIS_API_KEY`` registers an API key at start-up,
``TRELLIS_SECRET`` keys the pagination-token HMAC (otherwise a random one is kept in data_dir).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from app.errors import ConfigError, Problem
from app.limits import QueryLimits
from app.realtime.config import RealtimeConfig, realtime_config

DEFAULT_CONFIG_NAME = "trellis.toml"
_TOP_LEVEL_KEYS = {
    "server", "database", "limits", "datasources", "resolvers", "functions", "resolver_modules", "auth", "realtime",
    "workflows",
}


@dataclass(frozen=True)
class Settings:
    schema_path: Path
    config_path: Path | None = None
    data_dir: Path = Path(".trellis")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    limits: QueryLimits = field(default_factory=QueryLimits)
    datasources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resolvers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    functions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    auth: Mapping[str, Any] = field(default_factory=dict)
    resolver_modules: tuple[str, ...] = ()
    env_api_key: str | None = None
    admin_access_key: tuple[str, str] | None = field(default=None, repr=False)
    token_secret: bytes | None = None
    debug: bool = False
    realtime: RealtimeConfig = field(default_factory=RealtimeConfig)
    workflows: Mapping[str, Any] | None = None  # the [workflows] table; None: no workflow engine

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'trellis.db').resolve()}"

    def pagination_secret(self) -> bytes:
        """The HMAC key for nextTokens; kept in data_dir so tokens survive restarts."""
        if self.token_secret:
            return self.token_secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "token.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())


def load_settings(
    schema_path: str | Path = "schema.graphql",
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read the config file (if any) and environment; report every problem at once."""
    env = os.environ if environ is None else environ
    schema = Path(schema_path)
    problems: list[Problem] = []
    raw: dict[str, Any] = {}
    cfg: Path | None = Path(config_path) if config_path else schema.parent / DEFAULT_CONFIG_NAME
    if cfg is not None and cfg.exists():
        try:
            raw = tomllib.loads(cfg.read_text())
        except tomllib.TOMLDecodeError as exc:
            problems.append(Problem(f"invalid TOML: {exc}", file=str(cfg)))
    elif config_path:
        problems.append(Problem("config file not found", file=str(cfg)))
    else:
        cfg = None
    where = str(cfg) if cfg else None
    for key in raw:
        if key not in _TOP_LEVEL_KEYS:
            problems.append(Problem(f"unknown top-level key {key!r}", file=where))

    server = _table(raw, "server", problems, where)
    database = _table(raw, "database", problems, where)
    limits = _limits(_table(raw, "limits", problems, where), problems, where)
    modules = raw.get("resolver_modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        problems.append(Problem("resolver_modules must be a list of module names", file=where))
        modules = []
    values: dict[str, Any] = {
        "schema_path": schema,
        "config_path": cfg,
        "data_dir": Path(env.get("TRELLIS_DATA_DIR", str(schema.parent / ".trellis"))),
        "database_url": env.get("TRELLIS_DATABASE_URL") or database.get("url"),
        "host": str(server.get("host", "127.0.0.1")),
        "port": _int(server.get("port", 8000), "server.port", problems, where),
        "log_level": str(server.get("log_level", "info")),
        "limits": limits,
        "datasources": _table(raw, "datasources", problems, where),
        "resolvers": _table(raw, "resolvers", problems, where),
        "functions": _table(raw, "functions", problems, where),
        "auth": _table(raw, "auth", problems, where),
        "resolver_modules": tuple(modules),
        "env_api_key": env.get("TRELLIS_API_KEY") or None,
        "admin_access_key": (
            (env["TRELLIS_ADMIN_ACCESS_KEY_ID"], env["TRELLIS_ADMIN_SECRET_ACCESS_KEY"])
            if env.get("TRELLIS_ADMIN_ACCESS_KEY_ID") and env.get("TRELLIS_ADMIN_SECRET_ACCESS_KEY") else None
        ),
        "token_secret": env["TRELLIS_SECRET"].encode() if env.get("TRELLIS_SECRET") else None,
        "debug": env.get("TRELLIS_DEBUG", "") in {"1", "true"},
        "workflows": _table(raw, "workflows", problems, where) if "workflows" in raw else None,
        "realtime": realtime_config(_table(raw, "realtime", problems, where), env.get("TRELLIS_REDIS_URL") or None,
                                    problems, where),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


def _table(raw: Mapping[str, Any], key: str, problems: list[Problem], where: str | None) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        problems.append(Problem(f"[{key}] must be a table", file=where))
        return {}
    return value


def _int(value: Any, name: str, problems: list[Problem], where: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(f"{name} must be an integer, got {value!r}", file=where))
        return 0
    return value


def _limits(table: Mapping[str, Any], problems: list[Problem], where: str | None) -> QueryLimits:
    known = {f.name: f for f in fields(QueryLimits)}
    chosen: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            problems.append(Problem(f"unknown limit {key!r} (known: {', '.join(sorted(known))})", file=where))
        elif key == "introspection":
            if not isinstance(value, bool):
                problems.append(Problem("limits.introspection must be true or false", file=where))
            else:
                chosen[key] = value
        elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(Problem(f"limits.{key} must be a positive integer, got {value!r}", file=where))
        else:
            chosen[key] = value
    return QueryLimits(**chosen)
