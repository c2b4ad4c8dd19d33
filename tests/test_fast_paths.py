"""The specialised render and ``$context`` paths agree with straightforward references.

Template lookups walk plain dicts in generated straight-line code and resume the generic walk
on anything else; ``ContextBuilder`` compiles each workflow into one generated function. The
references below are the plain forms (``Path.get`` with ``map_lists``, ``set_path`` per
item); random scopes, bodies and paths must give the same values, types and key order.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from webhook_workflow.variables.context import ContextBuilder, FieldSpec
from webhook_workflow.variables.paths import MISSING, Path, compile_path, set_path
from webhook_workflow.variables.templates import (
    ROOTS,
    compile_template,
    find_placeholders,
    to_text,
)

# --- value helpers ---------------------------------------------------------------------------


class Proxied(dict[str, Any]):
    """Marks a dict that :func:`fresh` turns into a read-only MappingProxyType."""


class Tupled(list[Any]):
    """Marks a list that :func:`fresh` turns into a tuple."""


class SubDict(dict[str, Any]):
    """A dict subclass: the generic walk reads it, the plain-dict fast path must not."""


def fresh(value: Any) -> Any:
    """A new copy of a generated value, the marked containers turned into their real type."""
    if isinstance(value, Proxied):
        return MappingProxyType({k: fresh(v) for k, v in value.items()})
    if isinstance(value, SubDict):
        return SubDict({k: fresh(v) for k, v in value.items()})
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    if isinstance(value, Tupled):
        return tuple(fresh(v) for v in value)
    if isinstance(value, list):
        return [fresh(v) for v in value]
    return value


def same(a: Any, b: Any, active: frozenset[tuple[int, int]] = frozenset()) -> bool:
    """Equal values of the same types, dict keys in the same order.

    Cycles compare equal when both sides loop at the same place: ``_var`` and nested items
    over one path make ``set_path`` write a value into itself, in the reference too.
    """
    if type(a) is not type(b):
        return False
    if not isinstance(a, Mapping | list | tuple):
        return a is b or a == b
    if (id(a), id(b)) in active:
        return True
    inner = active | {(id(a), id(b))}
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(same(a[k], b[k], inner) for k in a)
    return len(a) == len(b) and all(same(x, y, inner) for x, y in zip(a, b, strict=True))


# Keys a placeholder can spell, plus (for request items) one it cannot.
SEGMENTS = ["a", "b", "0", "1", "01", "x-y", "$c", "(x)=*"]
segment = st.sampled_from(SEGMENTS)
# Request items favour keys over indexes, so that most sections take the grouped form.
item_segment = st.sampled_from(["a", "b", "c", "x-y", *SEGMENTS, "q'\"{}\n"])
scalar = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.text(max_size=3)
    | st.floats(allow_nan=False)
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    mapping = st.dictionaries(segment, children, max_size=4)
    sequence = st.lists(children, max_size=3)
    return mapping | mapping.map(Proxied) | mapping.map(SubDict) | sequence | sequence.map(Tupled)


json_like = st.recursive(scalar, containers, max_leaves=20)


@st.composite
def path_texts(
    draw: st.DrawFn, max_size: int = 4, segments: st.SearchStrategy[str] = segment
) -> str:
    """A valid path of segments, digit segments spelled ``.0`` or ``[0]`` at random."""
    text = ""
    for i, seg in enumerate(draw(st.lists(segments, min_size=1, max_size=max_size))):
        if seg.isdigit() and draw(st.booleans()):
            text += f"[{seg}]"
        else:
            text += f".{seg}" if i else seg
    return text


# --- paths -----------------------------------------------------------------------------------


@given(path_texts(max_size=6), st.data())
def test_tail_round_trips_and_continues_the_walk(text: str, data: st.DataObject) -> None:
    path = compile_path(text)
    start = data.draw(st.integers(0, len(path.segments) - 1))
    tail = path.tail(start)
    assert tail.segments == path.segments[start:]
    assert compile_path(tail.text) == tail
    value = fresh(data.draw(json_like))
    map_lists = data.draw(st.booleans())
    # Reading the first ``start`` segments (none when 0), then the tail, is reading the path.
    reached = Path(text, path.segments[:start]).get(value, map_lists=map_lists) if start else value
    assert same(tail.get(reached, map_lists=map_lists), path.get(value, map_lists=map_lists))


def test_tail_rejects_the_end() -> None:
    with pytest.raises(ValueError):
        compile_path("a.b").tail(2)


# --- template lookups ------------------------------------------------------------------------


def reference_lookup(path_text: str, default: str | None, scope: Mapping[str, Any]) -> Any:
    """A placeholder's value the plain way: the generic walk, functions called, defaults."""
    found = compile_path(path_text).get(scope, map_lists=True)
    if callable(found) and not isinstance(found, type):
        found = found()
    if found is None or found is MISSING:
        return default
    return found


def reference_string(text: str, scope: Mapping[str, Any], *, typed: bool) -> Any:
    spots = find_placeholders(text)
    if not spots:
        return text
    values = [
        reference_lookup(path.removeprefix("ctx."), default, scope)
        for _s, _e, path, default in spots
    ]
    if len(spots) == 1 and spots[0][0] == 0 and spots[0][1] == len(text):
        return values[0] if typed else to_text(values[0])
    out, cursor = [], 0
    for (start, end, _path, _default), value in zip(spots, values, strict=True):
        out += [text[cursor:start], to_text(value)]
        cursor = end
    return "".join([*out, text[cursor:]])


def reference_render(value: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return reference_string(value, scope, typed=True)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            rendered = reference_render(item, scope)
            out[reference_string(key, scope, typed=False) if isinstance(key, str) else key] = (
                rendered
            )
        return out
    if isinstance(value, list):
        return [reference_render(item, scope) for item in value]
    return value


# Stored values a lookup may meet: functions (called), classes (not), MISSING stored as such.
lookup_leaf = (
    scalar
    | st.builds(lambda v: lambda: v, scalar | st.just(MISSING))
    | st.sampled_from([dict, int, MISSING])
)
scope_value = st.recursive(lookup_leaf, containers, max_leaves=25)
defaults = st.none() | st.text(alphabet="ab -:", max_size=4)


@st.composite
def scopes(draw: st.DrawFn) -> Mapping[str, Any]:
    roots = draw(st.lists(st.sampled_from(sorted(ROOTS)), unique=True))
    scope = {root: fresh(draw(scope_value)) for root in roots}
    return MappingProxyType(scope) if draw(st.integers(0, 5)) == 0 else scope


@st.composite
def placeholders(draw: st.DrawFn) -> str:
    rest = draw(path_texts())
    path = draw(st.sampled_from(sorted(ROOTS))) + ("" if rest[0] == "[" else ".") + rest
    if draw(st.integers(0, 5)) == 0:
        path = "ctx." + path
    default = draw(defaults)
    return "{{" + path + ("" if default is None else ":" + default) + "}}"


@settings(max_examples=300)
@given(placeholders(), scopes())
def test_lookup_matches_the_generic_walk(text: str, scope: Mapping[str, Any]) -> None:
    rendered = compile_template(text).render(scope)
    assert same(rendered, reference_string(text, scope, typed=True))


@given(st.lists(placeholders(), min_size=1, max_size=4), st.text("x {}", max_size=3), scopes())
def test_splice_matches_the_reference(
    parts: list[str], glue: str, scope: Mapping[str, Any]
) -> None:
    text = glue.join(parts) + glue
    assert same(compile_template(text).render(scope), reference_string(text, scope, typed=True))


template_leaf = placeholders() | scalar | st.text("ab {}", max_size=4)
template_value = st.recursive(
    template_leaf,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text("ab", max_size=2) | placeholders(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(template_value, scopes())
def test_containers_match_the_reference(value: Any, scope: Mapping[str, Any]) -> None:
    assert same(compile_template(value).render(scope), reference_render(value, scope))


def ph(path: str) -> str:
    """The placeholder of ``path``."""
    return "{{" + path + "}}"


def _deep(depth: int, leaf: Any) -> dict[str, Any]:
    value: Any = leaf
    for i in reversed(range(depth)):
        value = {f"k{i}": value}
    return value


@pytest.mark.parametrize("depth", [1, 15, 16, 17, 40])
def test_long_paths(depth: int) -> None:
    text = "$env." + ".".join(f"k{i}" for i in range(depth))
    scope = {"$env": _deep(depth, "leaf")}
    assert compile_template(ph(text)).render(scope) == "leaf"
    assert compile_template(ph(text + ".no:d")).render(scope) == "d"
    listed = {"$env": [_deep(depth, "a"), _deep(depth, "b")]}
    assert compile_template(ph(text)).render(listed) == ["a", "b"]


@pytest.mark.parametrize("size", [1, 63, 64, 65, 200])
def test_large_containers_and_splices(size: int) -> None:
    scope = {"$env": {f"k{i}": i for i in range(size)}}
    value = {
        "dict": {f"key{i}": ph(f"$env.k{i}") if i % 2 else i for i in range(size)},
        "list": [ph(f"$env.k{i}") if i % 3 else "s" for i in range(size)],
        "text": "-".join(ph(f"$env.k{i}") for i in range(size)) + "!",
    }
    rendered = compile_template(value).render(scope)
    assert same(rendered, reference_render(value, scope))
    assert list(rendered["dict"]) == [f"key{i}" for i in range(size)]


def test_render_order_is_kept_for_functions_with_effects() -> None:
    def counting_scope() -> dict[str, Any]:
        counter = itertools.count(1)
        return {"$system": {"id": lambda: next(counter)}}

    entries = {"a": "{{$system.id}}", "b": ["{{$system.id}}", "{{$system.id}}"]}
    assert compile_template(entries).render(counting_scope()) == {"a": 1, "b": [2, 3]}
    # A templated key renders after its value, as ``out[key] = value`` evaluates.
    keyed = {"{{$system.id}}": "{{$system.id}}", "z": "{{$system.id}}"}
    assert compile_template(keyed).render(counting_scope()) == {"2": 1, "z": 3}
    text = "{{$system.id}}/{{$system.id}}"
    assert compile_template(text).render(counting_scope()) == "1/2"


def test_keys_are_data_not_code() -> None:
    key = "__import__(os)=1,(x)"  # every character the placeholder syntax allows
    scope = {"$context": {"body": {key: {"y": 1}}}}
    assert compile_template(ph(f"$context.body.{key}.y")).render(scope) == 1
    odd = {"')\n{c}": ph(f"$context.body.{key}"), '"': ["\\", ph(f"$context.body.{key}.y")]}
    assert compile_template(odd).render(scope) == {"')\n{c}": {"y": 1}, '"': ["\\", 1]}


def test_a_static_template_is_its_source() -> None:
    value = {"a": [1, "{{not a placeholder"]}
    template = compile_template(value)
    assert template.is_static and template.render({}) is value


# --- ContextBuilder --------------------------------------------------------------------------


def reference_build(
    headers: list[FieldSpec],
    query: list[FieldSpec],
    body: list[FieldSpec],
    request: tuple[Mapping[str, str], Any, Any],
) -> dict[str, Any]:
    """``$context`` the plain way: every item read with Path.get and stored with set_path."""
    got, query_value, body_value = request

    def extract(specs: list[FieldSpec], source: Any) -> Any:
        if not specs:
            return source
        out: dict[str, Any] = {}
        for spec in specs:
            path = compile_path(spec.key)
            value = path.get(fresh(source))
            value = None if value is MISSING else value
            if spec.var is None:
                set_path(out, path, value)
            else:
                out[spec.var] = value
        return out

    return {
        "headers": {spec.var or spec.key: got.get(spec.key) for spec in headers},
        "query": extract(query, query_value),
        "body": extract(body, body_value),
    }


HEADER_NAMES = ["X-A", "x-a", "X-B", "a.b", "Content-Type"]
header_specs = st.lists(
    st.builds(
        FieldSpec,
        st.sampled_from(HEADER_NAMES),
        st.none(),
        st.none() | st.sampled_from(["v", "X-B"]),
    ),
    max_size=4,
)
item_specs = st.lists(
    st.builds(
        FieldSpec,
        path_texts(segments=item_segment),
        st.none() | st.just("Alias"),
        st.none() | st.none() | st.sampled_from(["v", "w", "a", "0"]),
    ),
    max_size=5,
)
header_pairs = st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.text(max_size=3)), max_size=4)


@st.composite
def request_values(draw: st.DrawFn, specs: list[FieldSpec]) -> Any:
    """A query or body: random, with values planted at most configured paths so that the
    items mostly find something (the planted containers are plain dicts and lists)."""
    value = draw(json_like | st.dictionaries(segment, json_like, max_size=3))
    if isinstance(value, dict):
        for spec in specs:
            if draw(st.integers(0, 3)):
                set_path(value, compile_path(spec.key), draw(json_like))
    return value


@settings(max_examples=500)
@given(header_specs, item_specs, item_specs, header_pairs, st.data())
def test_context_builder_matches_the_reference(
    headers: list[FieldSpec],
    query: list[FieldSpec],
    body: list[FieldSpec],
    pairs: list[tuple[str, str]],
    data: st.DataObject,
) -> None:
    got = CIMultiDict(pairs)
    query_value = data.draw(request_values(query))
    body_value = data.draw(request_values(body))
    builder = ContextBuilder(headers, query, body)
    # The reference reads from copies, so it never writes into the request (``a`` then
    # ``a.b`` writes into what ``a`` stored); the builder must not either.
    mine = (got, fresh(query_value), fresh(body_value))
    theirs = (got, fresh(query_value), fresh(body_value))
    pristine = (got, fresh(query_value), fresh(body_value))
    built = builder.build(*mine)
    assert same(built, reference_build(headers, query, body, theirs))
    assert same(mine, pristine)
    if not body:
        assert built["body"] is mine[2]
    if not query:
        assert built["query"] is mine[1]


def test_context_builder_groups_prefixes_and_keeps_key_order() -> None:
    specs = [FieldSpec(k) for k in ("order.id", "meta.x", "order.status", "order.ref.n")]
    specs.append(FieldSpec("order.id", var="orderId"))
    body = {"order": {"id": 1, "status": "paid", "ref": [{"n": 1}]}, "meta": "text"}
    built = ContextBuilder([], [], specs).build({}, {}, body)
    assert same(
        built["body"],
        {
            "order": {"id": 1, "status": "paid", "ref": {"n": None}},
            "meta": {"x": None},
            "orderId": 1,
        },
    )


def test_context_builder_keys_are_data_not_code() -> None:
    key = "')\n__import__('os').system('x')#"  # dots split it: ``os')`` is a segment
    body: dict[str, Any] = {}
    set_path(body, compile_path(key), 5)
    builder = ContextBuilder([FieldSpec("{x}'", var="\"'")], [], [FieldSpec(key)])
    built = builder.build(CIMultiDict({"{x}'": "h"}), {}, body)
    assert built == {"headers": {"\"'": "h"}, "query": {}, "body": body}


@pytest.mark.parametrize("depth", [1, 30, 300])
def test_context_builder_deep_paths(depth: int) -> None:
    key = ".".join(f"k{i}" for i in range(depth))
    body = _deep(depth, "leaf")
    built = ContextBuilder([], [], [FieldSpec(key), FieldSpec(key + "x")]).build({}, {}, body)
    expected: dict[str, Any] = {}
    set_path(expected, compile_path(key), "leaf")
    set_path(expected, compile_path(key + "x"), None)
    assert same(built["body"], expected)


def test_headers_accept_any_mapping_with_get() -> None:
    class Lower(Mapping[str, str]):
        def __init__(self, data: dict[str, str]) -> None:
            self._data = data

        def __getitem__(self, name: str) -> str:
            return self._data[name.lower()]

        def __iter__(self) -> Any:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    builder = ContextBuilder([FieldSpec("X-Id"), FieldSpec("X-No")], [], [])
    built = builder.build(Lower({"x-id": "1"}), {}, None)
    assert built == {"headers": {"X-Id": "1", "X-No": None}, "query": {}, "body": None}
