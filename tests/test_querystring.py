"""Query-string parsing: literal expectations, the qs-codec reference, hostile input."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qs_codec import DecodeOptions, decode

from webhook_workflow.http.querystring import (
    DEFAULT_ARRAY_LIMIT,
    DEFAULT_DEPTH,
    DEFAULT_OPTIONS,
    DEFAULT_PARAMETER_LIMIT,
    QueryOptions,
    parse_query,
)

Opts = QueryOptions


def oracle(query: str | bytes, options: QueryOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """qs-codec's answer for the same wire bytes (a str carries them as latin-1)."""
    if isinstance(query, str):
        if all(ord(ch) < 256 for ch in query):
            query = query.encode("latin-1")
        else:
            query = query.encode("utf-8")
    return decode(
        query.decode("utf-8", "replace"),
        DecodeOptions(
            depth=options.depth,
            list_limit=options.array_limit,
            parameter_limit=options.parameter_limit,
        ),
    )


def overflow(count: int, value: str = "x") -> dict[str, str]:
    """A list that outgrew the array limit: string indices as keys."""
    return {str(i): value for i in range(count)}


CASES: list[tuple[str | bytes, QueryOptions | None, dict[str, Any]]] = [
    # plain keys, repeats, bare keys, empties
    ("", None, {}),
    ("source=bench", None, {"source": "bench"}),
    ("a=1&b=2", None, {"a": "1", "b": "2"}),
    ("a=1&a=2", None, {"a": ["1", "2"]}),
    ("a=1&b=2&a=3", None, {"a": ["1", "3"], "b": "2"}),
    ("a", None, {"a": ""}),
    ("a&b=1", None, {"a": "", "b": "1"}),
    ("a=", None, {"a": ""}),
    ("=", None, {}),
    ("=x", None, {}),
    ("&&", None, {}),
    ("a=1&&b=2&", None, {"a": "1", "b": "2"}),
    ("a=b=c", None, {"a": "b=c"}),
    ("?a=1", None, {"?a": "1"}),
    ("&".join(["a=x"] * 20), None, {"a": ["x"] * 20}),
    ("&".join(["a=x"] * 21), None, {"a": overflow(21)}),
    # decoding
    ("a+b=c+d", None, {"a b": "c d"}),
    ("a%20b=c%20d", None, {"a b": "c d"}),
    ("a=%2B", None, {"a": "+"}),
    ("a=100%", None, {"a": "100%"}),
    ("a=%zz%4", None, {"a": "%zz%4"}),
    ("a=%FF", None, {"a": "\ufffd"}),
    ("a=%C3", None, {"a": "\ufffd"}),
    ("a=%E2%82%AC", None, {"a": "\u20ac"}),
    (b"a=\xe2\x82\xac", None, {"a": "\u20ac"}),
    (b"a=\xff", None, {"a": "\ufffd"}),
    ("a=\xc3\xa9", None, {"a": "\xe9"}),  # WSGI: UTF-8 bytes carried as latin-1
    ("a=\u20ac", None, {"a": "\u20ac"}),  # not latin-1: taken as text
    ("%C3%A9=1", None, {"\xe9": "1"}),
    ("a=%5B1%5D", None, {"a": "[1]"}),
    ("a.b=c", None, {"a.b": "c"}),
    # nesting and depth
    ("a[b]=c", None, {"a": {"b": "c"}}),
    ("a%5Bb%5D=c", None, {"a": {"b": "c"}}),
    ("a%5bb%5d=c", None, {"a": {"b": "c"}}),
    ("a[b][c]=x", None, {"a": {"b": {"c": "x"}}}),
    ("a[b][c]=1&a[b][d]=2", None, {"a": {"b": {"c": "1", "d": "2"}}}),
    ("a[b][c][d][e][f]=x", None, {"a": {"b": {"c": {"d": {"e": {"f": "x"}}}}}}),
    (
        "a[b][c][d][e][f][g][h]=x",
        None,
        {"a": {"b": {"c": {"d": {"e": {"f": {"[g][h]": "x"}}}}}}},
    ),
    ("a[b][c]=x", Opts(depth=1), {"a": {"b": {"[c]": "x"}}}),
    ("a[b][c]=x&a[b][d]=y", Opts(depth=1), {"a": {"b": {"[c]": "x", "[d]": "y"}}}),
    ("a[b]=x", Opts(depth=0), {"a[b]": "x"}),
    ("a[b]=1&a[b]=2", None, {"a": {"b": ["1", "2"]}}),
    ("a[=]=x", None, {"a": {"=": "x"}}),
    ("a[b=c]=d", None, {"a": {"b=c": "d"}}),
    ("a[[b]]=1", None, {"a": {"[b]": "1"}}),
    ("a[b]x[c]=1", None, {"a": {"b": {"c": "1"}}}),
    ("[a]=x", None, {"a": "x"}),
    # lists
    ("a[]=x", None, {"a": ["x"]}),
    ("a[]=x&a[]=y", None, {"a": ["x", "y"]}),
    ("a[b][]=1&a[b][]=2", None, {"a": {"b": ["1", "2"]}}),
    ("a[][b]=1", None, {"a": [{"b": "1"}]}),
    ("a[][]=1", None, {"a": ["1"]}),
    ("a[0]=x&a[1]=y", None, {"a": ["x", "y"]}),
    ("a[1]=y&a[0]=x", None, {"a": ["x", "y"]}),
    ("a[1]=b&a[0]=c&a[2]=d", None, {"a": ["c", "b", "d"]}),
    ("a[5]=y&a[2]=x", None, {"a": ["x", "y"]}),
    ("a[0][b]=1&a[0][c]=2", None, {"a": [{"b": "1", "c": "2"}]}),
    ("a[0]=x&a[0]=y", None, {"a": [["x", "y"]]}),
    ("a[19]=x", None, {"a": ["x"]}),
    ("a[20]=x", None, {"a": {"20": "x"}}),
    ("a[0]=x&a[20]=y", None, {"a": {"0": "x", "20": "y"}}),
    ("a[999999999]=x", None, {"a": {"999999999": "x"}}),
    ("a[01]=x", None, {"a": {"01": "x"}}),
    ("a[-1]=x", None, {"a": {"-1": "x"}}),
    ("a[+1]=x", None, {"a": {" 1": "x"}}),
    ("[]=x", None, {"0": "x"}),
    ("[0]=x&[1]=y", None, {"0": "x", "1": "y"}),
    ("&".join(["a[]=x"] * 21), None, {"a": overflow(21)}),
    # mixing
    ("a[0]=x&a[b]=y", None, {"a": {"0": "x", "b": "y"}}),
    ("a[b]=y&a[0]=x", None, {"a": {"b": "y", "0": "x"}}),
    ("a[b]=c&a=d", None, {"a": [{"b": "c"}, "d"]}),
    ("a=d&a[b]=c", None, {"a": ["d", {"b": "c"}]}),
    ("a[b]=c&a=", None, {"a": {"b": "c"}}),
    ("a=1&a[]=2", None, {"a": ["1", "2"]}),
    ("a[]=1&a=2", None, {"a": ["1", "2"]}),
    (
        "a[b][c]=1&a[b][d]=2&x[]=1&x[]=2&y=3",
        None,
        {"a": {"b": {"c": "1", "d": "2"}}, "x": ["1", "2"], "y": "3"},
    ),
    # custom limits
    ("a=1&b=2&c=3", Opts(parameter_limit=2), {"a": "1", "b": "2"}),
    ("&&a=1&b=2", Opts(parameter_limit=3), {"a": "1"}),
    ("a[]=1", Opts(array_limit=0), {"a": {"0": "1"}}),
    ("a[0]=1", Opts(array_limit=0), {"a": {"0": "1"}}),
    ("a=1&a=2", Opts(array_limit=1), {"a": {"0": "1", "1": "2"}}),
    ("a[4]=x", Opts(array_limit=5), {"a": ["x"]}),
    ("a[5]=x", Opts(array_limit=5), {"a": {"5": "x"}}),
    ("a[999999999]=x", Opts(array_limit=10**12), {"a": ["x"]}),
]


@pytest.mark.parametrize(
    ("query", "options", "expected"), CASES, ids=[repr(case[0])[:60] for case in CASES]
)
def test_table(query: str | bytes, options: QueryOptions | None, expected: dict[str, Any]) -> None:
    opts = options or DEFAULT_OPTIONS
    assert parse_query(query, opts) == expected
    if opts.array_limit < 10**6:  # the reference would allocate every hole of a huge list
        assert oracle(query, opts) == expected


@pytest.mark.parametrize("query", [case[0] for case in CASES if isinstance(case[0], str)][:40])
def test_str_and_latin1_bytes_agree(query: str) -> None:
    raw = query.encode("latin-1") if all(ord(ch) < 256 for ch in query) else query.encode()
    assert parse_query(raw) == parse_query(query)


def test_defaults_and_options() -> None:
    assert (DEFAULT_DEPTH, DEFAULT_ARRAY_LIMIT, DEFAULT_PARAMETER_LIMIT) == (5, 20, 1000)
    assert QueryOptions(depth=5, array_limit=20, parameter_limit=1000) == DEFAULT_OPTIONS
    with pytest.raises(AttributeError):
        DEFAULT_OPTIONS.depth = 9  # type: ignore[misc]
    with pytest.raises(ValueError):
        QueryOptions(parameter_limit=0)


def test_results_are_fresh_each_call() -> None:
    query = b"a[b][]=1&a[b][]=2&c=3&c=4"
    first = parse_query(query)
    first["a"]["b"].append("mutated")
    first["c"].clear()
    assert parse_query(query) == {"a": {"b": ["1", "2"]}, "c": ["3", "4"]}


def test_unbalanced_keys_parse_deterministically() -> None:
    for query in ["a[b=1", "a]=1", "a[=1", "a]b[c=1", "[=1", "]=1", "a[b[c]=1", "a[[[=x&a]]]=y"]:
        result = parse_query(query)
        assert isinstance(result, dict)
        assert parse_query(query) == result
        json.dumps(result)


# --- properties -----------------------------------------------------------------------

_names = st.text(alphabet="abcxyz_-. 019é€", min_size=0, max_size=4)
_segment = st.one_of(
    st.just("[]"),
    st.integers(min_value=0, max_value=25).map(lambda i: f"[{i}]"),
    _names.map(lambda name: f"[{quote(name, safe='')}]"),
)


@st.composite
def _query(draw: st.DrawFn) -> str:
    pairs = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        root = quote(draw(_names), safe="")
        key = root + "".join(draw(st.lists(_segment, max_size=7)))
        if draw(st.booleans()):
            key = key.replace("[", "%5B").replace("]", "%5D")
        value = draw(st.one_of(st.text(max_size=5).map(quote_plus), st.sampled_from(["%FF", ""])))
        pairs.append(key if draw(st.integers(0, 9)) == 0 else f"{key}={value}")
    return "&".join(pairs)


_options = st.builds(
    QueryOptions,
    depth=st.integers(min_value=-1, max_value=7),
    array_limit=st.integers(min_value=-1, max_value=25),
    parameter_limit=st.integers(min_value=1, max_value=12),
)


@settings(max_examples=400, deadline=None)
@given(_query(), st.one_of(st.just(DEFAULT_OPTIONS), _options))
def test_matches_reference_on_well_formed_queries(query: str, options: QueryOptions) -> None:
    result = parse_query(query, options)
    expected = oracle(query, options)
    assert result == expected
    assert json.dumps(result) == json.dumps(expected)  # same key order too
    assert parse_query(query.encode("ascii"), options) == result


def _plain(value: Any) -> bool:
    """Only str, and plain lists and dicts of them (no subclasses)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item.values())
            assert all(type(key) is str for key in item)
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is not str:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary()), st.one_of(st.just(DEFAULT_OPTIONS), _options))
def test_never_raises_on_arbitrary_input(query: str | bytes, options: QueryOptions) -> None:
    result = parse_query(query, options)
    assert type(result) is dict
    assert _plain(result)
    assert parse_query(query, options) == result


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab0129[]=&%5BDd+ ", max_size=40))
def test_bracket_soup_never_raises(query: str) -> None:
    result = parse_query(query)
    assert type(result) is dict
    assert _plain(result)


# --- hostile input ----------------------------------------------------------------------

BIG = 100_000


def test_many_open_brackets() -> None:
    assert parse_query(b"[" * BIG) == {"[" * BIG: ""}
    assert parse_query(b"a" + b"[" * BIG + b"=x") == {"a": {"[" * BIG: "x"}}
    assert parse_query(b"%5B" * BIG) == {"[" * BIG: ""}


def test_many_close_brackets_and_separators() -> None:
    assert parse_query(b"]" * BIG) == {"]" * BIG: ""}
    assert parse_query(b"&" * BIG) == {}
    assert parse_query(b"=" * BIG) == {}


def test_parameter_limit_is_respected() -> None:
    query = "&".join(f"k{i}=v" for i in range(5000))
    result = parse_query(query)
    assert len(result) == DEFAULT_PARAMETER_LIMIT
    assert "k999" in result and "k1000" not in result
    assert parse_query("&" * 1000 + "a=1") == {}  # empty pairs count towards the limit


def test_huge_indices_become_keys() -> None:
    assert parse_query(b"a[999999999]=x") == {"a": {"999999999": "x"}}
    digits = "9" * 5000
    assert parse_query(f"a[{digits}]=x") == {"a": {digits: "x"}}
    assert parse_query("a[0]=x&a[99999999999]=y") == {"a": {"0": "x", "99999999999": "y"}}


def test_huge_index_with_huge_limit_allocates_no_holes() -> None:
    options = QueryOptions(array_limit=10**15)
    tracemalloc.start()
    try:
        result = parse_query(b"a[999999999999]=x&a[5]=y", options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == {"a": ["y", "x"]}
    assert peak < 1_000_000


def test_many_pairs_into_one_key() -> None:
    result = parse_query("&".join(["a[b][c]=x"] * 1000))
    assert result == {"a": {"b": {"c": overflow(1000)}}}
    assert result == oracle("&".join(["a[b][c]=x"] * 1000))
    spread = parse_query("&".join(f"a[{i}]=x" for i in range(1000)))
    assert spread == {"a": overflow(1000)}


def test_deep_keys_with_a_huge_depth_do_not_recurse() -> None:
    result = parse_query(b"a" + b"[b]" * 20_000 + b"=x", QueryOptions(depth=50_000))
    node: Any = result["a"]
    levels = 0
    while isinstance(node, dict):
        node = node["b"]
        levels += 1
    assert (levels, node) == (20_000, "x")


def test_hostile_inputs_finish_quickly() -> None:
    queries = [
        b"[" * BIG,
        b"a" + b"[[]" * (BIG // 3) + b"=x",
        b"a" + b"[]" * (BIG // 2) + b"=x",
        b"&".join([b"a" + b"[" * 50 + b"]=x"] * 2000),
        b"&".join([b"a[" + b"9" * 4300 + b"]=x"] * 200),
        b"&".join([b"a[b][c][]=x"] * 1000),
        b"&".join(b"a[%d][b]=x" % i for i in range(1000)),
        b"&".join([b"a=x"] * BIG),
        b"%5B%5D" * BIG,
    ]
    started = time.perf_counter()
    for query in queries:
        assert type(parse_query(query)) is dict
        assert type(parse_query(query, QueryOptions(depth=BIG, parameter_limit=BIG))) is dict
    assert time.perf_counter() - started < 5.0
