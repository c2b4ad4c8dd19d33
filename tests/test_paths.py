"""Paths: parsing, lodash get (with and without list mapping), lodash set, sample paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_workflow.http.querystring import paths_from_url
from webhook_workflow.variables.paths import (
    MAX_SET_INDEX,
    MISSING,
    Path,
    compile_path,
    paths_from_json,
    set_path,
)

COMPILE_CASES = [
    ("a", ("a",)),
    ("b.c", ("b", "c")),
    ("query[0].a", ("query", "0", "a")),
    ("items.0", ("items", "0")),
    ("a[0][12]", ("a", "0", "12")),
    ("[0].a", ("0", "a")),
    ("$context.headers.x-signature", ("$context", "headers", "x-signature")),
    ("a@b.$c", ("a@b", "$c")),
    ("first name.x", ("first name", "x")),
]


@pytest.mark.parametrize(("text", "segments"), COMPILE_CASES)
def test_compile_path(text: str, segments: tuple[str, ...]) -> None:
    path = compile_path(text)
    assert path.segments == segments
    assert path.text == text
    assert str(path) == text


@pytest.mark.parametrize(
    "text",
    ["", "a..b", ".a", "a.", "a[", "a[x]", "a[]", "a[-1]", "a]", "a[0]b", "a.[0]", "a[0", "]"],
)
def test_compile_path_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="path"):
        compile_path(text)


def test_compile_path_rejects_non_string() -> None:
    with pytest.raises(ValueError):
        compile_path(3)  # type: ignore[arg-type]


def test_missing_is_a_falsy_singleton() -> None:
    assert MISSING is not None
    assert not MISSING
    assert repr(MISSING) == "MISSING"


DOC: dict[str, Any] = {
    "a": {"b": {"c": 1}},
    "n": None,
    "items": [{"sku": "A", "tags": ["x", "y"]}, {"sku": "B", "tags": ["z"]}, {"other": 1}],
    "d": {"0": "zero", "01": "zero-one"},
    "grid": [[1, 2], [3]],
    "t": (10, 20),
}

GET_CASES: list[tuple[str, bool, Any]] = [
    ("a.b.c", False, 1),
    ("a.b", False, {"c": 1}),
    ("a.x", False, MISSING),
    ("a.b.c.d", False, MISSING),
    ("n", False, None),  # stored null is not missing
    ("n.x", False, MISSING),
    ("items.0.sku", False, "A"),
    ("items[1].sku", False, "B"),
    ("items[3]", False, MISSING),
    ("items.01", False, MISSING),  # not an index, as in JS
    ("items.sku", False, MISSING),  # no mapping without map_lists
    ("d.0", False, "zero"),  # a numeric segment is a key on a dict
    ("d[01]", False, "zero-one"),
    ("grid[0][1]", False, 2),
    ("t.1", False, 20),
    ("a.b.c.length", False, MISSING),
    # NocoBase appendArrayColumn: map, flatten one level, continue on the flat list
    ("items.sku", True, ["A", "B", None]),
    ("items.tags", True, ["x", "y", "z", None]),
    ("items.tags.0", True, "x"),
    ("items.0.sku", True, "A"),
    ("items.01", True, MISSING),  # digits never map
    ("grid.x", True, [None, None]),
]


@pytest.mark.parametrize(("text", "map_lists", "expected"), GET_CASES)
def test_get(text: str, map_lists: bool, expected: Any) -> None:
    assert compile_path(text).get(DOC, map_lists=map_lists) == expected


def test_get_nested_to_many_is_flattened() -> None:
    data = {"orders": [{"lines": [{"sku": 1}, {"sku": 2}]}, {"lines": [{"sku": 3}]}]}
    assert compile_path("orders.lines.sku").get(data, map_lists=True) == [1, 2, 3]
    assert compile_path("orders.lines").get(data, map_lists=True) == [
        {"sku": 1},
        {"sku": 2},
        {"sku": 3},
    ]


def test_get_on_scalars_and_top_level_list() -> None:
    assert compile_path("a").get(5) is MISSING
    assert compile_path("a").get("text") is MISSING
    assert compile_path("[1].a").get([{}, {"a": 2}]) == 2


def test_get_on_a_generic_mapping() -> None:
    from types import MappingProxyType

    assert compile_path("a.b").get(MappingProxyType({"a": {"b": 3}})) == 3
    assert compile_path("a.z").get(MappingProxyType({"a": {}})) is MISSING


SET_CASES: list[tuple[list[tuple[str, Any]], dict[str, Any]]] = [
    ([("a", 1)], {"a": 1}),
    ([("order.id", 7)], {"order": {"id": 7}}),
    ([("order.id", 7), ("order.status", "paid")], {"order": {"id": 7, "status": "paid"}}),
    ([("a[0]", "x")], {"a": ["x"]}),
    ([("a[2]", "x")], {"a": [None, None, "x"]}),
    ([("a.0", "x")], {"a": ["x"]}),  # lodash: a numeric next segment creates a list
    ([("a[0].b", 1), ("a[1].b", 2)], {"a": [{"b": 1}, {"b": 2}]}),
    ([("a[0][1]", 1)], {"a": [[None, 1]]}),
    ([("a", 5), ("a.b", 1)], {"a": {"b": 1}}),  # a scalar in the way is replaced
    ([("a[0]", 1), ("a.b", 2)], {"a": {"b": 2}}),  # a list cannot take a named key
    ([("a.01", 1)], {"a": {"01": 1}}),  # "01" is no index: a dict key
    ([("0", 1)], {"0": 1}),  # the target is a dict: its keys stay keys
]


@pytest.mark.parametrize(("writes", "expected"), SET_CASES)
def test_set_path(writes: list[tuple[str, Any]], expected: dict[str, Any]) -> None:
    target: dict[str, Any] = {}
    for text, value in writes:
        set_path(target, compile_path(text), value)
    assert target == expected


def test_set_path_reuses_existing_containers() -> None:
    inner: dict[str, Any] = {"keep": 1}
    target: dict[str, Any] = {"a": inner, "l": [0]}
    set_path(target, compile_path("a.new"), 2)
    set_path(target, compile_path("l[1]"), 9)
    assert target == {"a": {"keep": 1, "new": 2}, "l": [0, 9]}
    assert target["a"] is inner


def test_set_path_bounds_list_padding() -> None:
    set_path({}, compile_path(f"a[{MAX_SET_INDEX}]"), 1)
    with pytest.raises(ValueError, match="limit"):
        set_path({}, compile_path(f"a[{MAX_SET_INDEX + 1}]"), 1)


JSON_PATH_CASES: list[tuple[Any, list[str]]] = [
    ({"a": 1, "b": {"c": 2}}, ["a", "b", "b.c"]),
    ({"items": [{"sku": 1}]}, ["items", "items[0]", "items[0].sku"]),
    (
        {"items": [{"sku": 1}, {"sku": 2, "qty": 3}], "x": True},
        ["items", "items[0]", "items[0].sku", "items[1].qty", "x"],
    ),
    ({"m": [[1, {"k": 2}]]}, ["m", "m[0]", "m[0][0]", "m[0][1].k"]),
    ([{"a": 1}, 2], ["[0]", "[0].a"]),
    ({"bad.key": 1, "": 2, "a[0]": 3, "ok": {"x.y": 1}}, ["ok"]),
    ({"empty": [], "e": {}}, ["empty", "e"]),
    (5, []),
    ("text", []),
]


@pytest.mark.parametrize(("value", "expected"), JSON_PATH_CASES)
def test_paths_from_json(value: Any, expected: list[str]) -> None:
    assert paths_from_json(value) == expected


def test_paths_from_json_handles_deep_values() -> None:
    value: Any = 1
    for _ in range(3000):
        value = {"a": value}
    paths = paths_from_json(value)
    assert len(paths) == 3000
    assert paths[-1].count(".") == 2999


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@given(json_values)
def test_every_sample_path_resolves(value: Any) -> None:
    for text in paths_from_json(value):
        assert compile_path(text).get(value) is not MISSING, text


@given(st.lists(st.text(min_size=1).filter(lambda s: not set(s) & set(".[]")), min_size=1))
def test_compile_round_trips_plain_keys(keys: list[str]) -> None:
    text = ".".join(keys)
    assert compile_path(text) == Path(text, tuple(keys))


URL_CASES = [
    ("?query[0][a]=1&query[0][b]=2&x=3", ["query", "query[0]", "query[0].a", "query[0].b", "x"]),
    ("https://shop.example/api/webhook:trigger/k?source=bench&n=1", ["source", "n"]),
    ("/hook?a[b]=1#frag", ["a", "a.b"]),
    ("a=1&b=2", ["a", "b"]),
    ("https://shop.example/no-query", []),
    ("", []),
]


@pytest.mark.parametrize(("url", "expected"), URL_CASES)
def test_paths_from_url(url: str, expected: list[str]) -> None:
    assert paths_from_url(url) == expected
