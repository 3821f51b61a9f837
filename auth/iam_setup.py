"""Wire AWS_IAM to the IAM directory and serve STS: one call from ``app.runtime.build``.

When the API has AWS_IAM among its modes, its authorizer's credential lookup becomes a
``DirectoryCredentials`` (directory keys, the ``TRELLIS_ADMIN_*`` key, STS session tokens) and an
``StsService`` is returned for ``POST /``. The directory file is ``[auth.iam] directory`` (relative to
the config file) or ``<data_dir>/iam.json``; secrets are sealed under ``TRELLIS_SECRET`` or
``<data_dir>/iam.key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.errors import ConfigError, Problem
from auth.base import Authenticator
from auth.iam.directory import DirectoryError, DirectoryFile, DirectoryStore
from auth.iam_authorizer import IamAuthorizer, iam_authorizer
from auth.iam_credentials import DirectoryCredentials, SessionTokens
from auth.jwt_authorizer import JwtAuthorizer
from auth.secretbox import SecretBox, load_box
from auth.sts import StsService

DEFAULT_FILE = "iam.json"


def directory_path(iam_table: Mapping[str, Any], data_dir: Path, config_path: Path | None) -> Path:
    configured = iam_table.get("directory") if isinstance(iam_table, Mapping) else None
    if not configured:
        return data_dir / DEFAULT_FILE
    path = Path(str(configured))
    if not path.is_absolute() and config_path is not None:
        path = config_path.parent / path
    return path


def iam_box(data_dir: Path, secret: bytes | None) -> SecretBox:
    return load_box(data_dir, secret)


def attach_iam(authenticator: Authenticator, auth: Mapping[str, Any], *, data_dir: Path,
               config_path: Path | None, secret: bytes | None,
               admin_key: tuple[str, str] | None) -> StsService | None:
    """Point the AWS_IAM authorizer at the directory; the STS service to serve (None without AWS_IAM).

    A directory file that does not load (malformed, or sealed under another key) is a ``ConfigError``.
    """
    iam = iam_authorizer(authenticator)
    if iam is None:
        return None
    box = iam_box(data_dir, secret)
    table = auth.get("iam", {})
    store = DirectoryStore(DirectoryFile(directory_path(table, data_dir, config_path), box))
    try:
        store.load_now()
    except DirectoryError as exc:
        raise ConfigError([Problem(f"auth.iam: {exc}", file=str(config_path) if config_path else None)]) from None
    credentials = DirectoryCredentials(store, SessionTokens(box), iam.account, admin_key)
    iam.lookup = credentials
    iam.denials = box
    verifiers = [(a.issuer, a.verifier) for a in authenticator.authorizers if isinstance(a, JwtAuthorizer)]
    return StsService(credentials, box, iam.region, verifiers)


def directory_credentials(authenticator: Authenticator) -> tuple[IamAuthorizer, DirectoryCredentials] | None:
    """The AWS_IAM mode and the IAM directory behind it, once ``attach_iam`` has joined them."""
    iam = iam_authorizer(authenticator)
    if iam is None or not isinstance(iam.lookup, DirectoryCredentials):
        return None
    return iam, iam.lookup
