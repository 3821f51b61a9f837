"""``create_app(settings)``: the Starlette application Trellis serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from app.aws_endpoint import AwsEndpoint
from app.http import GraphQLEndpoint
from app.observability import Metrics
from app.realtime.appsync_ws import appsync_realtime
from app.realtime.transport_ws import graphql_transport_ws
from app.runtime import Runtime, build
from app.settings import Settings
from auth.userpool.http import user_pool_routes

log = logging.getLogger("trellis")


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """Build (and validate) everything now; connect and migrate when the app starts."""
    runtime = runtime or build(settings)
    metrics = Metrics()
    endpoint = GraphQLEndpoint(runtime, metrics)
    aws = AwsEndpoint(runtime.json_services, runtime.query_services)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        log.info("trellis ready: schema %s, database %s", settings.schema_path, runtime.database.dialect)
        try:
            yield
        finally:
            # Uvicorn has already drained in-flight requests; flush queued writes, then close.
            await runtime.close()

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_request: Request) -> Response:
        if not runtime.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            await runtime.database.read(lambda conn: conn.exec_driver_sql("SELECT 1").all())
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            return JSONResponse({"status": "database unavailable", "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics_endpoint(_request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app = Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
            WebSocketRoute("/graphql", graphql_transport_ws),  # graphql-transport-ws
            WebSocketRoute("/graphql/realtime", appsync_realtime),  # AppSync's real-time protocol
            Route("/", aws.handle, methods=["POST"]),
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics_endpoint),
            *user_pool_routes(runtime.user_pool),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
