"""JSONPath with Jayway/Step Functions semantics: definite paths give a value or PathNotFound,
indefinite ones a list; ``$$`` reads the context object and ``$name`` a variable."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.language.env import Env
from workflows.language.jsonpath import PathNotFound, json_equal, select
from workflows.language.jsontext import dumps

DOCUMENT = {
    "a": {"b": [1, 2, 3, {"c": 5}], "x y": 7},
    "items": [{"p": 1, "n": "a"}, {"p": 3, "n": "b"}, {"n": "c", "p": None}],
    "s": "str",
    "flag": True,
}
ENV = Env(input=DOCUMENT, context={"Execution": {"Id": "arn:x"}}, variables={"v": {"f": [9, 8]}, "n": 0})


@pytest.mark.parametrize(("path", "expected"), [
    ("$", DOCUMENT),
    ("$.a.b[0]", 1),
    ("$['a']['x y']", 7),
    ('$["a"]["x y"]', 7),
    ("$.a.b[-1]", {"c": 5}),
    ("$.a.b[-1:]", [{"c": 5}]),
    ("$.a.b[1:3]", [2, 3]),
    ("$.a.b[:2]", [1, 2]),
    ("$.a.b[*]", [1, 2, 3, {"c": 5}]),
    ("$.items[0,1].n", ["a", "b"]),
    ("$.items[*].p", [1, 3, None]),
    ("$..c", [5]),
    ("$..n", ["a", "b", "c"]),
    ("$.items[?(@.p > 1)].n", ["b"]),
    ("$.items[?(@.n == 'c')].n", ["c"]),
    ('$.items[?(@.n != "a" && @.p)].n', ["b", "c"]),
    ("$.items[?(@.p)].n", ["a", "b", "c"]),
    ("$.items[?(!@.missing)].n", ["a", "b", "c"]),
    ("$.items[?(@.n in ['a', 'c'])].n", ["a", "c"]),
    ("$.items[?(@.n =~ /[ab]/)].n", ["a", "b"]),
    ("$.items[?(@.p == true)]", []),
    ("$.a.b.length()", 4),
    ("$$.Execution.Id", "arn:x"),
    ("$$", {"Execution": {"Id": "arn:x"}}),
    ("$v.f[1]", 8),
    ("$n", 0),
])
def test_paths_select_what_jayway_selects(path: str, expected: Any) -> None:
    assert json_equal(select(path, ENV), expected)


@pytest.mark.parametrize(("path", "detail"), [
    ("$.nope", "No results for path: $['nope']"),
    ("$.a.nope", "No results for path: $['a']['nope']"),
    ("$.a.nope.deeper", "Missing property in path $['a']['nope']"),
    ("$.a.b[9]", "No results for path: $['a']['b'][9]"),
    ("$.s[0]", 'Filter: [0] can only be applied to arrays. Current context is: "str"'),
    ("$$.Execution.Name", "No results for path: $['Execution']['Name']"),
])
def test_a_definite_path_that_matches_nothing_raises_with_jayways_message(path: str, detail: str) -> None:
    with pytest.raises(PathNotFound) as caught:
        select(path, ENV)
    assert caught.value.detail == detail


def test_an_indefinite_path_that_matches_nothing_is_an_empty_list() -> None:
    assert select("$.items[*].missing", ENV) == []
    assert select("$..missing", ENV) == []


def test_a_missing_property_before_a_wildcard_or_slice_matches_nothing_instead_of_failing() -> None:
    empty = Env(input={}, context={})
    assert select("$.item.items[1:5].itemValue", empty) == []
    assert select("$.item.items[*]", empty) == []
    with pytest.raises(PathNotFound):
        select("$.item.items[0]", empty)


def test_an_undefined_variable_is_not_found() -> None:
    with pytest.raises(PathNotFound):
        select("$undefinedVariable.x", ENV)


def test_booleans_are_never_numbers_in_filters() -> None:
    env = Env(input=[{"v": 1}, {"v": True}], context={})
    assert select("$[?(@.v == 1)]", env) == [{"v": 1}]


def test_json_text_is_compact_with_java_style_doubles() -> None:
    assert dumps({"a": [1, 1.0, 1.5e-5, 1e20, None, True], "é": "ü"}) == '{"a":[1,1.0,1.5E-5,1.0E20,null,true],"é":"ü"}'
