"""What the authorization-mode bench's Trellis server imports: its one resolver and its authorizer."""

from __future__ import annotations

from typing import Any


def ping(ctx: Any) -> str:
    """``Query.ping``: names the mode the request authenticated with (checked before timing)."""
    identity = ctx.identity
    if identity is None:
        return "API_KEY"
    if "resolverContext" in identity:
        return "AWS_LAMBDA"
    if "userArn" in identity:
        return "AWS_IAM"
    if "defaultAuthStrategy" in identity:
        return "AMAZON_COGNITO_USER_POOLS"
    return "OPENID_CONNECT"


async def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """The AWS_LAMBDA authorizer: ``bench-warm`` is cached (the API's TTL); ``bench-cold`` asks
    not to be (``ttlOverride: 0``), so every request with it calls this function."""
    token = event["authorizationToken"]
    if token not in ("bench-warm", "bench-cold"):
        return {"isAuthorized": False}
    answer: dict[str, Any] = {"isAuthorized": True, "resolverContext": {"user": "bench"}}
    if token == "bench-cold":  # noqa: S105 - a bench token, not a secret
        answer["ttlOverride"] = 0
    return answer
