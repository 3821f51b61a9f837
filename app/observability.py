"""One structured log line per request and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

access_log = logging.getLogger("trellis.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "trellis_graphql_requests", "GraphQL requests served", ["operation_type", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "trellis_graphql_errors", "GraphQL errors returned, by AppSync errorType", ["error_type"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "trellis_graphql_request_seconds", "Time to answer a GraphQL request", ["operation_type"],
            registry=self.registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe(self, operation_type: str, status: int, seconds: float, error_types: Sequence[str]) -> None:
        # Label lookups cost more than the increments; keep the children per label set.
        key = (operation_type, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(operation_type, str(status)), self.duration.labels(operation_type)
            )
        children[0].inc()
        children[1].observe(seconds)
        for error_type in error_types:
            self.errors.labels(error_type).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def log_request(
    *, operation_name: str | None, operation_type: str, status: int, seconds: float, error_types: Sequence[str]
) -> None:
    """One JSON line per request. Built by hand: it runs on every request, and ``json.dumps`` of
    a dict plus a timestamp formatter cost more than the GraphQL work of a small query."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    name = "null" if operation_name is None else json.dumps(operation_name)
    errors = json.dumps(list(error_types)) if error_types else "[]"
    access_log.info(
        f'{{"event":"graphql_request","time":{time.time():.3f},"operationName":{name},'
        f'"operationType":"{operation_type}","status":{status},"durationMs":{seconds * 1000:.3f},'
        f'"errorTypes":{errors}}}'
    )


def configure_access_log(level: str) -> None:
    """Access lines go to stderr as bare JSON (their own timestamp inside), not via the root
    logger's text format."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.handlers[:] = [handler]
    access_log.propagate = False
    access_log.setLevel(level.upper())
