"""IAM users, groups, roles, managed policies and access keys, kept in one JSON file.

``Directory`` is the in-memory model (frozen records in plain dicts, changed by the ``trellis iam`` CLI);
``DirectoryFile`` reads and writes it: written atomically (temp file, fsync, rename) with mode 0600,
access-key secrets and TOTP secrets sealed with the ``SecretBox`` (never plaintext on disk).
``DirectoryStore`` is what the server holds: it re-reads the file when its mtime or size changes,
stat-ing it at most once a second, so CLI changes apply without a restart.

Identifiers look like AWS's: users ``AIDA...``, groups ``AGPA...``, roles ``AROA...``, managed
policies ``ANPA...``, access keys ``AKIA...`` (16 characters of ``A-Z2-7`` after the prefix).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from auth.iam.policy import Policy, PolicyError, parse_policy
from auth.secretbox import SealError, SecretBox

FORMAT_VERSION = 1
DEFAULT_MAX_SESSION = 3600
NAME_RE = re.compile(r"[\w+=,.@-]{1,64}")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # noqa: S105 - an alphabet
_SEALED = "sealed:v1:"
_log = logging.getLogger("trellis.iam")

KeyStatus = Literal["Active", "Inactive"]


class DirectoryError(ValueError):
    """A name that does not exist or already exists, a bad policy document, an unreadable file."""


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def check_name(kind: str, name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise DirectoryError(f"{kind} name {name!r} must be 1-64 characters of letters, digits and +=,.@_-")
    return name


def check_document(document: Any, label: str) -> dict[str, Any]:
    """A policy document as JSON text or a mapping; parsed once to reject a malformed one."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise DirectoryError(f"{label}: not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DirectoryError(f"{label}: a policy document is a JSON object")
    try:
        parse_policy(document, name=label)
    except PolicyError as exc:
        raise DirectoryError(f"{label}: {exc}") from None
    return document


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    id: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class User:
    name: str
    id: str
    path: str = "/"
    groups: tuple[str, ...] = ()
    inline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attached: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    mfa_serial: str | None = None
    mfa_secret: str | None = field(default=None, repr=False)  # base32, plaintext only in memory


@dataclass(frozen=True)
class Group:
    name: str
    id: str
    inline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attached: tuple[str, ...] = ()


@dataclass(frozen=True)
class Role:
    name: str
    id: str
    trust_policy: Mapping[str, Any]
    path: str = "/"
    max_session_duration: int = DEFAULT_MAX_SESSION
    inline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attached: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessKey:
    id: str
    secret: str = field(repr=False)  # plaintext only in memory
    user: str = ""
    status: KeyStatus = "Active"
    created: int = 0


@dataclass
class Directory:
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    access_keys: dict[str, AccessKey] = field(default_factory=dict)

    def user(self, name: str) -> User:
        if name not in self.users:
            raise DirectoryError(f"no user named {name!r}")
        return self.users[name]

    def group(self, name: str) -> Group:
        if name not in self.groups:
            raise DirectoryError(f"no group named {name!r}")
        return self.groups[name]

    def role(self, name: str) -> Role:
        if name not in self.roles:
            raise DirectoryError(f"no role named {name!r}")
        return self.roles[name]

    def policy(self, name: str) -> ManagedPolicy:
        if name not in self.policies:
            raise DirectoryError(f"no managed policy named {name!r}")
        return self.policies[name]

    # ------------------------------------------------------------------------- effective policies

    def _documents(self, inline: Mapping[str, Mapping[str, Any]], attached: tuple[str, ...],
                   owner: str) -> list[tuple[str, Mapping[str, Any]]]:
        docs = [(f"{owner}/{name}", doc) for name, doc in sorted(inline.items())]
        docs += [(f"policy/{name}", self.policies[name].document) for name in attached if name in self.policies]
        return docs

    def user_documents(self, name: str) -> list[tuple[str, Mapping[str, Any]]]:
        """The user's inline and attached policies, then each of its groups'."""
        user = self.user(name)
        docs = self._documents(user.inline, user.attached, f"user/{name}")
        for group_name in user.groups:
            group = self.groups.get(group_name)
            if group is not None:
                docs += self._documents(group.inline, group.attached, f"group/{group_name}")
        return docs

    def role_documents(self, name: str) -> list[tuple[str, Mapping[str, Any]]]:
        role = self.role(name)
        return self._documents(role.inline, role.attached, f"role/{name}")


def compile_policies(documents: list[tuple[str, Mapping[str, Any]]]) -> tuple[Policy, ...]:
    return tuple(parse_policy(dict(doc), name=label) for label, doc in documents)


# ----------------------------------------------------------------------------------- file format


def _seal(box: SecretBox, value: str, aad: str) -> str:
    return box.seal(value.encode(), aad, _SEALED)


def _open(box: SecretBox, value: str, aad: str, where: str) -> str:
    try:
        return box.open(value, aad, _SEALED).decode()
    except SealError as exc:
        raise DirectoryError(f"{where}: {exc} (was TRELLIS_SECRET or iam.key changed?)") from None


def to_json(directory: Directory, box: SecretBox) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "users": {u.name: {
            "id": u.id, "path": u.path, "groups": list(u.groups), "inline": dict(u.inline),
            "attached": list(u.attached), "tags": dict(u.tags), "mfa_serial": u.mfa_serial,
            "mfa_secret": _seal(box, u.mfa_secret, f"mfa:{u.mfa_serial}") if u.mfa_secret else None,
        } for u in directory.users.values()},
        "groups": {g.name: {"id": g.id, "inline": dict(g.inline), "attached": list(g.attached)}
                   for g in directory.groups.values()},
        "roles": {r.name: {
            "id": r.id, "path": r.path, "trust_policy": dict(r.trust_policy),
            "max_session_duration": r.max_session_duration, "inline": dict(r.inline),
            "attached": list(r.attached), "tags": dict(r.tags),
        } for r in directory.roles.values()},
        "policies": {p.name: {"id": p.id, "document": dict(p.document)} for p in directory.policies.values()},
        "access_keys": {k.id: {
            "secret": _seal(box, k.secret, f"access-key:{k.id}"), "user": k.user, "status": k.status,
            "created": k.created,
        } for k in directory.access_keys.values()},
    }


def from_json(data: Any, box: SecretBox, where: str) -> Directory:
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise DirectoryError(f"{where}: not a Trellis IAM directory (version {FORMAT_VERSION})")
    try:
        users = {name: User(
            name=name, id=u["id"], path=u.get("path", "/"), groups=tuple(u.get("groups", ())),
            inline=u.get("inline", {}), attached=tuple(u.get("attached", ())), tags=u.get("tags", {}),
            mfa_serial=u.get("mfa_serial"),
            mfa_secret=_open(box, u["mfa_secret"], f"mfa:{u.get('mfa_serial')}", where)
            if u.get("mfa_secret") else None,
        ) for name, u in data.get("users", {}).items()}
        groups = {name: Group(name, g["id"], g.get("inline", {}), tuple(g.get("attached", ())))
                  for name, g in data.get("groups", {}).items()}
        roles = {name: Role(
            name=name, id=r["id"], trust_policy=r["trust_policy"], path=r.get("path", "/"),
            max_session_duration=int(r.get("max_session_duration", DEFAULT_MAX_SESSION)),
            inline=r.get("inline", {}), attached=tuple(r.get("attached", ())), tags=r.get("tags", {}),
        ) for name, r in data.get("roles", {}).items()}
        policies = {name: ManagedPolicy(name, p["id"], p["document"]) for name, p in data.get("policies", {}).items()}
        keys = {key_id: AccessKey(
            id=key_id, secret=_open(box, k["secret"], f"access-key:{key_id}", where), user=k["user"],
            status="Inactive" if k.get("status") == "Inactive" else "Active", created=int(k.get("created", 0)),
        ) for key_id, k in data.get("access_keys", {}).items()}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, DirectoryError):
            raise
        raise DirectoryError(f"{where}: malformed IAM directory ({exc.__class__.__name__}: {exc})") from None
    return Directory(users, groups, roles, policies, keys)


class DirectoryFile:
    def __init__(self, path: Path, box: SecretBox) -> None:
        self.path = path
        self.box = box

    def load(self) -> Directory:
        if not self.path.exists():
            return Directory()
        try:
            data = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DirectoryError(f"{self.path}: cannot read: {exc}") from None
        return from_json(data, self.box, str(self.path))

    def save(self, directory: Directory) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(to_json(directory, self.box), indent=2, sort_keys=True)
        fd, temp = tempfile.mkstemp(prefix=".iam-", suffix=".tmp", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class DirectoryStore:
    """The server's view: the current ``Directory``, re-read when the file changes."""

    def __init__(self, file: DirectoryFile, clock: Callable[[], float] = time.monotonic,
                 check_interval: float = 1.0) -> None:
        self.file = file
        self._clock = clock
        self.check_interval = check_interval
        self._checked_at: float | None = None
        self._stamp: tuple[int, int] | None = None
        self._directory = Directory()
        self.version = 0  # bumped on every reload (cache keys include it)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.file.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def load_now(self) -> Directory:
        """Read the file at once and raise ``DirectoryError`` if it does not load (start-up checks)."""
        self._stamp = self._stat()
        self._directory = self.file.load()
        self._checked_at = self._clock()
        self.version += 1
        return self._directory

    def current(self) -> Directory:
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self.check_interval:
            return self._directory
        self._checked_at = now
        stamp = self._stat()
        if stamp != self._stamp:
            # Writers rename a complete file into place; a file that does not load keeps the old view.
            try:
                self._directory = self.file.load() if stamp is not None else Directory()
            except DirectoryError as exc:
                _log.error("IAM directory not reloaded: %s", exc)
            self._stamp = stamp
            self.version += 1
        return self._directory
