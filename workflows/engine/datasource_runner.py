"""``arn:aws:states:::trellis:dataSource`` — a Task that sends one request to a Trellis data source.

Trellis's own integration (AWS has none like it)::

    "Resource": "arn:aws:states:::trellis:dataSource",
    "Parameters": {"DataSource": "orders_db",
                   "Request": {"sql": "SELECT * FROM orders WHERE id = :id", "variables": {"id.$": "$.id"}}}

``Request`` is exactly what a resolver would hand that data source (for ``sql``: ``sql`` or
``statements`` with ``variables``; for ``http``: AppSync's ``{method, resourcePath, params}``), and
the task's result is what the data source answers — rows, for ``sql``. Values JSON has no type for
(timestamps, decimals, bytes from a database) become JSON the way GraphQL would show them.

Errors: an unknown name fails the task with ``Trellis.DataSourceNotFound``; anything the data
source raises fails it with ``Trellis.DataSourceError`` and the error's message as cause.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
import uuid
from collections.abc import Mapping
from typing import Any

from datasources.base import Invocation
from workflows.engine.records import JSON
from workflows.engine.runners import Lookup
from workflows.engine.tasks import TaskRegistry, TaskRequest, string_field
from workflows.errors import StatesError

NOT_FOUND_ERROR = "Trellis.DataSourceNotFound"
DATA_SOURCE_ERROR = "Trellis.DataSourceError"


class DataSourceRunner:
    patterns = frozenset({"", "waitForTaskToken"})  # the callback: the request can carry $$.Task.Token

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    async def run(self, request: TaskRequest) -> JSON:
        name = string_field(request.payload, "DataSource", request.state_name)
        assert isinstance(request.payload, Mapping)  # string_field has checked
        source = self._lookup(name)
        if source is None:
            raise StatesError(NOT_FOUND_ERROR, f"There is no data source named '{name}'.")
        try:
            result = await source.invoke(Invocation(request=request.payload.get("Request")))
        except Exception as exc:  # any failure of the data source is the task's failure, catchable
            # Trellis's own errors carry a client-facing ``message``; others show their type too.
            message = getattr(exc, "message", None)
            raise StatesError(DATA_SOURCE_ERROR, message if isinstance(message, str)
                              else f"{type(exc).__name__}: {exc}") from exc
        try:
            return json_value(result)
        except TypeError as exc:
            raise StatesError(DATA_SOURCE_ERROR, f"The data source '{name}' answered with {exc}") from exc


def register_datasource_runner(registry: TaskRegistry, lookup: Lookup) -> DataSourceRunner:
    runner = DataSourceRunner(lookup)
    registry.register("trellis", "dataSource", runner)
    return runner


def json_value(value: Any) -> JSON:
    """``value`` with every part JSON can carry as it is and the rest converted:

    datetimes, dates and times → ISO 8601 text; Decimal → int when whole, else float; bytes →
    base64 text; UUID → its text; tuples → arrays. Anything else raises ``TypeError``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"a number JSON cannot carry ({value})")
        return value
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise TypeError(f"a number JSON cannot carry ({value})")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"a value that is not JSON ({type(value).__name__})")
