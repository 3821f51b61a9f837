"""Shared pieces of the built-in user pool tests: a served pool with a capturing code sender,
botocore clients, TOTP codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

from app.server import create_app
from app.settings import load_settings
from tests.live_server import serve_in_thread
from tests.server_process import free_port

BOTOCORE = botocore.session.get_session()  # one session: the service model is loaded once
REGION = "eu-west-1"
POOL_ID = "eu-west-1_TestPool1"
CLIENT_ID = "trellistestclient"
ADMIN = ("AKIATRELLISPOOLADMIN", "pool-admin-secret-pool-admin-secret-0000")
PASSWORD = "Corr3ct-Horse!"
SCHEMA = """
type Query @aws_api_key @aws_cognito_user_pools {
  me: Me
  staffOnly: String @aws_cognito_user_pools(cognito_groups: ["staff"])
}
type Me @aws_cognito_user_pools { sub: String, username: String, groups: [String] }
"""


def me(ctx):
    identity = ctx.identity
    return {"sub": identity["sub"], "username": identity["username"], "groups": identity["groups"]}


def staff_only(ctx):
    return "staff things"


def config(mfa: str = "OPTIONAL", pool_lines: str = "", with_iam: bool = False) -> str:
    modes = '"AMAZON_COGNITO_USER_POOLS", "AWS_IAM"' if with_iam else '"AMAZON_COGNITO_USER_POOLS"'
    iam = f'[auth.iam]\nregion = "{REGION}"\naccount_id = "123456789012"\n' if with_iam else ""
    return (
        f'[auth]\ndefault = "API_KEY"\nadditional = [{modes}]\n{iam}'
        f'[auth.user_pool]\npool_id = "{POOL_ID}"\nregion = "{REGION}"\nclient_id = "{CLIENT_ID}"\n'
        f'mfa = "{mfa}"\naccount_id = "123456789012"\nscrypt_n = 1024\n{pool_lines}'
        '[resolvers."Query.me"]\nhandler = "tests.userpool_support:me"\n'
        '[resolvers."Query.staffOnly"]\nhandler = "tests.userpool_support:staff_only"\n'
    )


@dataclass
class CapturingSender:
    messages: list[Any] = field(default_factory=list)

    async def send(self, message: Any) -> None:
        self.messages.append(message)

    def last(self, username: str, purpose: str) -> str:
        for message in reversed(self.messages):
            if message.username == username and message.purpose == purpose:
                return str(message.code)
        raise AssertionError(f"no {purpose} message for {username}: {self.messages}")


@dataclass
class Pool:
    base: str
    app: Any
    sender: CapturingSender

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    @property
    def issuer(self) -> str:
        return f"{self.base}/{POOL_ID}"

    def client(self, *, signed_with: tuple[str, str] | None = None, region: str = REGION) -> Any:
        """A botocore cognito-idp client; unsigned unless given a key (public calls need none)."""
        options: dict[str, Any] = {"retries": {"total_max_attempts": 1}}
        kwargs: dict[str, Any] = {}
        if signed_with is None:
            options["signature_version"] = UNSIGNED
        else:
            kwargs = {"aws_access_key_id": signed_with[0], "aws_secret_access_key": signed_with[1]}
        return BOTOCORE.create_client(
            "cognito-idp", endpoint_url=self.base, region_name=region, config=Config(**options), **kwargs)


@contextmanager
def served_pool(folder: Path, mfa: str = "OPTIONAL", port: int | None = None, database_url: str | None = None,
                pool_lines: str = "", with_iam: bool = False) -> Iterator[Pool]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.graphql").write_text(SCHEMA)
    (folder / "trellis.toml").write_text(config(mfa, pool_lines, with_iam))
    port = port or free_port()
    settings = load_settings(
        folder / "schema.graphql", environ={
            "TRELLIS_API_KEY": "da2-testkeytestkeytestkeytestk", "TRELLIS_SECRET": "test-secret",
            "TRELLIS_ADMIN_ACCESS_KEY_ID": ADMIN[0], "TRELLIS_ADMIN_SECRET_ACCESS_KEY": ADMIN[1],
        },
        database_url=database_url or f"sqlite+aiosqlite:///{folder / 'pool.db'}", data_dir=folder / ".trellis", port=port,
    )
    app = create_app(settings)
    sender = CapturingSender()
    app.state.runtime.user_pool.sender = sender
    with serve_in_thread(app, port) as base:
        yield Pool(base, app, sender)


def totp(secret: str, at: float | None = None, step_offset: int = 0) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), computed independently of the server's implementation."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 15
    return f"{(int.from_bytes(mac[offset:offset + 4], 'big') & 0x7FFFFFFF) % 1_000_000:06d}"


def sign_up_and_confirm(pool: Pool, client: Any, username: str, email: str | None = None) -> str:
    answer = client.sign_up(ClientId=CLIENT_ID, Username=username, Password=PASSWORD,
                            UserAttributes=[{"Name": "email", "Value": email or f"{username}@example.com"}])
    client.confirm_sign_up(ClientId=CLIENT_ID, Username=username,
                           ConfirmationCode=pool.sender.last(username, "SignUp"))
    return str(answer["UserSub"])


def password_auth(client: Any, username: str, password: str = PASSWORD) -> dict:
    return client.initiate_auth(ClientId=CLIENT_ID, AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": username, "PASSWORD": password})
