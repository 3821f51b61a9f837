"""The pool's public documents, under its issuer as Cognito serves them:
``/<poolId>/.well-known/jwks.json`` and ``/<poolId>/.well-known/openid-configuration``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth.userpool.pool import UserPool


def user_pool_routes(pool: UserPool | None) -> list[Route]:
    if pool is None:
        return []
    config = pool.config

    async def jwks(_request: Request) -> Response:
        assert pool.keys is not None
        return JSONResponse(pool.keys.jwks(), headers={"cache-control": "public, max-age=3600"})

    async def openid_configuration(_request: Request) -> Response:
        return JSONResponse({
            "issuer": config.issuer,
            "jwks_uri": config.issuer + "/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })

    return [
        Route(config.jwks_path, jwks),
        Route(f"/{config.pool_id}/.well-known/openid-configuration", openid_configuration),
    ]
