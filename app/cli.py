"""The ``trellis`` command: serve, check, manage API keys and IAM (``trellis iam``), run and read
workflows (``trellis workflows``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from app.errors import ConfigError
from app.settings import Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.schema, args.config, host=getattr(args, "host", None), port=getattr(args, "port", None))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.observability import configure_access_log
    from app.server import create_app
    from app.serving import uvicorn_options

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    configure_access_log(settings.log_level)
    if not settings.env_api_key:
        logging.getLogger("trellis").warning(
            "no TRELLIS_API_KEY set: requests need a key made with 'trellis api-key create'"
        )
    app = create_app(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
        timeout_graceful_shutdown=30, **uvicorn_options(),
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.runtime import build

    settings = _settings(args)
    runtime = build(settings)
    models = runtime.loaded.model.models
    print(f"{settings.schema_path}: OK ({len(models)} models, {len(runtime.datasources)} data sources)")
    return 0


async def _with_keys(args: argparse.Namespace) -> int:
    from auth.api_keys import ApiKeyStore
    from datasources.sql import open_database

    settings = _settings(args)
    database = open_database(settings.effective_database_url)
    store = ApiKeyStore(database)
    try:
        await store.migrate()
        if args.key_command == "create":
            seconds = int(args.expires_days * 86400) if args.expires_days else None
            key, record = await store.create(args.description, seconds)
            print(key)
            print(f"id {record.id}" + (f", expires {_when(record.expires_at)}" if record.expires_at else ""),
                  file=sys.stderr)
        elif args.key_command == "list":
            for r in await store.list():
                state = "revoked" if r.revoked else "active"
                expiry = _when(r.expires_at) if r.expires_at else "never"
                print(f"{r.id}\t{state}\texpires {expiry}\t{r.description or ''}")
        elif args.key_command == "revoke":
            if not await store.revoke(args.id):
                print(f"trellis: no API key with id {args.id}", file=sys.stderr)
                return 1
            print(f"revoked {args.id}")
    finally:
        await database.close()
    return 0


def _when(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch or 0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="trellis", description="Serve a schema-first GraphQL API, AppSync style.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--schema", default="schema.graphql", help="the GraphQL schema (default: schema.graphql)")
    common.add_argument("--config", default=None, help="config file (default: trellis.toml beside the schema)")
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", parents=[common], help="serve the API over HTTP")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8000)")
    serve.set_defaults(run=_serve)
    check = commands.add_parser("check", parents=[common], help="validate schema and config, report every problem")
    check.set_defaults(run=_check)
    keys = commands.add_parser("api-key", parents=[common], help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser("create", parents=[common], help="create a key and print it once")
    create.add_argument("--description", default=None)
    create.add_argument("--expires-days", type=float, default=None, help="days until the key expires")
    key_commands.add_parser("list", parents=[common], help="list keys (never their secret)")
    revoke = key_commands.add_parser("revoke", parents=[common], help="revoke a key by id")
    revoke.add_argument("id")
    keys.set_defaults(run=lambda a: asyncio.run(_with_keys(a)))
    from app.iam_cli import register as register_iam

    register_iam(commands, common)
    from app.userpool_cli import register as register_user_pool

    register_user_pool(commands, common)
    from app.workflows_cli import register as register_workflows

    register_workflows(commands, common)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"trellis: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
