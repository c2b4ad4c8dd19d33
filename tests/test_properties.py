"""Property tests on hostile input: only the library's own error classes (or none) come out, and
work stays bounded.

Work is counted, not timed: ``steps`` counts the Python lines the library executes (a trace
function that also stops a run past its budget, so a hang fails instead of hanging), and
``tracemalloc`` measures peak memory. Linear means doubling the input at most doubles the steps
and the memory, plus slack.
"""

from __future__ import annotations

import base64
import json
import math
import os
import string
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import webhook_workflow
from webhook_workflow.errors import ExpressionError, RequestRejected, TemplateError
from webhook_workflow.http import auth as auth_module
from webhook_workflow.http.auth import basic_header, check_basic, check_basic_raw
from webhook_workflow.http.headers import asgi_headers, headers_from_pairs
from webhook_workflow.http.querystring import QueryOptions, parse_query, paths_from_url
from webhook_workflow.http.request import (
    is_json,
    parse_body,
    parse_content_length,
)
from webhook_workflow.variables.expressions import (
    ENGINES,
    LIBRARIES,
    compile_expression,
)
from webhook_workflow.variables.expressions.values import (
    MAX_INT_BITS,
    MAX_LIST,
    MAX_STEPS,
    MAX_TEXT,
)
from webhook_workflow.variables.paths import (
    MAX_SET_INDEX,
    MISSING,
    compile_path,
    paths_from_json,
    set_path,
)
from webhook_workflow.variables.templates import compile_template, find_placeholders, to_text

PACKAGE = str(Path(webhook_workflow.__file__).resolve().parent)

# The trace function below would fight hypothesis's own tracing in the explain phase.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
HOSTILE = settings(max_examples=300, deadline=None, phases=PHASES,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- counting work -------------------------------------------------------------------------------


class StepBudgetExceeded(BaseException):
    """Raised inside the library when a run passes its step budget (BaseException, so that no
    ``except Exception`` in the library swallows it)."""


class Steps:
    """Lines of library code executed."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.count = 0


@contextmanager
def steps(budget: int = 10_000_000) -> Iterator[Steps]:
    """Count the lines the library executes in the block; stop it past ``budget``."""
    counter = Steps(budget)

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            counter.count += 1
            if counter.count > counter.budget:
                raise StepBudgetExceeded(f"over {counter.budget} steps")
        return local

    def outer(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename.startswith(PACKAGE):
            counter.count += 1
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(outer)
    try:
        yield counter
    finally:
        sys.settrace(previous)


def measure(function: Callable[[], Any]) -> tuple[int, int]:
    """(steps, peak bytes allocated) of one call."""
    with steps() as counted:
        function()
    tracemalloc.start()
    try:
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return counted.count, peak


def assert_linear(make: Callable[[int], Callable[[], Any]], sizes: tuple[int, ...],
                  name: str, slack: float = 2.6) -> None:
    """Doubling the input at most doubles steps and memory (times ``slack``/2)."""
    previous: tuple[int, int] | None = None
    for size in sizes:
        current = measure(make(size))
        if previous is not None:
            for what, before, after in (("steps", previous[0], current[0]),
                                        ("memory", previous[1], current[1])):
                floor = 2_000 if what == "steps" else 64_000
                assert after <= slack * max(before, floor), (
                    f"{name}: {what} grew from {before} to {after} when the input doubled "
                    f"to {size}")
        previous = current


# -- the query-string parser -----------------------------------------------------------------------

QUERY_PIECES = ["a", "b", "0", "1", "20", "21", "999999999999", "[", "]", "[]", "[0]", "[1]",
                "[a]", "[20]", "=", "&", "%", "%5B", "%5D", "%5b", "%zz", "%ff", "%C3%A9", "+",
                ".", "__proto__", "é", "\x00", ";", "?", "#", "[[", "]]", "=&"]
query_text = st.lists(st.sampled_from(QUERY_PIECES), max_size=120).map("".join)
query_options = st.builds(QueryOptions, depth=st.integers(0, 100),
                          array_limit=st.integers(0, 10_000),
                          parameter_limit=st.integers(1, 100_000))
HOSTILE_OPTIONS = QueryOptions(depth=100, array_limit=10_000, parameter_limit=100_000)


def leaves_and_size(value: Any) -> tuple[int, int]:
    """(string leaves, containers + leaves); fails on anything but dict/list/str."""
    leaves = size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        size += 1
        if isinstance(item, dict):
            assert all(isinstance(k, str) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            assert isinstance(item, str), f"a query value is {type(item).__name__}"
            leaves += 1
    return leaves, size


@HOSTILE
@given(query=st.one_of(query_text, st.text(max_size=300), st.binary(max_size=300)),
       options=query_options)
def test_parse_query_is_total_and_its_result_linear(query: str | bytes,
                                                    options: QueryOptions) -> None:
    with steps(budget=200_000 + 2_000 * len(query)) as counted:
        result = parse_query(query, options)
    assert isinstance(result, dict)
    leaves, size = leaves_and_size(result)
    pairs = (query.count(b"&") if isinstance(query, bytes) else query.count("&")) + 1
    assert leaves <= min(pairs, options.parameter_limit)
    # Each pair adds one leaf and at most depth + 2 containers.
    assert size <= 1 + leaves * (options.depth + 3)
    assert counted.count <= 5_000 + 400 * len(query)


@HOSTILE
@given(query=st.binary(max_size=400))
def test_parse_query_bytes_and_latin1_text_agree(query: bytes) -> None:
    """A WSGI server carries the query as latin-1 text (PEP 3333): same result as bytes."""
    assert parse_query(query) == parse_query(query.decode("latin-1"))


QUERY_FAMILIES: dict[str, Callable[[int], str]] = {
    "open brackets": lambda n: "a" + "[" * n + "=1",
    "close brackets": lambda n: "a" + "]" * n + "=1",
    "bracket groups": lambda n: "a" + "[b]" * n + "=1",
    "nested groups": lambda n: "a" + "[" * n + "b" + "]" * n + "=1",
    "empty groups": lambda n: "a" + "[]" * n + "=1",
    "appends": lambda n: "&".join("a[]=x" for _ in range(n)),
    "repeated key": lambda n: "&".join("a=x" for _ in range(n)),
    "indices up": lambda n: "&".join(f"a[{i}]=x" for i in range(n)),
    "indices down": lambda n: "&".join(f"a[{n - i}]=x" for i in range(n)),
    "huge indices": lambda n: "&".join(f"a[{10**12 + i}]=x" for i in range(n)),
    "shape clashes": lambda n: "&".join(f"a[b{i}]=1&a[]=2&a=3" for i in range(n // 3)),
    "deep merges": lambda n: "&".join(f"a[b][c][d{i}]=1" for i in range(n // 3)),
    "encoded brackets": lambda n: "a" + "%5B" * n + "=1",
    "separators": lambda n: "&" * n + "=" * n,
    "keys with brackets": lambda n: "&".join(f"[{i}]=x" for i in range(n)),
}


@pytest.mark.parametrize("family", sorted(QUERY_FAMILIES))
def test_parse_query_work_is_linear(family: str) -> None:
    build = QUERY_FAMILIES[family]
    for options in (QueryOptions(), HOSTILE_OPTIONS):
        assert_linear(lambda n, o=options: _query_run(build(n), o),
                      (2_000, 4_000, 8_000, 16_000), f"{family} {options}")


def _query_run(query: str, options: QueryOptions) -> Callable[[], Any]:
    return lambda: parse_query(query, options)


# -- paths ---------------------------------------------------------------------------------------

PATH_PIECES = ["a", "b", "0", "1", "01", "10000", "10001", "x-y", "$context", ".", "[", "]",
               "[0]", "[1]", "[01]", "[x]", "[]", "..", " ", "é", "[99999]"]
path_text = st.lists(st.sampled_from(PATH_PIECES), max_size=20).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "0", "1", "x-y", "é", ""]), inner, max_size=4),
    max_leaves=30)


def node_count(value: Any) -> int:
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


@HOSTILE
@given(text=st.one_of(path_text, st.text(max_size=40)), value=json_values,
       map_lists=st.booleans())
def test_paths_compile_or_raise_value_error_and_reads_are_bounded(
        text: str, value: Any, map_lists: bool) -> None:
    try:
        path = compile_path(text)
    except ValueError:
        return
    with steps(budget=100_000) as counted:
        found = path.get(value, map_lists=map_lists)
    if found is not MISSING:
        # A read returns a part of the value, or (mapping over lists) a list of parts.
        assert node_count(found) <= node_count(value) * max(1, len(path.segments))
    assert counted.count <= 200 + 40 * len(path.segments) * node_count(value)


@HOSTILE
@given(text=path_text, value=json_values)
def test_set_path_round_trips_or_refuses_a_huge_index(text: str, value: Any) -> None:
    try:
        path = compile_path(text)
    except ValueError:
        return
    target: dict[str, Any] = {}
    try:
        set_path(target, path, value)
    except ValueError as exc:
        assert "over the limit" in str(exc)
        assert any(s.isdigit() and int(s) > MAX_SET_INDEX for s in path.segments)
        return
    # What was created is bounded by the indices of the path.
    created = sum(int(s) + 1 for s in path.segments if (s.isdigit() and s[0] != "0") or s == "0")
    assert node_count(target) <= 1 + len(path.segments) + created + node_count(value)
    assert path.get(target) == value


@HOSTILE
@given(value=json_values)
def test_every_listed_json_path_resolves(value: Any) -> None:
    listed = paths_from_json(value)
    assert len(listed) <= node_count(value)
    for text in listed:
        assert compile_path(text).get(value) is not MISSING, text


@HOSTILE
@given(query=query_text)
def test_every_listed_url_path_resolves(query: str) -> None:
    listed = paths_from_url("https://example.test/p?" + query)
    parsed = parse_query(query.split("#", 1)[0])  # a URL's fragment is not its query
    for text in listed:
        assert compile_path(text).get(parsed) is not MISSING, text


# -- templates -----------------------------------------------------------------------------------

TEMPLATE_PIECES = ["{{", "}}", "{", "}", "$context", "$env", "$system", "$scopes", "ctx.",
                   "$jobsMapByNodeKey", ".", "body", "a", "b", "[0]", "[", "]", ":", "default",
                   " ", "x", "-", "@", "$", "'", '"', "\n", "{{$context.body.a}}",
                   "{{ $context.body.b : d }}", "{{$env.X}}", "{{$context.body}}"]
template_text = st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=40).map("".join)
template_values = st.recursive(
    template_text | st.integers() | st.none() | st.booleans(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(template_text, inner,
                                                                 max_size=4),
    max_leaves=20)


def scope_of(body: Any) -> dict[str, Any]:
    return {"$context": {"body": body, "headers": {}, "query": {}}, "$env": {"X": "secret"},
            "$scopes": {}, "$jobsMapByNodeKey": {}, "$system": {"epoch": 1}}


def text_size(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False))


@HOSTILE
@given(source=template_values, body=json_values)
def test_templates_raise_only_template_errors_and_render_bounded(source: Any,
                                                                  body: Any) -> None:
    try:
        template = compile_template(source)
    except TemplateError:
        return
    scope = scope_of(body)
    with steps(budget=2_000_000):
        rendered = template.render(scope)
    placeholders = sum(len(find_placeholders(s)) for s in _strings(source))
    limit = text_size(source) + placeholders * (3 * text_size(scope) + 16) + 16
    assert text_size(rendered) <= limit


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@HOSTILE
@given(text=st.text(max_size=200) | template_text)
def test_find_placeholders_is_total(text: str) -> None:
    for start, end, path, _default in find_placeholders(text):
        assert 0 <= start < end <= len(text)
        assert path == path.strip()


@pytest.mark.parametrize("make", [
    lambda n: "{{" * n,
    lambda n: "{{" + "a" * n,
    lambda n: "{{a" * n,
    lambda n: "{{$context.a" + "." * n + "}}",
    lambda n: ("{{" + " " * n + "x") * 2,
], ids=["opens", "open-then-text", "open-text-repeat", "dots", "spaces"])
def test_placeholder_scanning_is_linear(make: Callable[[int], str]) -> None:
    def run(n: int) -> Callable[[], Any]:
        text = make(n)

        def go() -> Any:
            find_placeholders(text)
            try:
                return compile_template(text)
            except TemplateError:
                return None

        return go

    assert_linear(run, (5_000, 10_000, 20_000, 40_000), "placeholders")


@pytest.mark.parametrize("value", [
    10 ** 5000, -(10 ** 5000), float("inf"), float("nan"), "\ud800", {"a": float("nan")},
    [10 ** 5000], {"k": "\x00\r\n"},
], ids=["big-int", "big-negative", "inf", "nan", "surrogate", "nan-in-dict", "big-in-list",
        "controls"])
def test_to_text_is_total(value: Any) -> None:
    assert isinstance(to_text(value), str)


# -- expressions ---------------------------------------------------------------------------------


def expression_pieces(engine: str) -> list[str]:
    names = sorted(LIBRARIES[engine].functions) if engine in LIBRARIES else []
    return [*names, "(", ")", ",", "+", "-", "*", "/", "%", "^", "==", "!=", "<", ">=", "?",
            ":", "and", "or", "not", "&&", "||", "!", "&", "[", "]", "1", "0", "2", "9", "99",
            "1e308", "9" * 1300, "1.5", "-", "'a'", '"b"', "'x'", "'" + "y" * 500 + "'",
            "true", "false", "null", " ", "{{$context.body.n}}", "{{$context.body.s}}",
            "{{$context.body.l}}", "{{$context.body}}", "pi", "E", "PI()", "{{", "}}", ".",
            "$", "="]


EXPRESSION_ATOMS = ["0", "1", "2", "-1", "0.1", "1e308", "1e-308", "9" * 1200, "4096", "1000000",
                    "'a'", '"bc"', "''", "'" + "y" * 300 + "'", "'12'", "'1e3'", "' 7 '",
                    "true", "false", "null", "{{$context.body.n}}", "{{$context.body.s}}",
                    "{{$context.body.l}}", "{{$context.body}}", "{{$context.body.missing}}",
                    "'{{$context.body.s}}-{{$context.body.n}}'"]
EXPRESSION_OPERATORS = ["+", "-", "*", "/", "%", "^", "==", "!=", "<", "<=", ">", ">=", "and",
                        "or", "&&", "||"]


def expression_trees(engine: str) -> st.SearchStrategy[str]:
    """Well-formed expressions: calls with any argument count, operators, conditionals."""
    names = sorted(LIBRARIES[engine].functions)
    operators = [*EXPRESSION_OPERATORS, *(["&"] if engine == "formula.js" else [])]

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(operators), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["-", "+", "not ", "!"]), inner).map("".join),
            st.tuples(st.sampled_from(names), st.lists(inner, max_size=4)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
            st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        )

    return st.recursive(st.sampled_from(EXPRESSION_ATOMS), extend, max_leaves=25)


def expressions(engine: str) -> st.SearchStrategy[str]:
    soup = st.lists(st.sampled_from(expression_pieces(engine)), max_size=30).map(" ".join)
    return st.one_of(soup, expression_trees(engine))


EXPRESSION_BODIES = st.fixed_dictionaries({
    "n": st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.text(max_size=5)),
    "s": st.text(max_size=20) | st.just("x" * 100_000),
    "l": st.lists(st.integers(-10, 10), max_size=5) | st.just(list(range(50_000))),
})


def check_bounded_value(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        assert value.bit_length() <= MAX_INT_BITS
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, str):
        assert len(value) <= MAX_TEXT
    elif isinstance(value, list):
        assert len(value) <= MAX_LIST


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "string"])
@HOSTILE
@given(data=st.data())
def test_expressions_raise_only_expression_errors_within_budget(engine: str,
                                                                data: st.DataObject) -> None:
    source = data.draw(expressions(engine))
    try:
        compiled = compile_expression(engine, source)
    except ExpressionError:
        return
    body = data.draw(EXPRESSION_BODIES)
    # Every node and every 100 characters or 10 list items cost one budget step; a step
    # takes a bounded number of lines.
    with steps(budget=400 * MAX_STEPS):
        try:
            value = compiled.evaluate(scope_of(body))
        except ExpressionError:
            return
    check_bounded_value(value)


@HOSTILE
@given(source=template_text | st.text(max_size=100), body=json_values)
def test_string_engine_raises_only_expression_errors(source: str, body: Any) -> None:
    try:
        compiled = compile_expression("string", source)
    except ExpressionError:
        return
    with steps(budget=1_000_000):
        value = compiled.evaluate(scope_of(body))
    assert isinstance(value, str | None)


COSTLY = {
    "math.js": ["9 ^ 9 ^ 9 ^ 9", "factorial(100000)", "factorial(99999999999)",
                "2 ^ 4097", "pow(10, 100000)", "10 ^ 1300 * 10 ^ 1300",
                "sum({{$context.body.l}}) + sum({{$context.body.l}})",
                "concat({{$context.body.s}}, {{$context.body.s}})",
                "string({{$context.body.l}})", "lcm(" + ", ".join(["99991"] * 200) + ")",
                "round(1.5, 99999)", "round(1.5, -99999)", "gcd(2 ^ 4000, 3 ^ 2000)",
                "(((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))" * 1,
                "-" * 5000 + "1", "not " * 5000 + "1", "1" + " + 1" * 3000],
    "formula.js": ['REPT("x", 1000000000)', 'REPT({{$context.body.s}}, 100)',
                   "POWER(10, 100000)", 'TEXTJOIN(",", TRUE, {{$context.body.l}})',
                   "SUM({{$context.body.l}}, {{$context.body.l}}, {{$context.body.l}})",
                   'SUBSTITUTE(REPT("a", 100000), "a", REPT("b", 100))',
                   'CONCATENATE(REPT("x", 500000), REPT("x", 500001))',
                   "ROUND(1.5, 99999)", 'MID("abc", 1, 10000000000)',
                   'IF(1, REPT("x", 999999), 0) & REPT("y", 999999)',
                   'LEFT({{$context.body.s}}, 99999999999)', 'FIND("b", REPT("a", 999999))',
                   'SEARCH("?*?*?*?*b", REPT("a", 200000))'],
}


@pytest.mark.parametrize("engine,source", [(e, s) for e, ss in COSTLY.items() for s in ss])
def test_costly_expressions_are_refused_within_their_budget(engine: str, source: str) -> None:
    try:
        compiled = compile_expression(engine, source)
    except ExpressionError:
        return
    body = {"s": "x" * 100_000, "l": list(range(50_000)), "n": 1}
    with steps(budget=400 * MAX_STEPS):
        try:
            value = compiled.evaluate(scope_of(body))
        except ExpressionError:
            return
    check_bounded_value(value)


# -- the HTTP checks ---------------------------------------------------------------------------

header_names = st.sampled_from(["Content-Length", "content-length", "Authorization",
                                "Content-Type", "Transfer-Encoding", "X-A", "Host", "Cookie"])
content_lengths = st.one_of(
    st.integers(-10, 10**30).map(str), st.text(max_size=10),
    st.sampled_from(["9" * 5000, "0" * 4999 + "1", " 12 ", "+1", "1e3", "0x10",
                     "\uff11\uff12", "\u00b2", "1_000", "", " ", "12, 12", "\t7"]))
header_values = st.one_of(st.text(max_size=30), content_lengths,
                          st.sampled_from(["Basic " + base64.b64encode(b"u:p").decode(),
                                           "Basic", "basic ", "Basic é", "Basic " + "A" * 5000,
                                           "application/json", "chunked"]))


def latin1(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header text as servers deliver it: latin-1 only."""
    return [(n, v.encode("latin-1", "replace").decode("latin-1")) for n, v in pairs]


@HOSTILE
@given(headers=st.lists(st.tuples(header_names, header_values), max_size=6),
       auth=st.one_of(st.none(), st.just((b"u", b"p")), st.just((b"shop", b"s3:cret"))),
       max_body=st.integers(0, 2**20))
def test_head_checks_raise_only_request_rejected(headers: list[tuple[str, str]],
                                                 auth: tuple[bytes, bytes] | None,
                                                 max_body: int) -> None:
    fields = headers_from_pairs(latin1(headers))
    if auth is not None:
        raw = fields.raw("authorization")
        fast = check_basic_raw(raw, auth, basic_header(auth))
        assert fast == check_basic(None if raw is None else raw.decode("latin-1"), auth)
    try:
        length = parse_content_length(fields.get("content-length"))
    except RequestRejected as exc:
        assert exc.status == 400
        return
    assert length is None or length >= 0


@HOSTILE
@given(headers=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=2000)), max_size=120))
def test_header_count_and_size_are_what_the_wire_carries(headers: list[tuple[str, str]]) -> None:
    pairs = [(n.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for n, v in headers]
    for fields in (asgi_headers(pairs), headers_from_pairs(latin1(headers))):
        assert fields.count == len(pairs)
        assert fields.size == sum(len(n) + len(v) + 4 for n, v in pairs)


JSON_PIECES = ['{', '}', '[', ']', '"a"', '"\\ud800"', '"\\udc00"', '"\\u0000"', ':', ',', '1',
               '-', '1e999', '-1e999', '9' * 4400, 'NaN', 'Infinity', 'null', 'true', ' ',
               '\ufeff', '"é"', '0.5', '"', '\\']
json_bodies = st.one_of(
    st.lists(st.sampled_from(JSON_PIECES), max_size=60).map(lambda p: "".join(p).encode()),
    st.binary(max_size=200),
    st.integers(1, 300).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 300).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)
content_types = st.one_of(st.none(), st.sampled_from([
    "application/json", "application/json; charset=latin-1", "APPLICATION/JSON",
    "application/vnd.x+json", "text/plain", "", ";", "application/", "+json", "text/json",
    "application/x-www-form-urlencoded"]), st.text(max_size=20))


@HOSTILE
@given(content_type=content_types, body=json_bodies, strict=st.booleans(),
       max_depth=st.integers(1, 120))
def test_parse_body_raises_only_request_rejected(content_type: str | None, body: bytes,
                                                 strict: bool, max_depth: int) -> None:
    try:
        value = parse_body(content_type, body, strict=strict, max_depth=max_depth)
    except RequestRejected as exc:
        assert exc.status in (400, 415)
        return
    assert isinstance(value, dict | list)
    if not is_json(content_type):
        assert value == {}
    # An accepted body is text a store and an answer can carry.
    json.dumps(value, ensure_ascii=False).encode("utf-8")


def test_parse_body_refuses_lone_surrogates() -> None:
    """``"\\ud800"`` is not a Unicode scalar value: no store or answer can carry it as UTF-8,
    so the request is a 400 here rather than a 500/503 later."""
    with pytest.raises(RequestRejected) as caught:
        parse_body("application/json", b'{"a":"\\ud800"}', strict=False, max_depth=100)
    assert caught.value.status == 400


@HOSTILE
@given(header=st.one_of(st.none(), st.text(max_size=60), st.sampled_from([
    "Basic", "Basic ", "basic Og==", "Basic " + base64.b64encode(b"shop:s3cret").decode(),
    "BASIC " + base64.b64encode(b"shop:s3cret").decode() + "=", "Basic \u00e9",
    "Basic " + "A" * 20_000])))
def test_check_basic_is_total(header: str | None) -> None:
    assert check_basic(header, (b"shop", b"s3cret")) in (True, False)


@HOSTILE
@given(user=st.binary(max_size=20), password=st.binary(max_size=20),
       colon=st.booleans())
def test_basic_auth_always_compares_both_parts(user: bytes, password: bytes,
                                               colon: bool) -> None:
    """No early return: every decodable credential costs two constant-time comparisons,
    whether or not the username matches."""
    credentials = user + (b":" if colon else b"") + password
    header = "Basic " + base64.b64encode(credentials).decode()
    calls: list[tuple[bytes, bytes]] = []
    real = auth_module.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    with mock.patch.object(auth_module.hmac, "compare_digest", counting):
        result = check_basic(header, (b"shop", b"s3:cret"))
    assert len(calls) == 2
    name, _, secret = credentials.partition(b":")
    assert result == (colon and name == b"shop" and secret == b"s3:cret")


@HOSTILE
@given(headers=st.lists(st.tuples(header_names, st.text(max_size=10)), max_size=8),
       name=header_names)
def test_header_value_joins_repeats(headers: list[tuple[str, str]], name: str) -> None:
    pairs = latin1(headers)
    values = [v for n, v in pairs if n.lower() == name.lower()]
    for fields in (headers_from_pairs(pairs),
                   asgi_headers([(n.encode(), v.encode("latin-1")) for n, v in pairs])):
        assert fields.get(name) == (", ".join(values) if values else None)


def test_alphabets_cover_the_grammar() -> None:
    """Guard against the strategies silently losing their hostile pieces."""
    assert "[" in "".join(QUERY_PIECES) and "%5B" in QUERY_PIECES
    assert "{{" in TEMPLATE_PIECES and any(c in string.punctuation for c in "".join(PATH_PIECES))


@pytest.mark.parametrize("backend", ["stdlib", "orjson"])
def test_answers_stay_strict_json_with_either_codec(backend: str) -> None:
    """A body number that overflows a double (``1e999``) is accepted as JSON; an answer that
    echoes it must still be JSON (``null``, as ``JSON.stringify`` writes it), whichever codec
    the process uses."""
    if backend == "orjson":
        pytest.importorskip("orjson")
    program = (
        "import json\n"
        "from webhook_workflow.http.request import parse_body\n"
        "from webhook_workflow.http.response import encode_body\n"
        "value = parse_body('application/json', b'{\"a\":1e999,\"b\":[-1e999]}', strict=False,"
        " max_depth=100)\n"
        "body, _ = encode_body(value)\n"
        "def refuse(name):\n"
        "    raise ValueError(name)\n"
        "json.loads(body, parse_constant=refuse)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "WEBHOOK_WORKFLOW_JSON": backend})
    assert done.returncode == 0, done.stderr[-1500:]
