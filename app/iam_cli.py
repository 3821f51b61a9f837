"""``trellis iam ...``: manage IAM users, groups, roles, policies, access keys and MFA devices.

Every command reads the directory file, changes it and writes it back atomically (under an exclusive
lock, so two commands never lose each other's change); a running server picks the change up within a
second. Secrets (access-key secrets, TOTP seeds) are printed once, at creation, and never again.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.settings import load_settings
from auth.iam.directory import (
    DEFAULT_MAX_SESSION,
    AccessKey,
    Directory,
    DirectoryError,
    DirectoryFile,
    Group,
    KeyStatus,
    ManagedPolicy,
    Role,
    User,
    check_document,
    check_name,
    new_id,
    new_secret,
)
from auth.iam.trust import parse_trust_policy
from auth.iam_setup import directory_path, iam_box
from auth.totp import new_secret as new_totp_secret
from auth.totp import otpauth_uri

Command = Callable[[argparse.Namespace, Directory, str], str | None]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_document(path: str, label: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise DirectoryError(f"{label}: cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryError(f"{path}: not JSON: {exc}") from None
    return check_document(document, label) if label != "trust policy" else document


def _tags(pairs: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise DirectoryError(f"--tag {pair!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


# ------------------------------------------------------------------------------------- commands


def _user_create(args: argparse.Namespace, d: Directory, account: str) -> str:
    name = check_name("user", args.name)
    if name in d.users:
        raise DirectoryError(f"user {name!r} already exists")
    path = args.path if args.path.endswith("/") else args.path + "/"
    d.users[name] = User(name, new_id("AIDA"), path=path, tags=_tags(args.tag))
    return f"arn:aws:iam::{account}:user{path}{name}\t{d.users[name].id}"


def _user_delete(args: argparse.Namespace, d: Directory, account: str) -> str:
    d.user(args.name)
    del d.users[args.name]
    for key_id in [k.id for k in d.access_keys.values() if k.user == args.name]:
        del d.access_keys[key_id]
    return f"deleted user {args.name} and its access keys"


def _user_list(args: argparse.Namespace, d: Directory, account: str) -> str:
    return "\n".join(f"{u.name}\t{u.id}\tgroups={','.join(u.groups) or '-'}\tmfa={'yes' if u.mfa_serial else 'no'}"
                     for u in sorted(d.users.values(), key=lambda u: u.name))


def _group_create(args: argparse.Namespace, d: Directory, account: str) -> str:
    name = check_name("group", args.name)
    if name in d.groups:
        raise DirectoryError(f"group {name!r} already exists")
    d.groups[name] = Group(name, new_id("AGPA"))
    return f"arn:aws:iam::{account}:group/{name}"


def _group_add_user(args: argparse.Namespace, d: Directory, account: str) -> str:
    d.group(args.group)
    user = d.user(args.user)
    if args.group not in user.groups:
        d.users[user.name] = replace(user, groups=(*user.groups, args.group))
    return f"{args.user} is in group {args.group}"


def _group_remove_user(args: argparse.Namespace, d: Directory, account: str) -> str:
    d.group(args.group)
    user = d.user(args.user)
    if args.group not in user.groups:
        raise DirectoryError(f"user {args.user!r} is not in group {args.group!r}")
    d.users[user.name] = replace(user, groups=tuple(g for g in user.groups if g != args.group))
    return f"{args.user} left group {args.group}"


def _role_create(args: argparse.Namespace, d: Directory, account: str) -> str:
    name = check_name("role", args.name)
    if name in d.roles:
        raise DirectoryError(f"role {name!r} already exists")
    trust = _read_document(args.trust_policy, "trust policy")
    try:
        parse_trust_policy(trust, name="trust policy")
    except ValueError as exc:
        raise DirectoryError(f"{args.trust_policy}: {exc}") from None
    if not 3600 <= args.max_session_seconds <= 43200:
        raise DirectoryError("--max-session-seconds must be between 3600 and 43200 (as on AWS)")
    d.roles[name] = Role(name, new_id("AROA"), trust, max_session_duration=args.max_session_seconds,
                         tags=_tags(args.tag))
    return f"arn:aws:iam::{account}:role/{name}"


def _role_delete(args: argparse.Namespace, d: Directory, account: str) -> str:
    d.role(args.name)
    del d.roles[args.name]
    return f"deleted role {args.name} (its sessions stop working)"


def _target(args: argparse.Namespace) -> tuple[str, str]:
    chosen = [(kind, getattr(args, kind)) for kind in ("user", "group", "role") if getattr(args, kind)]
    if len(chosen) != 1:
        raise DirectoryError("name exactly one of --user, --group or --role")
    return chosen[0]


def _update_owner(d: Directory, kind: str, name: str, change: Callable[[Any], Any]) -> None:
    tables: dict[str, dict[str, Any]] = {"user": d.users, "group": d.groups, "role": d.roles}
    table = tables[kind]
    owner = {"user": d.user, "group": d.group, "role": d.role}[kind](name)
    table[name] = change(owner)


def _policy_put(args: argparse.Namespace, d: Directory, account: str) -> str:
    kind, owner = _target(args)
    policy_name = check_name("policy", args.name)
    document = _read_document(args.document, policy_name)
    _update_owner(d, kind, owner, lambda o: replace(o, inline={**o.inline, policy_name: document}))
    return f"put inline policy {policy_name} on {kind} {owner}"


def _policy_delete(args: argparse.Namespace, d: Directory, account: str) -> str:
    kind, owner = _target(args)

    def drop(o: Any) -> Any:
        if args.name not in o.inline:
            raise DirectoryError(f"{kind} {owner!r} has no inline policy {args.name!r}")
        return replace(o, inline={k: v for k, v in o.inline.items() if k != args.name})

    _update_owner(d, kind, owner, drop)
    return f"deleted inline policy {args.name} from {kind} {owner}"


def _policy_create(args: argparse.Namespace, d: Directory, account: str) -> str:
    name = check_name("policy", args.name)
    if name in d.policies:
        raise DirectoryError(f"managed policy {name!r} already exists")
    d.policies[name] = ManagedPolicy(name, new_id("ANPA"), _read_document(args.document, name))
    return f"arn:aws:iam::{account}:policy/{name}"


def _policy_attach(args: argparse.Namespace, d: Directory, account: str) -> str:
    kind, owner = _target(args)
    d.policy(args.name)
    _update_owner(d, kind, owner,
                  lambda o: o if args.name in o.attached else replace(o, attached=(*o.attached, args.name)))
    return f"attached {args.name} to {kind} {owner}"


def _policy_detach(args: argparse.Namespace, d: Directory, account: str) -> str:
    kind, owner = _target(args)
    _update_owner(d, kind, owner, lambda o: replace(o, attached=tuple(p for p in o.attached if p != args.name)))
    return f"detached {args.name} from {kind} {owner}"


def _key_create(args: argparse.Namespace, d: Directory, account: str) -> str:
    d.user(args.user)
    if sum(1 for k in d.access_keys.values() if k.user == args.user) >= 2:
        raise DirectoryError(f"user {args.user!r} already has 2 access keys (AWS's limit); delete one first")
    key = AccessKey(new_id("AKIA"), new_secret(), args.user, "Active", int(time.time()))
    d.access_keys[key.id] = key
    print("the secret is shown only now; store it safely", file=sys.stderr)
    return f"{key.id}\t{key.secret}"


def _key_list(args: argparse.Namespace, d: Directory, account: str) -> str:
    keys = sorted(d.access_keys.values(), key=lambda k: (k.user, k.created))
    return "\n".join(f"{k.id}\t{k.user}\t{k.status}\t{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(k.created))}"
                     for k in keys if args.user is None or k.user == args.user)


def _key_set(status: KeyStatus) -> Command:
    def run(args: argparse.Namespace, d: Directory, account: str) -> str:
        key = d.access_keys.get(args.id)
        if key is None:
            raise DirectoryError(f"no access key {args.id!r}")
        d.access_keys[key.id] = replace(key, status=status)
        return f"{key.id} is {status}"
    return run


def _key_delete(args: argparse.Namespace, d: Directory, account: str) -> str:
    if d.access_keys.pop(args.id, None) is None:
        raise DirectoryError(f"no access key {args.id!r}")
    return f"deleted {args.id}"


def _mfa_enable(args: argparse.Namespace, d: Directory, account: str) -> str:
    user = d.user(args.user)
    if user.mfa_serial and not args.replace:
        raise DirectoryError(f"user {args.user!r} already has an MFA device (use --replace)")
    serial = f"arn:aws:iam::{account}:mfa/{user.name}"
    secret = new_totp_secret()
    d.users[user.name] = replace(user, mfa_serial=serial, mfa_secret=secret)
    print("the TOTP secret is shown only now; add it to an authenticator app", file=sys.stderr)
    return f"{serial}\n{secret}\n{otpauth_uri(secret, f'{user.name}@{account}')}"


def _mfa_disable(args: argparse.Namespace, d: Directory, account: str) -> str:
    user = d.user(args.user)
    d.users[user.name] = replace(user, mfa_serial=None, mfa_secret=None)
    return f"MFA removed from {user.name}"


# ----------------------------------------------------------------------------------------- wiring

_READ_ONLY = {_user_list, _key_list}


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.schema, args.config)
    iam = settings.auth.get("iam", {})
    account = str(iam.get("account_id", "000000000000")) if isinstance(iam, dict) else "000000000000"
    try:
        path = directory_path(iam, settings.data_dir, settings.config_path)
        file = DirectoryFile(path, iam_box(settings.data_dir, settings.token_secret))
        with _locked(path):
            directory = file.load()
            output = args.iam_run(args, directory, account)
            if args.iam_run not in _READ_ONLY:
                file.save(directory)
    except (DirectoryError, ValueError) as exc:
        print(f"trellis: {exc}", file=sys.stderr)
        return 1
    if output:
        print(output)
    return 0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis iam`` to the root parser's subcommands."""
    iam = commands.add_parser("iam", parents=[common], help="manage IAM users, groups, roles, policies, keys, MFA")
    iam.set_defaults(run=run)
    kinds = iam.add_subparsers(dest="iam_kind", required=True)

    def leaf(group: Any, name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, parents=[common], help=help_text)
        parser.set_defaults(iam_run=handler)
        return parser

    users = kinds.add_parser("user", help="IAM users").add_subparsers(dest="iam_command", required=True)
    p = leaf(users, "create", _user_create, "create a user")
    p.add_argument("name")
    p.add_argument("--path", default="/")
    p.add_argument("--tag", action="append", help="KEY=VALUE (aws:PrincipalTag/KEY)")
    leaf(users, "delete", _user_delete, "delete a user and its access keys").add_argument("name")
    leaf(users, "list", _user_list, "list users")

    groups = kinds.add_parser("group", help="IAM groups").add_subparsers(dest="iam_command", required=True)
    leaf(groups, "create", _group_create, "create a group").add_argument("name")
    for verb, handler in (("add-user", _group_add_user), ("remove-user", _group_remove_user)):
        p = leaf(groups, verb, handler, f"{verb.replace('-', ' ')} to/from a group")
        p.add_argument("group")
        p.add_argument("user")

    roles = kinds.add_parser("role", help="IAM roles").add_subparsers(dest="iam_command", required=True)
    p = leaf(roles, "create", _role_create, "create a role with a trust policy")
    p.add_argument("name")
    p.add_argument("--trust-policy", required=True, help="JSON file: who may assume the role")
    p.add_argument("--max-session-seconds", type=int, default=DEFAULT_MAX_SESSION)
    p.add_argument("--tag", action="append", help="KEY=VALUE")
    leaf(roles, "delete", _role_delete, "delete a role").add_argument("name")

    policies = kinds.add_parser("policy", help="inline and managed policies").add_subparsers(
        dest="iam_command", required=True)

    def owner(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--user")
        parser.add_argument("--group")
        parser.add_argument("--role")

    p = leaf(policies, "put", _policy_put, "put an inline policy on a user, group or role")
    owner(p)
    p.add_argument("--name", required=True)
    p.add_argument("--document", required=True, help="JSON policy document file")
    p = leaf(policies, "delete", _policy_delete, "delete an inline policy")
    owner(p)
    p.add_argument("--name", required=True)
    p = leaf(policies, "create", _policy_create, "create a managed policy")
    p.add_argument("name")
    p.add_argument("document", help="JSON policy document file")
    for verb, handler in (("attach", _policy_attach), ("detach", _policy_detach)):
        p = leaf(policies, verb, handler, f"{verb} a managed policy")
        p.add_argument("name")
        owner(p)

    keys = kinds.add_parser("access-key", help="access keys").add_subparsers(dest="iam_command", required=True)
    leaf(keys, "create", _key_create, "create a key; prints its id and secret once").add_argument("user")
    leaf(keys, "list", _key_list, "list keys (never their secrets)").add_argument("user", nargs="?")
    leaf(keys, "deactivate", _key_set("Inactive"), "deactivate a key").add_argument("id")
    leaf(keys, "activate", _key_set("Active"), "activate a key").add_argument("id")
    leaf(keys, "delete", _key_delete, "delete a key").add_argument("id")

    mfa = kinds.add_parser("mfa", help="virtual MFA devices (TOTP)").add_subparsers(dest="iam_command", required=True)
    p = leaf(mfa, "enable", _mfa_enable, "give a user a TOTP device; prints serial, secret and otpauth URI once")
    p.add_argument("user")
    p.add_argument("--replace", action="store_true")
    leaf(mfa, "disable", _mfa_disable, "remove a user's MFA device").add_argument("user")
