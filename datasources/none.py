"""The ``none`` data source: AppSync's NONE, which performs no I/O and echoes the request.

As in AppSync, a request of the form ``{"payload": ...}`` (what a NONE resolver usually returns,
often with a ``version``) yields just the payload; any other request comes back unchanged. It is
what local resolvers and subscription triggers are built on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import ConfigError, Problem
from datasources.base import Invocation, register_kind


class NoneDataSource:
    kind = "none"

    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self) -> None:
        return None

    async def invoke(self, invocation: Invocation) -> Any:
        request = invocation.request
        if isinstance(request, Mapping) and "payload" in request:
            return request["payload"]
        return request

    async def close(self) -> None:
        return None


def build(name: str, config: Mapping[str, Any]) -> NoneDataSource:
    """A NONE source takes no options; anything besides ``kind`` is most likely a typo."""
    unknown = sorted(str(key) for key in config if key != "kind")
    if unknown:
        raise ConfigError(
            [
                Problem(f"data source {name!r}: unknown option {key!r} (kind 'none' takes no options)")
                for key in unknown
            ]
        )
    return NoneDataSource(name)


register_kind("none", build)
