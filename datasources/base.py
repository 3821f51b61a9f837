"""The data-source protocol and the registry of factories.

A data source receives one request object (what an AppSync resolver's request function returns)
and answers with a result. Kinds register a factory; config names a kind, never a class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from app.errors import Problem


@dataclass(frozen=True)
class Invocation:
    """What a resolver hands a data source.

    ``request`` is the value the resolver's request step built (for ``http`` a
    ``{method, resourcePath, params}`` mapping, for ``sql`` a statement with variables, for
    ``function`` the payload). ``event`` is AppSync's Lambda-style context event (arguments,
    identity, source, request, info, prev, stash), which ``function`` sources receive when the
    resolver has no request step of its own.
    """

    request: Any
    event: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class DataSource(Protocol):
    """Anything a resolver can send a request to."""

    name: str
    kind: str

    async def start(self) -> None: ...

    async def invoke(self, invocation: Invocation) -> Any: ...

    async def close(self) -> None: ...


DataSourceFactory = Callable[[str, Mapping[str, Any]], DataSource]
"""Builds a data source from its name and its config table; raises ``ConfigError`` if bad."""

_FACTORIES: dict[str, DataSourceFactory] = {}


def register_kind(kind: str, factory: DataSourceFactory) -> None:
    _FACTORIES[kind] = factory


def known_kinds() -> list[str]:
    _load_builtin_kinds()
    return sorted(_FACTORIES)


def build_data_source(name: str, config: Mapping[str, Any]) -> DataSource:
    """Build one configured data source; unknown kinds become a ``Problem`` via ``ConfigError``."""
    from app.errors import ConfigError

    _load_builtin_kinds()
    kind = config.get("kind")
    factory = _FACTORIES.get(str(kind))
    if factory is None:
        raise ConfigError(
            [Problem(f"data source {name!r}: unknown kind {kind!r} (known: {', '.join(known_kinds())})")]
        )
    return factory(name, config)


def _load_builtin_kinds() -> None:
    # Importing the modules registers their kinds; done lazily so that importing the protocol
    # stays cheap and free of optional dependencies.
    from datasources import function, http, none, sql  # noqa: F401
