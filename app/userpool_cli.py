"""``trellis user-pool``: manage the built-in user pool's users from the command line.

    trellis user-pool create-user alice --group staff --email alice@example.com [--password P]
    trellis user-pool add-to-group alice staff
    trellis user-pool list-users

Without ``--password`` the user gets a temporary password (printed once) and must choose a new
one at first sign-in (NEW_PASSWORD_REQUIRED), as with Cognito's AdminCreateUser. Groups named
here are created when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from app.settings import load_settings
from auth.userpool.pool import UserPool
from auth.userpool.setup import user_pool_from_settings
from auth.userpool.store import DuplicateError, GroupRecord, UserRecord
from datasources.sql import open_database


async def _group(pool: UserPool, name: str) -> str:
    if await pool.store.group(name) is None:
        now = pool.now()
        with contextlib.suppress(DuplicateError):  # created meanwhile
            await pool.store.create_group(GroupRecord(name, None, None, None, now, now))
    return name


async def _user(pool: UserPool, username: str) -> UserRecord:
    user = await pool.store.user(username)
    if user is None:
        raise LookupError(f"no user {username!r} in pool {pool.config.pool_id}")
    return user


async def _create_user(pool: UserPool, args: argparse.Namespace) -> int:
    password = args.password or pool.policy.generate()
    problem = pool.policy.problem(password)
    if problem is not None:
        print(f"trellis: {problem}", file=sys.stderr)
        return 1
    attributes = {"email": args.email, "email_verified": "true"} if args.email else {}
    status = "CONFIRMED" if args.password else "FORCE_CHANGE_PASSWORD"
    user = pool.new_user(args.username, attributes, status, await pool.hasher.hash(password))
    try:
        await pool.store.create_user(user)
    except DuplicateError:
        print(f"trellis: user {args.username!r} already exists", file=sys.stderr)
        return 1
    for group in args.group or []:
        await pool.store.add_member(await _group(pool, group), user.sub)
    print(f"created {user.username} (sub {user.sub}, {status})", file=sys.stderr)
    if not args.password:
        print(password)  # the temporary password, on stdout alone so scripts can capture it
    return 0


async def _add_to_group(pool: UserPool, args: argparse.Namespace) -> int:
    user = await _user(pool, args.username)
    await pool.store.add_member(await _group(pool, args.group), user.sub)
    print(f"added {user.username} to {args.group}")
    return 0


async def _list_users(pool: UserPool, _args: argparse.Namespace) -> int:
    offset = 0
    while page := await pool.store.list_users(offset, 100):
        for user in page:
            groups = ",".join(g.name for g in await pool.store.groups_of(user.sub))
            print(f"{user.username}\t{user.status}\t{groups or '-'}\t{user.sub}")
        offset += len(page)
    return 0


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.schema, args.config)
    database = open_database(settings.effective_database_url)
    try:
        pool = user_pool_from_settings(settings, database)
        if pool is None:
            print("trellis: no [auth.user_pool] table in the config", file=sys.stderr)
            return 2
        await pool.store.migrate()
        try:
            code: int = await args.pool_run(pool, args)
        except LookupError as exc:
            print(f"trellis: {exc.args[0]}", file=sys.stderr)
            return 1
        return code
    finally:
        await database.close()


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis user-pool`` to the root parser's subcommands."""
    pool = commands.add_parser("user-pool", parents=[common], help="manage the built-in user pool's users")
    pool.set_defaults(run=lambda a: asyncio.run(_run(a)))
    verbs = pool.add_subparsers(dest="pool_command", required=True)
    create = verbs.add_parser("create-user", parents=[common], help="create a user (prints a temporary password)")
    create.add_argument("username")
    create.add_argument("--group", action="append", help="a group to put the user in (repeatable)")
    create.add_argument("--password", help="a permanent password instead of a temporary one")
    create.add_argument("--email", help="the user's e-mail address (marked verified)")
    create.set_defaults(pool_run=_create_user)
    add = verbs.add_parser("add-to-group", parents=[common], help="put a user in a group")
    add.add_argument("username")
    add.add_argument("group")
    add.set_defaults(pool_run=_add_to_group)
    verbs.add_parser("list-users", parents=[common], help="list users: name, status, groups, sub").set_defaults(
        pool_run=_list_users)
