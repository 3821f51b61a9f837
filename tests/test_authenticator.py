"""The authenticator tries the API's modes in order and fails closed."""

from __future__ import annotations

import pytest

from app.errors import UnauthorizedError
from auth.api_keys import ApiKeyAuthorizer, ApiKeyStore
from auth.base import Authenticator, AuthRequest
from auth.modes import AuthMode, Identity
from datasources.sql import open_database


class BearerAuthorizer:
    """A second mode for the chain: accepts exactly one fixed bearer token."""

    mode = AuthMode.OPENID_CONNECT

    def presents(self, request: AuthRequest) -> bool:
        return "authorization" in request.headers

    async def authenticate(self, request: AuthRequest) -> Identity:
        if request.headers["authorization"] != "good-token":
            raise UnauthorizedError("bad token")
        return Identity(AuthMode.OPENID_CONNECT, {"sub": "user-1"})


def request_with(headers: dict[str, str]) -> AuthRequest:
    async def no_body() -> bytes:
        raise AssertionError("no mode here needs the body")

    return AuthRequest("POST", "/graphql", "", headers, no_body)


@pytest.fixture
async def authenticator(tmp_path):
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}")
    store = ApiKeyStore(database)
    await store.migrate()
    store.register("da2-goodgoodgoodgoodgoodgoodgo")
    yield Authenticator([ApiKeyAuthorizer(store), BearerAuthorizer()])
    await database.close()


async def test_each_mode_authenticates_its_own_credential(authenticator):
    by_key = await authenticator.authenticate(request_with({"x-api-key": "da2-goodgoodgoodgoodgoodgoodgo"}))
    assert by_key.mode is AuthMode.API_KEY
    assert by_key.appsync is None
    by_token = await authenticator.authenticate(request_with({"authorization": "good-token"}))
    assert by_token.appsync == {"sub": "user-1"}


async def test_no_credential_of_any_configured_mode_is_refused(authenticator):
    with pytest.raises(UnauthorizedError):
        await authenticator.authenticate(request_with({}))


async def test_a_bad_credential_does_not_fall_through_to_another_mode(authenticator):
    with pytest.raises(UnauthorizedError):
        await authenticator.authenticate(request_with({"x-api-key": "da2-wrong", "authorization": "good-token"}))


def test_an_api_needs_at_least_one_mode():
    with pytest.raises(ValueError, match="at least one"):
        Authenticator([])
