"""The ``none`` data source: AppSync's NONE, which echoes what the resolver sent."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import ConfigError
from datasources import base, none
from datasources.base import Invocation


async def started() -> none.NoneDataSource:
    source = none.build("local", {"kind": "none"})
    await source.start()
    return source


async def test_a_request_with_a_payload_yields_just_the_payload() -> None:
    source = await started()
    request = {"version": "2018-05-29", "payload": {"id": "1", "title": "Hi"}}
    assert await source.invoke(Invocation(request=request)) == {"id": "1", "title": "Hi"}


async def test_a_null_payload_is_still_the_payload() -> None:
    source = await started()
    assert await source.invoke(Invocation(request={"payload": None})) is None


@pytest.mark.parametrize("request_", [{"id": "1"}, [1, 2], "text", 3, None])
async def test_any_other_request_comes_back_unchanged(request_: Any) -> None:
    source = await started()
    assert await source.invoke(Invocation(request=request_, event={"arguments": {}})) == request_


async def test_the_same_object_is_returned_without_copying() -> None:
    source = await started()
    payload = {"nested": {"list": [1]}}
    assert await source.invoke(Invocation(request={"payload": payload})) is payload


def test_any_option_besides_kind_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        none.build("local", {"kind": "none", "timeout_seconds": 5, "url": "x"})
    assert [p.message for p in caught.value.problems] == [
        "data source 'local': unknown option 'timeout_seconds' (kind 'none' takes no options)",
        "data source 'local': unknown option 'url' (kind 'none' takes no options)",
    ]


async def test_it_satisfies_the_data_source_protocol_and_closes_cleanly() -> None:
    source = await started()
    assert isinstance(source, base.DataSource)
    assert (source.name, source.kind) == ("local", "none")
    await source.close()


def test_the_none_kind_is_registered() -> None:
    assert base._FACTORIES["none"] is none.build
