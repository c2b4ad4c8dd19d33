"""Templates: typed vs spliced values, defaults, list mapping, text conversion, compile errors."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_workflow.errors import TemplateError
from webhook_workflow.status import Status
from webhook_workflow.variables.paths import MISSING
from webhook_workflow.variables.templates import (
    Template,
    compile_template,
    find_placeholders,
    json_default,
    to_text,
)

NOW = datetime(2026, 11, 28, 1, 18, 48, 123456, tzinfo=UTC)

SCOPE: dict[str, Any] = {
    "$context": {
        "headers": {"x-signature": "sig", "X-Request-Id": "r1"},
        "query": {"q": [{"title": "A"}, {"title": "B"}]},
        "body": {
            "order": {"id": 42, "status": "paid", "total": 12.5, "note": None},
            "items": [{"sku": "S1", "tags": ["t1"]}, {"sku": "S2", "tags": ["t2", "t3"]}],
            "flag": True,
            "when": NOW,
        },
    },
    "$jobsMapByNodeKey": {"q": [{"title": "A"}, {"title": "B"}], "n": 1.0},
    "$scopes": {"loop": {"item": "x", "index": 0}},
    "$system": {"now": lambda: NOW, "epoch": 1605024000, "cls": dict},
    "$env": {"NAME": "prod"},
}

RENDER_CASES: list[tuple[Any, Any]] = [
    # exactly one placeholder: the value with its type
    ("{{$context.body.order.id}}", 42),
    ("{{$context.body.order}}", SCOPE["$context"]["body"]["order"]),
    ("{{ $context.body.flag }}", True),
    ("{{$context.body.order.total}}", 12.5),
    ("{{$context.body.order.note}}", None),
    ("{{$context.body.nope}}", None),
    ("{{$context.body.when}}", NOW),
    ("{{$system.now}}", NOW),  # callables are called
    ("{{$system.cls}}", dict),  # classes are not
    ("{{$context.body.items.sku}}", ["S1", "S2"]),  # list mapping
    ("{{$context.body.items.tags}}", ["t1", "t2", "t3"]),  # flattened one level
    ("{{$context.body.items[1].sku}}", "S2"),
    ("{{$context.body.items.1.sku}}", "S2"),
    ("{{$jobsMapByNodeKey.q.title}}", ["A", "B"]),
    ("{{$scopes.loop.index}}", 0),
    ("{{$env.NAME}}", "prod"),
    ("{{$context.headers.x-signature}}", "sig"),
    ("{{ctx.$context.body.order.id}}", 42),  # the ctx alias
    # defaults: a string, used for missing and null
    ("{{$context.body.nope:fallback}}", "fallback"),
    ("{{$context.body.order.note:none}}", "none"),
    ("{{$context.body.order.id:0}}", 42),
    ("{{$context.body.nope:}}", ""),
    ("{{ $context.body.nope:a:b }}", "a:b"),  # split at the first colon
    ("{{$context.body.nope: spaced}}", " spaced"),  # kept as written
    # spliced
    (" {{$context.body.order.id}}", " 42"),  # surrounding text makes it a string
    ("{{$context.body.order.id}} ", "42 "),
    ("id={{$context.body.order.id}}&s={{$context.body.order.status}}", "id=42&s=paid"),
    ("{{$context.body.order.id}}{{$context.body.order.id}}", "4242"),
    ("[{{$context.body.order.note}}]", "[]"),
    ("[{{$context.body.nope}}]", "[]"),
    ("[{{$context.body.nope:d}}]", "[d]"),
    ("[{{$context.body.order.note:d}}]", "[d]"),
    ("f={{$context.body.flag}}", "f=true"),
    ("t={{$context.body.order.total}}", "t=12.5"),
    ("n={{$jobsMapByNodeKey.n}}", "n=1"),
    ("at {{$system.now}}", "at 2026-11-28T01:18:48.123Z"),
    ("{{$context.body.items.sku}}!", '["S1","S2"]!'),
    ("o={{$context.body.order}}", 'o={"id":42,"status":"paid","total":12.5,"note":null}'),
    ("b={{$context.body.when}}", "b=2026-11-28T01:18:48.123Z"),
    # static text
    ("plain", "plain"),
    ("{{#each items}}", "{{#each items}}"),  # not placeholder syntax: literal
    ('{{ "x" }}', '{{ "x" }}'),
    ("{single}", "{single}"),
    # containers
    ({"id": "{{$context.body.order.id}}", "ok": True}, {"id": 42, "ok": True}),
    (["{{$env.NAME}}", 1, None], ["prod", 1, None]),
    ({"{{$env.NAME}}": 1}, {"prod": 1}),  # keys are templates
    ({"{{$context.body.order.id}}": "v"}, {"42": "v"}),  # keys are always text
    ({"k-{{$env.NAME}}": {"deep": ["{{$scopes.loop.item}}"]}}, {"k-prod": {"deep": ["x"]}}),
    (7, 7),
    (None, None),
]


@pytest.mark.parametrize(("source", "expected"), RENDER_CASES)
def test_render(source: Any, expected: Any) -> None:
    assert compile_template(source).render(SCOPE) == expected


def test_typed_value_is_returned_not_copied() -> None:
    body = SCOPE["$context"]["body"]
    assert compile_template("{{$context.body}}").render(SCOPE) is body


def test_rendered_value_is_not_re_evaluated() -> None:
    scope = {"$context": {"body": {"text": "{{$env.NAME}}"}}, "$env": {"NAME": "secret"}}
    assert compile_template("{{$context.body.text}}").render(scope) == "{{$env.NAME}}"
    assert compile_template("x {{$context.body.text}}").render(scope) == "x {{$env.NAME}}"


def test_missing_root_in_scope_renders_as_missing() -> None:
    assert compile_template("{{$scopes.loop.item}}").render({}) is None
    assert compile_template("a{{$scopes.loop.item}}b").render({}) == "ab"


def test_static_template_returns_the_same_object() -> None:
    value = {"a": [1, {"b": "no placeholders"}], "c": "{{#raw}}"}
    template = compile_template(value)
    assert template.is_static
    assert template.paths == ()
    assert template.render(SCOPE) is value


def test_templated_container_shares_static_parts_and_builds_fresh_containers() -> None:
    static_part = {"x": [1, 2]}
    value = {"s": static_part, "d": "{{$env.NAME}}"}
    first = compile_template(value).render(SCOPE)
    second = compile_template(value).render(SCOPE)
    assert first is not value and first is not second
    assert first["s"] is static_part
    assert value == {"s": static_part, "d": "{{$env.NAME}}"}  # the source is untouched


def test_paths_are_listed_once_in_order_without_alias() -> None:
    template = compile_template(
        {"{{$env.A}}": ["{{ctx.$context.body.x}}", "{{$env.A}} {{$system.now:n}}"]}
    )
    assert not template.is_static
    assert template.paths == ("$env.A", "$context.body.x", "$system.now")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{foo.bar}}", "unknown variable 'foo'"),
        ("{{context.body}}", "unknown variable 'context'"),
        ("x {{$contex.a}}", "unknown variable '\\$contex'"),
        ("{{ctx}}", "unknown variable 'ctx'"),
        ("{{ctx.foo}}", "unknown variable 'foo'"),
        ("{{ }}", "empty placeholder"),
        ("{{:d}}", "empty placeholder"),
        ("{{$context..a}}", "invalid placeholder"),
        ("{{$context.a[x]}}", "invalid placeholder"),
        ({"a": [{"b": "{{nope}}"}]}, "^a\\[0\\]\\.b: unknown variable 'nope'"),
        ({"{{nope}}": 1}, "unknown variable 'nope'"),
    ],
)
def test_compile_errors(source: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        compile_template(source)


def test_find_placeholders() -> None:
    text = "a {{ $context.x }} b {{$env.Y:d e}}{{#no}}"
    assert find_placeholders(text) == [
        (2, 18, "$context.x", None),
        (21, 35, "$env.Y", "d e"),
    ]
    assert find_placeholders("none here") == []


TEXT_CASES: list[tuple[Any, str]] = [
    (None, ""),
    (MISSING, ""),
    ("s", "s"),
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-17, "-17"),
    (10**30, "1000000000000000000000000000000"),
    (Status.RESOLVED, "1"),  # IntEnum as its number
    (1.0, "1"),
    (-0.0, "0"),
    (42.5, "42.5"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1e20, "100000000000000000000"),
    (1e21, "1e+21"),
    (1.5e300, "1.5e+300"),
    (123456789012345680000.0, "123456789012345680000"),
    (0.000001, "0.000001"),
    (1e-7, "1e-7"),
    (-2.5e-8, "-2.5e-8"),
    (1e16, "10000000000000000"),
    (float("nan"), "NaN"),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
    (NOW, "2026-11-28T01:18:48.123Z"),
    (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000Z"),  # naive = UTC
    (
        datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=timezone(timedelta(hours=2))),
        "2026-01-02T01:04:05.999Z",
    ),
    (date(2026, 2, 3), "2026-02-03"),
    ({"a": [1, "é", None, 2.5]}, '{"a":[1,"é",null,2.5]}'),
    ([NOW, date(2026, 2, 3)], '["2026-11-28T01:18:48.123Z","2026-02-03"]'),
    ({"n": float("nan")}, '{"n":null}'),
    ({1: "x"}, '{"1":"x"}'),
    ((1, 2), "[1,2]"),
]


@pytest.mark.parametrize(("value", "expected"), TEXT_CASES)
def test_to_text(value: Any, expected: str) -> None:
    assert to_text(value) == expected


def test_to_text_survives_cycles_and_odd_objects() -> None:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    assert to_text(cycle) == "[1,null]"
    assert to_text({"s": {1}}) == '{"s":[1]}'
    assert to_text({"o": object()}).startswith('{"o":"<object object')


def test_json_default() -> None:
    assert json.dumps({"t": NOW}, default=json_default) == '{"t": "2026-11-28T01:18:48.123Z"}'
    assert json_default(date(2026, 2, 3)) == "2026-02-03"
    with pytest.raises(TypeError, match="set"):
        json.dumps({"s": {1}}, default=json_default)


def test_template_is_immutable_and_thread_safe() -> None:
    template = compile_template({"id": "{{$context.body.order.id}}", "n": "#{{$env.NAME}}"})
    with pytest.raises(AttributeError):
        template.is_static = True  # type: ignore[misc]
    results: list[Any] = []

    def work() -> None:
        for i in range(200):
            results.append(template.render({"$context": {"body": {"order": {"id": i}}}}))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800
    assert all(r["n"] == "#" for r in results)
    assert isinstance(template, Template)


def _no_braces(text: str) -> bool:
    return "{{" not in text


static_text = st.text().filter(_no_braces)
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | static_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(static_text, children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_like)
def test_static_values_render_unchanged(value: Any) -> None:
    template = compile_template(value)
    assert template.is_static
    assert template.render(SCOPE) is value


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_to_text_never_raises_on_json_values(value: Any) -> None:
    text = to_text(value)
    assert isinstance(text, str)
    if isinstance(value, dict | list):
        json.loads(text)  # containers always come out as valid JSON


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_number_text_round_trips(value: float) -> None:
    assert float(to_text(value)) == value


@given(static_text, static_text, st.integers())
def test_splice_keeps_surrounding_text(before: str, after: str, number: int) -> None:
    template = compile_template(f"{before}{{{{$env.N}}}}{after}")
    rendered = template.render({"$env": {"N": number}})
    assert rendered == (f"{before}{number}{after}" if before or after else number)
