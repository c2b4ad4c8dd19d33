"""``parse_body``: the depth bound read from the text against a plain walk of the value, the
whole function against a straightforward reference, and every refusal by its message.

Both JSON backends are checked in one run: the tests swap the module's ``loads`` (and whether
it is handed text) for the stdlib's or orjson's.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook_workflow import jsoncodec
from webhook_workflow.errors import RequestRejected
from webhook_workflow.http import request as request_module
from webhook_workflow.http.request import parse_body

BACKENDS = ["stdlib", "orjson"] if jsoncodec.HAVE_ORJSON else ["stdlib"]
MANY = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JSON = "application/json"


@contextmanager
def backend(name: str) -> Iterator[Callable[[str | bytes], Any]]:
    """Make ``parse_body`` use one backend; yield that backend's ``loads``."""
    loads: Callable[[str | bytes], Any] = (
        jsoncodec._stdlib_loads if name == "stdlib" else jsoncodec._orjson_loads)
    with mock.patch.multiple(request_module, loads=loads, _LOADS_TEXT=name == "stdlib"):
        yield loads


def depth(value: Any) -> int:
    """Nesting depth of containers: a scalar is 0, ``{}`` is 1, ``[[]]`` is 2."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def reference(content_type: str | None, body: bytes, max_depth: int,
              loads: Callable[[str | bytes], Any], strict: bool = False) -> Any:
    """The contract's rows 10 and 11 the plain way: every check on every body."""
    if not request_module.is_json(content_type):
        if strict and (body or content_type):
            raise RequestRejected(415, "Content-Type must be application/json")
        return {}
    if not body.strip():
        return {}
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected(400, "body is not valid UTF-8") from None
    try:
        value = loads(body)
    except RecursionError:
        raise RequestRejected(400, f"JSON nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        reason = str(exc.args[0] if exc.args else exc)
        if "digits" in reason and "int" in reason:
            reason = "a number has too many digits"
        raise RequestRejected(400, f"invalid JSON: {reason}") from None
    if not isinstance(value, dict | list):
        raise RequestRejected(400, "JSON body must be an object or an array")
    if _SURROGATE.search(body):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise RequestRejected(
                400, "invalid JSON: a \\u escape is a lone surrogate (not text)") from None
    if depth(value) > max_depth:
        raise RequestRejected(400, f"JSON nests deeper than {max_depth} levels")
    return value


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", call()
    except RequestRejected as exc:
        return "refused", (exc.status, exc.message)


# -- generated JSON ----------------------------------------------------------------------------

# Strings full of what a text scan could trip on: brackets, quotes, backslashes, escapes.
tricky = st.text(alphabet=st.sampled_from(list('[]{}"\\/:,ab \n\t\u00e9\u2028\U0001f600')),
                 max_size=8)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), tricky)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(tricky, kids, max_size=4)),
    max_leaves=40)
containers = values.filter(lambda v: isinstance(v, dict | list))


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A container inside a chain of up to 130 lists and objects (keys may hold brackets)."""
    value = draw(containers)
    for as_list in draw(st.lists(st.booleans(), max_size=130)):
        siblings = draw(st.lists(scalars, max_size=2))
        value = [*siblings, value] if as_list else {draw(tricky): value, "\\[": siblings}
    return value


def render(value: Any, rnd: random.Random, ascii_only: bool) -> str:
    """JSON text of ``value`` with random JSON whitespace and optional ``\\/`` escapes."""
    def space() -> str:
        return rnd.choice(["", "", " ", "\n", "\t", "\r\n  "])

    def text(s: str) -> str:
        out = json.dumps(s, ensure_ascii=ascii_only)
        return out.replace("/", "\\/") if rnd.random() < 0.3 else out

    if isinstance(value, dict):
        items = [f"{space()}{text(k)}{space()}:{space()}{render(v, rnd, ascii_only)}{space()}"
                 for k, v in value.items()]
        return "{" + (",".join(items) or space()) + "}"
    if isinstance(value, list):
        items = [f"{space()}{render(v, rnd, ascii_only)}{space()}" for v in value]
        return "[" + (",".join(items) or space()) + "]"
    return text(value) if isinstance(value, str) else json.dumps(value)


@st.composite
def documents(draw: st.DrawFn) -> tuple[Any, bytes]:
    value = draw(st.one_of(containers, deep()))
    text = render(value, draw(st.randoms(use_true_random=False)), draw(st.booleans()))
    pad = st.text(alphabet=" \t\r\n", max_size=3)
    return value, (draw(pad) + text + draw(pad)).encode("utf-8")


def limits(d: int) -> st.SearchStrategy[int]:
    """Limits around the depth ``d`` (one less, equal, one more) and anywhere else."""
    return st.one_of(st.sampled_from([d - 1, d, d + 1]), st.integers(0, 140))


@MANY
@given(doc=documents(), data=st.data())
def test_text_depth_is_the_value_depth(doc: tuple[Any, bytes], data: st.DataObject) -> None:
    value, body = doc
    max_depth = data.draw(limits(depth(value)))
    escaped = b"\\" in body
    assert request_module._text_depth_exceeds(body, max_depth, escaped) == (
        depth(value) > max_depth)
    assert request_module._depth_exceeds(value, max_depth) == (depth(value) > max_depth)


@MANY
@pytest.mark.parametrize("name", BACKENDS)
@given(doc=documents(), data=st.data())
def test_parse_body_matches_the_reference_on_json(name: str, doc: tuple[Any, bytes],
                                                  data: st.DataObject) -> None:
    value, body = doc
    max_depth = data.draw(limits(depth(value)))
    with backend(name) as loads:
        got = outcome(lambda: parse_body(JSON, body, strict=False, max_depth=max_depth))
        assert got == outcome(lambda: reference(JSON, body, max_depth, loads))
    if got[0] == "value":
        assert depth(got[1]) <= max_depth


PIECES = ["{", "}", "[", "]", '"a"', '"\\ud800"', '"\\udc00"', '"\\ud83d\\ude00"', ":", ",",
          "1", "1e999", "9" * 4400, "NaN", "null", " ", "\t", "\x0b", "\x0c", "\ufeff", '"é"',
          '"', "\\", '\\"', "\\\\", '"[\\"]"', '"a":[', '"a":{', '"a":1']
hostile = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=60).map(lambda p: "".join(p).encode()),
    st.binary(max_size=100),
    st.lists(st.sampled_from(PIECES), max_size=30).map(
        lambda p: b"\xef\xbb\xbf" + "".join(p).encode()),
    st.integers(1, 150).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 150).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)


@MANY
@pytest.mark.parametrize("name", BACKENDS)
@given(body=hostile, max_depth=st.integers(0, 160),
       content_type=st.sampled_from([None, "", JSON, "text/plain", "application/x+json"]),
       strict=st.booleans())
def test_parse_body_matches_the_reference_on_anything(name: str, body: bytes, max_depth: int,
                                                      content_type: str | None,
                                                      strict: bool) -> None:
    with backend(name) as loads:
        got = outcome(lambda: parse_body(content_type, body, strict=strict,
                                         max_depth=max_depth))
        assert got == outcome(lambda: reference(content_type, body, max_depth, loads, strict))


# -- depth at the edge -------------------------------------------------------------------------

def chain(levels: int) -> bytes:
    """``levels`` (1 or more) nested containers, lists and objects in turn, with strings and
    keys holding brackets, quotes and backslashes."""
    text = "[]"
    for level in range(1, levels):
        text = f'["]\\\\", {text}]' if level % 2 else f'{{"{{[\\"": {text}}}'
    return text.encode()


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("max_depth", [1, 2, 5, 100])
def test_depth_exactly_at_the_limit_passes_and_one_more_fails(name: str, max_depth: int) -> None:
    with backend(name):
        exact = chain(max_depth)
        assert depth(parse_body(JSON, exact, strict=True, max_depth=max_depth)) == max_depth
        # Many siblings at the limit: wide, deep and still accepted.
        wide = b"[" + b",".join([exact] * 200) + b"]"
        assert depth(parse_body(JSON, wide, strict=True, max_depth=max_depth + 1)) == (
            max_depth + 1)
        for too_deep in (chain(max_depth + 1), wide):
            with pytest.raises(RequestRejected) as caught:
                parse_body(JSON, too_deep, strict=True, max_depth=max_depth)
            assert (caught.value.status, caught.value.message) == (
                400, f"JSON nests deeper than {max_depth} levels")


@pytest.mark.parametrize("name", BACKENDS)
def test_brackets_in_strings_do_not_count(name: str) -> None:
    body = json.dumps({"a": "[" * 500, "b": "]" * 500 + "{" * 300, "c": ['\\"[[[', "\\"]}).encode()
    with backend(name):
        assert parse_body(JSON, body, strict=True, max_depth=2) == json.loads(body)


@pytest.mark.parametrize("name", BACKENDS)
def test_duplicate_keys_count_only_the_kept_value(name: str) -> None:
    """The text can be deeper than the value: a later duplicate key replaces a deep one."""
    with backend(name):
        assert parse_body(JSON, b'{"a":[[[[]]]],"a":1}', strict=True, max_depth=1) == {"a": 1}
        with pytest.raises(RequestRejected):
            parse_body(JSON, b'{"a":1,"a":[[[[]]]]}', strict=True, max_depth=1)


# -- every answer by its message ---------------------------------------------------------------

DEEP = "JSON nests deeper than 100 levels"
NO_VALUE = "invalid JSON: Expecting value: line 1 column 1 (char 0)"
TABLE: list[tuple[str | None, bytes, bool, Any]] = [
    ("text/plain", b"{}", True, (415, "Content-Type must be application/json")),
    (None, b"x", True, (415, "Content-Type must be application/json")),
    (None, b"", True, {}),
    ("text/plain", b"{}", False, {}),
    (JSON, b"", True, {}),
    (JSON, b" \t\r\n\x0b\x0c", True, {}),
    (JSON, b"\xff{}", False, (400, "body is not valid UTF-8")),
    (JSON, b'{"a":"\xc3"}', False, (400, "body is not valid UTF-8")),
    (JSON, b'["\xed\xa0\x80"]', False, (400, "body is not valid UTF-8")),
    (JSON, b"{", False, (400, "invalid JSON: Expecting property name enclosed in double quotes:"
                              " line 1 column 2 (char 1)")),
    (JSON, b"[1,]", False, (400, "invalid JSON: Expecting value: line 1 column 4 (char 3)")),
    (JSON, b"[1] x", False, (400, "invalid JSON: Extra data: line 1 column 5 (char 4)")),
    (JSON, b'{"a": NaN}', False, (400, "invalid JSON: NaN is not valid JSON")),
    (JSON, b"[" + b"9" * 5000 + b"]", False, (400, "invalid JSON: a number has too many digits")),
    (JSON, b"\x0c[1]\x0b", False, (400, NO_VALUE)),
    (JSON, b"1", False, (400, "JSON body must be an object or an array")),
    (JSON, b'"[x]"', False, (400, "JSON body must be an object or an array")),
    (JSON, b"null", False, (400, "JSON body must be an object or an array")),
    (JSON, b'{"a":"\\ud800"}', False,
     (400, "invalid JSON: a \\u escape is a lone surrogate (not text)")),
    (JSON, b'["\\udc00\\ud800"]', False,
     (400, "invalid JSON: a \\u escape is a lone surrogate (not text)")),
    (JSON, b'{"a":"\\ud83d\\ude00"}', False, {"a": "\U0001f600"}),
    (JSON, b"[" * 100 + b"]" * 100, False, "depth 100"),
    (JSON, b"[" * 101 + b"]" * 101, False, (400, DEEP)),
    (JSON, b"[" * 100_000 + b"]" * 100_000, False, (400, DEEP)),  # the parser's own limit
    (JSON, b"\xef\xbb\xbf[1]", False, [1]),
    (JSON, b"\xef\xbb\xbf", False, (400, NO_VALUE)),
    (JSON, b"\xef\xbb\xbf\xef\xbb\xbf[1]", False, (400, NO_VALUE)),
    ("application/vnd.x+json; charset=utf-8", b'{"a":[1]}', True, {"a": [1]}),
]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(("content_type", "body", "strict", "expected"), TABLE)
def test_each_answer(name: str, content_type: str | None, body: bytes, strict: bool,
                     expected: Any) -> None:
    with backend(name):
        got = outcome(lambda: parse_body(content_type, body, strict=strict, max_depth=100))
    if expected == "depth 100":
        assert got[0] == "value" and depth(got[1]) == 100
    elif isinstance(expected, tuple):
        assert got == ("refused", expected)
    else:
        assert got == ("value", expected)


def test_the_accepted_media_type_is_named() -> None:
    with pytest.raises(RequestRejected) as caught:
        parse_body("text/plain", b"{}", strict=True, max_depth=100,
                   accepted="application/json or application/x-www-form-urlencoded")
    assert caught.value.status == 415
    assert caught.value.message == (
        "Content-Type must be application/json or application/x-www-form-urlencoded")
