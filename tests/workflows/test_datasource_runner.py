"""The data-source Task runner (``arn:aws:states:::trellis:dataSource``) over real SQL databases.

``database_url`` (tests/conftest.py) runs each SQL test on SQLite and on PostgreSQL at
127.0.0.1:5432 — skipped without it, failed under ``CI=true``.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from datasources.base import DataSource, Invocation
from datasources.sql import SqlDataSource
from workflows.engine.datasource_runner import DataSourceRunner, json_value, register_datasource_runner
from workflows.engine.tasks import TaskRegistry, TaskRequest, parse_resource
from workflows.errors import StatesError
from workflows.language.interpreter import ExecutionInfo

DATA_SOURCE = "arn:aws:states:::trellis:dataSource"
EXECUTION = ExecutionInfo(
    execution_arn="arn:aws:states:us-east-1:123456789012:execution:orders:run-1",
    name="run-1",
    input={},
    start_time=0.0,
    role_arn="arn:aws:iam::123456789012:role/sfn",
    state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:orders",
    state_machine_name="orders",
)


def task(payload: Any, state: str = "Query") -> TaskRequest:
    resource = parse_resource(DATA_SOURCE)
    assert resource is not None
    return TaskRequest(resource=resource, payload=payload, execution=EXECUTION, state_name=state, task_token=None)


async def failure(runner: DataSourceRunner, payload: Any) -> StatesError:
    with pytest.raises(StatesError) as caught:
        await runner.run(task(payload))
    return caught.value


class Recording:
    """A data source that answers with what it is told to, recording each request."""

    kind = "test"

    def __init__(self, name: str, answer: Any = None, error: Exception | None = None) -> None:
        self.name = name
        self.answer = answer
        self.error = error
        self.requests: list[Any] = []

    async def start(self) -> None:
        return None

    async def invoke(self, invocation: Invocation) -> Any:
        self.requests.append(invocation.request)
        if self.error is not None:
            raise self.error
        return self.answer

    async def close(self) -> None:
        return None


def runner_over(*sources: DataSource) -> DataSourceRunner:
    by_name = {source.name: source for source in sources}
    return DataSourceRunner(by_name.get)


@pytest.fixture
async def orders_db(database_url: str) -> AsyncIterator[SqlDataSource]:
    source = SqlDataSource("orders_db", database_url)
    await source.start()
    await source.invoke(Invocation(request={"statements": [
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total NUMERIC(10, 2))",
        "INSERT INTO orders (id, customer, total) VALUES (1, 'ana', 12.50), (2, 'bo', 3), (3, 'ana', 7.25)",
    ]}))
    try:
        yield source
    finally:
        await source.close()


# --- SQL -------------------------------------------------------------------------------------------


async def test_a_select_with_variables_answers_with_its_rows_as_json(orders_db: SqlDataSource) -> None:
    runner = runner_over(orders_db)
    rows = await runner.run(task({"DataSource": "orders_db", "Request": {
        "sql": "SELECT id, customer, total FROM orders WHERE customer = :who ORDER BY id",
        "variables": {"who": "ana"}}}))
    assert rows == [{"id": 1, "customer": "ana", "total": 12.5}, {"id": 3, "customer": "ana", "total": 7.25}]


async def test_several_statements_run_together_and_answer_with_the_rows_of_each(orders_db: SqlDataSource) -> None:
    runner = runner_over(orders_db)
    results = await runner.run(task({"DataSource": "orders_db", "Request": {
        "statements": ["UPDATE orders SET total = :total WHERE id = :id",
                       "SELECT id, total FROM orders WHERE id = :id"],
        "variables": {"id": 2, "total": 4}}}))
    assert results == [[], [{"id": 2, "total": 4}]]


async def test_a_failing_transaction_changes_nothing_and_fails_with_the_database_message(
    orders_db: SqlDataSource,
) -> None:
    runner = runner_over(orders_db)
    error = await failure(runner, {"DataSource": "orders_db", "Request": {"statements": [
        "UPDATE orders SET customer = 'zed' WHERE id = 1",
        "INSERT INTO orders (id, customer) VALUES (2, 'duplicate')"]}})
    assert error.error == "Trellis.DataSourceError"
    assert (error.cause or "").startswith("sql data source 'orders_db': IntegrityError: ")
    rows = await runner.run(task({"DataSource": "orders_db", "Request": {"sql": "SELECT customer FROM orders WHERE id = 1"}}))
    assert rows == [{"customer": "ana"}]


async def test_a_request_the_data_source_rejects_fails_with_its_message_as_cause(orders_db: SqlDataSource) -> None:
    runner = runner_over(orders_db)
    error = await failure(runner, {"DataSource": "orders_db",
                                   "Request": {"sql": "SELECT * FROM orders WHERE id = :id", "variables": {}}})
    assert (error.error, error.cause) == ("Trellis.DataSourceError", "sql data source 'orders_db': no value for :id")


async def test_database_values_json_has_no_type_for_come_back_as_json(orders_db: SqlDataSource) -> None:
    # PostgreSQL answers with date and Decimal objects here, SQLite with text and a float.
    runner = runner_over(orders_db)
    rows = await runner.run(task({"DataSource": "orders_db", "Request": {
        "sql": "SELECT CURRENT_DATE AS today, SUM(total) AS spent FROM orders"}}))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rows[0]["today"])
    assert rows[0]["spent"] == 22.75


# --- errors and the request ------------------------------------------------------------------------


async def test_an_unknown_data_source_fails_with_data_source_not_found_naming_it() -> None:
    error = await failure(runner_over(Recording("known")), {"DataSource": "missing", "Request": {}})
    assert (error.error, error.cause) == ("Trellis.DataSourceNotFound", "There is no data source named 'missing'.")


@pytest.mark.parametrize("payload", [{"Request": {}}, {"DataSource": 3}, {"DataSource": ""}, "orders_db"])
async def test_a_missing_or_non_string_data_source_name_fails_with_states_runtime(payload: Any) -> None:
    error = await failure(runner_over(Recording("orders_db")), payload)
    assert error.error == "States.Runtime"
    assert error.cause == ("An error occurred while executing the state 'Query'. "
                           "The field 'DataSource' is required and must be a string.")


async def test_the_request_reaches_the_data_source_unchanged_and_may_be_left_out() -> None:
    source = Recording("echo", answer={"ok": True})
    runner = runner_over(source)
    request = {"method": "GET", "resourcePath": "/items", "params": {"query": {"a": [1, 2]}}}
    assert await runner.run(task({"DataSource": "echo", "Request": request})) == {"ok": True}
    assert await runner.run(task({"DataSource": "echo"})) == {"ok": True}
    assert source.requests == [request, None]


async def test_any_exception_of_a_data_source_is_a_catchable_data_source_error() -> None:
    source = Recording("broken", error=RuntimeError("disk on fire"))
    error = await failure(runner_over(source), {"DataSource": "broken"})
    assert (error.error, error.cause) == ("Trellis.DataSourceError", "RuntimeError: disk on fire")


async def test_an_answer_that_cannot_be_json_is_a_data_source_error() -> None:
    error = await failure(runner_over(Recording("odd", answer={"x": object()})), {"DataSource": "odd"})
    assert error.error == "Trellis.DataSourceError"
    assert error.cause == "The data source 'odd' answered with a value that is not JSON (object)"


def test_json_value_converts_database_types_and_leaves_json_as_it_is() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "when": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 5, 6),
        "at": datetime.time(7, 8),
        "whole": decimal.Decimal("12.00"),
        "part": decimal.Decimal("0.5"),
        "blob": b"\x00\xff",
        "id": ident,
        "pair": (1, "a"),
        3: [None, True, 1.5, "s"],
    }
    assert json_value(value) == {
        "when": "2024-05-06T07:08:09+00:00", "day": "2024-05-06", "at": "07:08:00", "whole": 12, "part": 0.5,
        "blob": "AP8=", "id": str(ident), "pair": [1, "a"], "3": [None, True, 1.5, "s"],
    }
    with pytest.raises(TypeError):
        json_value(float("nan"))
    with pytest.raises(TypeError):
        json_value(decimal.Decimal("Infinity"))


# --- registration ----------------------------------------------------------------------------------


def test_registering_makes_the_data_source_resource_a_supported_request_response_resource() -> None:
    registry = TaskRegistry()
    runner = register_datasource_runner(registry, lambda name: None)
    resource = parse_resource(DATA_SOURCE)
    assert resource is not None
    assert (resource.service, resource.action) == ("trellis", "dataSource")
    assert registry.runner_for(resource) is runner
    assert registry.supports(DATA_SOURCE)
    assert not registry.supports(DATA_SOURCE + ".sync")
