"""The ``function`` data source: in-process handlers named ``module:callable``, Lambda-style.

The handlers below are real ones, imported by the data source from this very module.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from app.errors import ConfigError, DataSourceError, DataSourceTimeoutError, ResolverError
from datasources import base, function
from datasources.base import Invocation

HERE = __name__  # "tests.test_datasource_function"
MAIN_THREAD = threading.get_ident()
release_slow_handler = threading.Event()


# --- handlers --------------------------------------------------------------------------------------


def echo(event: Any) -> dict[str, Any]:
    return {"event": event, "in_worker_thread": threading.get_ident() != MAIN_THREAD}


async def async_echo(event: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"event": event, "async": True}


class AsyncCallable:
    async def __call__(self, event: Any) -> str:
        return f"object got {event}"


async_object = AsyncCallable()


def blocking(event: Any) -> str:
    # Blocks its thread; the event loop must keep running meanwhile.
    time.sleep(0.3)
    return "done"


def stuck(event: Any) -> str:
    release_slow_handler.wait(5)
    return "too late"


async def async_stuck(event: Any) -> str:
    await asyncio.sleep(5)
    return "too late"


def fails(event: Any) -> None:
    raise ValueError(f"bad input {event['id']}")


async def async_fails(event: Any) -> None:
    raise RuntimeError("upstream exploded")


def raises_timeout_itself(event: Any) -> None:
    raise TimeoutError("the handler's own deadline")


def refuses(event: Any) -> None:
    raise ResolverError("not yours", error_type="Unauthorized", data={"id": 1}, error_info={"why": "owner"})


def doubles(events: list[dict[str, int]]) -> list[int]:
    return [e["n"] * 2 for e in events]


def drops_one(events: list[Any]) -> list[Any]:
    return events[1:]


not_callable = 42


# --- helpers ---------------------------------------------------------------------------------------


async def started(handler: str, **options: Any) -> function.FunctionDataSource:
    source = function.build("fn", {"kind": "function", "handler": f"{HERE}:{handler}", **options})
    await source.start()
    return source


EVENT = {"arguments": {"id": "7"}, "identity": None, "source": None, "info": {"fieldName": "post"}}


# --- invoking --------------------------------------------------------------------------------------


async def test_a_sync_handler_runs_in_a_worker_thread_and_gets_the_request() -> None:
    source = await started("echo")
    result = await source.invoke(Invocation(request={"id": 7}, event=EVENT))
    assert result == {"event": {"id": 7}, "in_worker_thread": True}


async def test_without_a_request_the_handler_gets_the_lambda_style_event() -> None:
    source = await started("echo")
    result = await source.invoke(Invocation(request=None, event=EVENT))
    assert result["event"] == EVENT


async def test_an_invoke_request_hands_the_handler_only_its_payload() -> None:
    source = await started("echo")
    result = await source.invoke(Invocation(request={"operation": "Invoke", "payload": {"id": 1}}))
    assert result["event"] == {"id": 1}


async def test_an_async_handler_is_awaited() -> None:
    source = await started("async_echo")
    assert await source.invoke(Invocation(request=[1, 2])) == {"event": [1, 2], "async": True}


async def test_a_callable_object_with_an_async_call_method_is_awaited() -> None:
    source = await started("async_object")
    assert await source.invoke(Invocation(request="hi")) == "object got hi"


async def test_a_blocking_sync_handler_does_not_stall_the_event_loop() -> None:
    source = await started("blocking")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        assert await source.invoke(Invocation(request={})) == "done"
    finally:
        ticking.cancel()
    assert ticks >= 10


async def test_a_batch_invoke_hands_the_handler_the_list_of_payloads() -> None:
    source = await started("doubles")
    request = {"operation": "BatchInvoke", "payload": [{"n": 1}, {"n": 2}, {"n": 3}]}
    assert await source.invoke(Invocation(request=request)) == [2, 4, 6]


async def test_a_batch_handler_must_answer_every_payload() -> None:
    source = await started("drops_one")
    request = {"operation": "BatchInvoke", "payload": [1, 2, 3]}
    with pytest.raises(DataSourceError, match="list of 3 results, got 2 results"):
        await source.invoke(Invocation(request=request))


async def test_a_batch_payload_that_is_not_a_list_is_refused() -> None:
    source = await started("doubles")
    with pytest.raises(DataSourceError, match="BatchInvoke payload must be a list"):
        await source.invoke(Invocation(request={"operation": "BatchInvoke", "payload": {"n": 1}}))


# --- timeouts and errors ---------------------------------------------------------------------------


async def test_a_sync_handler_that_overruns_raises_a_timeout_naming_the_source() -> None:
    source = await started("stuck", timeout_seconds=0.1)
    try:
        with pytest.raises(DataSourceTimeoutError) as caught:
            await source.invoke(Invocation(request={}))
    finally:
        release_slow_handler.set()  # the thread cannot be killed; let it finish
    assert "'fn'" in caught.value.message
    assert "0.1 s" in caught.value.message
    assert caught.value.error_type == "Timeout"


async def test_an_async_handler_that_overruns_is_cancelled_and_raises_a_timeout() -> None:
    source = await started("async_stuck", timeout_seconds=0.1)
    with pytest.raises(DataSourceTimeoutError, match="'fn'"):
        await source.invoke(Invocation(request={}))


async def test_a_handler_exception_becomes_lambda_unhandled_with_its_message_and_class() -> None:
    source = await started("fails")
    with pytest.raises(DataSourceError) as caught:
        await source.invoke(Invocation(request={"id": 9}))
    assert caught.value.error_type == "Lambda:Unhandled"
    assert caught.value.message == "bad input 9"
    assert caught.value.error_info == {"errorType": "ValueError"}
    assert isinstance(caught.value.__cause__, ValueError)


async def test_an_async_handler_exception_becomes_lambda_unhandled_too() -> None:
    source = await started("async_fails")
    with pytest.raises(DataSourceError) as caught:
        await source.invoke(Invocation(request={}))
    assert (caught.value.error_type, caught.value.message) == ("Lambda:Unhandled", "upstream exploded")
    assert caught.value.error_info == {"errorType": "RuntimeError"}


async def test_a_timeout_error_raised_by_the_handler_is_its_error_not_ours() -> None:
    source = await started("raises_timeout_itself")
    with pytest.raises(DataSourceError) as caught:
        await source.invoke(Invocation(request={}))
    assert not isinstance(caught.value, DataSourceTimeoutError)
    assert caught.value.error_type == "Lambda:Unhandled"
    assert caught.value.error_info == {"errorType": "TimeoutError"}


async def test_a_resolver_error_from_the_handler_passes_through_unchanged() -> None:
    source = await started("refuses")
    with pytest.raises(ResolverError) as caught:
        await source.invoke(Invocation(request={}))
    error = caught.value
    assert (error.message, error.error_type, error.data, error.error_info) == (
        "not yours",
        "Unauthorized",
        {"id": 1},
        {"why": "owner"},
    )


async def test_invoking_before_start_or_after_close_is_an_error() -> None:
    source = function.build("fn", {"kind": "function", "handler": f"{HERE}:echo"})
    with pytest.raises(DataSourceError, match="not started"):
        await source.invoke(Invocation(request={}))
    await source.start()
    await source.close()
    with pytest.raises(DataSourceError, match="not started"):
        await source.invoke(Invocation(request={}))


# --- config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        "tests.no_such_module:handler",
        f"{HERE}:no_such_function",
        f"{HERE}:AsyncCallable.no_such_method",
        f"{HERE}:not_callable",
    ],
)
async def test_a_handler_that_cannot_be_loaded_is_a_config_error_at_start_naming_it(handler: str) -> None:
    source = function.build("fn", {"kind": "function", "handler": handler})
    with pytest.raises(ConfigError) as caught:
        await source.start()
    assert "'fn'" in caught.value.message
    assert repr(handler) in caught.value.message


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "handler"),
        ({"handler": 42}, "handler"),
        ({"handler": "tests.test_datasource_function"}, "handler"),
        ({"handler": "tests/test_datasource_function.py:echo"}, "handler"),
        ({"handler": f"{HERE}:echo", "timeout_seconds": 0}, "timeout_seconds"),
        ({"handler": f"{HERE}:echo", "timeout_seconds": -1.5}, "timeout_seconds"),
        ({"handler": f"{HERE}:echo", "timeout_seconds": "10"}, "timeout_seconds"),
        ({"handler": f"{HERE}:echo", "timeout_seconds": True}, "timeout_seconds"),
        ({"handler": f"{HERE}:echo", "memory_mb": 128}, "memory_mb"),
    ],
)
def test_bad_config_is_a_config_error_naming_the_source_and_the_key(
    options: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        function.build("fn", {"kind": "function", **options})
    assert any("'fn'" in p.message and key in p.message for p in caught.value.problems)


def test_good_config_gets_the_documented_default_timeout() -> None:
    source = function.build("fn", {"kind": "function", "handler": f"{HERE}:echo"})
    assert (source.name, source.kind, source.timeout_seconds) == ("fn", "function", 10.0)
    assert isinstance(source, base.DataSource)


def test_the_function_kind_is_registered() -> None:
    assert base._FACTORIES["function"] is function.build
