"""Attach the SQS-compatible API to a built ``Runtime``: ``attach_sqs(runtime)``, called from
``app.runtime.build`` (before ``create_app``, which reads ``runtime.json_services``).

The queues live in the runtime's database (tables created on first use). Queue ARNs and URLs use
``[auth.iam]``'s region and account when configured, else the workflow engine's defaults. Callers are
checked like the user pool's admin calls: the AWS_IAM authorizer's credentials (looked up per
request), else the ``TRELLIS_ADMIN_*`` key alone; with neither, every call is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from app.sqs import SqsGate, SqsQueryService, SqsService
from auth.service_credentials import service_credentials
from workflows.clock import Clock
from workflows.engine.engine import EngineOptions
from workflows.queues import QueueStore

if TYPE_CHECKING:
    from app.runtime import Runtime


def sqs_identity(runtime: Runtime) -> tuple[str, str]:
    """(region, account id) for queue ARNs: ``[auth.iam]``, else the engine's defaults."""
    defaults = EngineOptions()
    iam = runtime.settings.auth.get("iam")
    if isinstance(iam, Mapping):
        return str(iam.get("region", defaults.region)), str(iam.get("account_id", defaults.account_id))
    return defaults.region, defaults.account_id


def attach_sqs(runtime: Runtime, clock: Clock | None = None) -> QueueStore:
    """Serve SQS on the runtime's AWS endpoint (``AmazonSQS.*`` JSON calls and ``Version=2012-11-05``
    query calls); return the queue store (the one the ``sqs:sendMessage`` task runner should get)."""
    region, account = sqs_identity(runtime)
    store = QueueStore(runtime.database, account_id=account, region=region)
    if clock is not None:
        store.clock = clock
    lookup = service_credentials(runtime.authenticator, runtime.settings.admin_access_key, account)
    service = SqsService(store, SqsGate(lookup, region))
    runtime.json_services.append(service)            # current SDKs (awsJson1_0)
    runtime.query_services.append(SqsQueryService(service))  # older SDKs (query protocol, XML)
    return store
