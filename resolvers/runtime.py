"""What resolvers reach at request time: the data sources and the @model store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import NotFoundError
from datasources.base import DataSource

if TYPE_CHECKING:
    from resolvers.model.store import ModelStore


@dataclass
class ResolverRuntime:
    datasources: Mapping[str, DataSource] = field(default_factory=dict)
    store: ModelStore | None = None
    change_listeners: list[Any] = field(default_factory=list)

    def datasource(self, name: str) -> DataSource:
        found = self.datasources.get(name)
        if found is None:
            raise NotFoundError(f"No data source named {name!r}")
        return found
