"""``util``: the helpers AppSync resolvers use, for Python resolver functions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from app.errors import ResolverError


def error(message: str, error_type: str | None = None, data: Any = None,
          error_info: Mapping[str, Any] | None = None) -> NoReturn:
    """Stop this resolver with an error in AppSync's shape (``util.error`` in AppSync)."""
    raise ResolverError(message, error_type=error_type, data=data, error_info=error_info)


def auto_id() -> str:
    return str(uuid.uuid4())


def now_iso8601() -> str:
    from resolvers.model.store import iso  # one AWSDateTime format, shared with the @model store

    return iso(datetime.now(UTC))


def now_epoch_seconds() -> int:
    return int(datetime.now(UTC).timestamp())


def to_subscription_filter(flt: Mapping[str, Any], ignored_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """``util.transform.toSubscriptionFilter``: a model-style filter as an enhanced subscription filter."""
    from app.realtime.filters import to_subscription_filter as convert

    return convert(flt, ignored_fields)
