"""The ``[realtime]`` config table.

    [realtime]
    redis_url = "redis://127.0.0.1:6379/0"   # several instances share subscribers (or TRELLIS_REDIS_URL)
    connection_timeout_ms = 300000           # AppSync's connectionTimeoutMs: idle connections close after it
    keepalive_seconds = 60                   # how often "ka" is sent
    max_subscriptions_per_connection = 100   # AppSync's limit
    send_queue = 1000                        # messages buffered per connection before it counts as slow
    init_timeout_ms = 10000                  # graphql-transport-ws: connection_init must arrive by then
    allowed_origins = ["https://app.example.com"]  # browser origins allowed besides the server's own host
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from app.errors import Problem


@dataclass(frozen=True)
class RealtimeConfig:
    redis_url: str | None = None
    connection_timeout_ms: int = 300_000
    keepalive_seconds: float = 60.0
    max_subscriptions_per_connection: int = 100
    send_queue: int = 1000
    init_timeout_ms: int = 10_000
    allowed_origins: tuple[str, ...] = ()


def realtime_config(table: Mapping[str, Any], env_redis_url: str | None, problems: list[Problem],
                    where: str | None) -> RealtimeConfig:
    known = {f.name: f for f in fields(RealtimeConfig)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        spec = known.get(key)
        if spec is None:
            problems.append(Problem(f"realtime: unknown key {key!r}", file=where))
        elif key == "redis_url":
            if not isinstance(value, str) or not value.startswith(("redis://", "rediss://", "unix://")):
                problems.append(Problem("realtime.redis_url must be a redis:// or rediss:// URL", file=where))
            else:
                values[key] = value
        elif key == "allowed_origins":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(Problem("realtime.allowed_origins must be a list of origins", file=where))
            else:
                values[key] = tuple(v.rstrip("/").lower() for v in value)
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(Problem(f"realtime.{key} must be a positive number", file=where))
        else:
            values[key] = value
    if env_redis_url:
        values["redis_url"] = env_redis_url
    return RealtimeConfig(**values)
