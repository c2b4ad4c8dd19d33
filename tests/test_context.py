"""Building ``$context`` from headers, query and body (SPEC §3)."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from webhook_workflow.variables.context import ContextBuilder, FieldSpec
from webhook_workflow.variables.paths import MAX_SET_INDEX

HEADERS = CIMultiDict({"x-request-id": "abc", "Content-Type": "application/json"})
QUERY: dict[str, Any] = {"source": "bench", "query": [{"a": "1"}], "tags": ["x", "y"]}
BODY: dict[str, Any] = {
    "order": {"id": 7, "status": "paid", "lines": [{"sku": "A"}, {"sku": "B"}]},
    "n": None,
}


def build(
    headers: list[FieldSpec] | None = None,
    query: list[FieldSpec] | None = None,
    body: list[FieldSpec] | None = None,
    body_value: Any = BODY,
) -> dict[str, Any]:
    builder = ContextBuilder(headers or [], query or [], body or [])
    return builder.build(HEADERS, QUERY, body_value)


def test_unconfigured_sections_use_the_whole_parsed_values() -> None:
    context = build()
    assert context == {"headers": {}, "query": QUERY, "body": BODY}
    assert context["query"] is QUERY
    assert context["body"] is BODY


def test_unconfigured_body_may_be_a_list() -> None:
    assert build(body_value=[1, 2])["body"] == [1, 2]


HEADER_CASES: list[tuple[list[FieldSpec], dict[str, Any]]] = [
    ([FieldSpec("X-Request-Id")], {"X-Request-Id": "abc"}),  # case-insensitive, key as written
    ([FieldSpec("x-REQUEST-id")], {"x-REQUEST-id": "abc"}),
    ([FieldSpec("X-Missing")], {"X-Missing": None}),
    ([FieldSpec("X-Request-Id", var="rid")], {"rid": "abc"}),
    ([FieldSpec("X-Request-Id", alias="Request")], {"X-Request-Id": "abc"}),  # alias: display
    ([FieldSpec("x.dotted")], {"x.dotted": None}),  # header names stay flat
]


@pytest.mark.parametrize(("specs", "expected"), HEADER_CASES)
def test_headers(specs: list[FieldSpec], expected: dict[str, Any]) -> None:
    assert build(headers=specs)["headers"] == expected


def test_repeated_headers_come_joined_by_the_caller() -> None:
    headers = CIMultiDict([("X-Tag", "a, b")])
    builder = ContextBuilder([FieldSpec("x-tag")], [], [])
    assert builder.build(headers, {}, {})["headers"] == {"x-tag": "a, b"}


BODY_CASES: list[tuple[list[FieldSpec], Any]] = [
    ([FieldSpec("order.id")], {"order": {"id": 7}}),
    (
        [FieldSpec("order.id"), FieldSpec("order.status", alias="Status")],
        {"order": {"id": 7, "status": "paid"}},
    ),
    ([FieldSpec("order.id", var="orderId")], {"orderId": 7}),
    ([FieldSpec("order.missing")], {"order": {"missing": None}}),
    ([FieldSpec("n")], {"n": None}),
    ([FieldSpec("order.lines[1].sku")], {"order": {"lines": [None, {"sku": "B"}]}}),
    ([FieldSpec("order.lines.sku")], {"order": {"lines": {"sku": None}}}),  # no list mapping
    ([FieldSpec("order.lines")], {"order": {"lines": BODY["order"]["lines"]}}),
    ([FieldSpec("order")], {"order": BODY["order"]}),
]


@pytest.mark.parametrize(("specs", "expected"), BODY_CASES)
def test_body(specs: list[FieldSpec], expected: Any) -> None:
    assert build(body=specs)["body"] == expected


QUERY_CASES: list[tuple[list[FieldSpec], Any]] = [
    ([FieldSpec("source", alias="Source")], {"source": "bench"}),
    ([FieldSpec("query[0].a")], {"query": [{"a": "1"}]}),
    ([FieldSpec("tags.1", var="second")], {"second": "y"}),
    ([FieldSpec("absent")], {"absent": None}),
]


@pytest.mark.parametrize(("specs", "expected"), QUERY_CASES)
def test_query(specs: list[FieldSpec], expected: Any) -> None:
    context = build(query=specs)
    assert context["query"] == expected
    assert context["body"] is BODY  # unconfigured sections are independent


def test_paths_into_a_top_level_list_body() -> None:
    builder = ContextBuilder([], [], [FieldSpec("[1].id")])
    assert builder.build(HEADERS, {}, [{"id": 1}, {"id": 2}])["body"] == {"1": {"id": 2}}


def test_scalar_body_with_configured_items_gives_nulls() -> None:
    assert build(body=[FieldSpec("a.b")], body_value="text")["body"] == {"a": {"b": None}}


def test_build_returns_fresh_section_dicts() -> None:
    builder = ContextBuilder([FieldSpec("X-Request-Id")], [], [FieldSpec("order.id")])
    first = builder.build(HEADERS, {}, BODY)
    second = builder.build(HEADERS, {}, BODY)
    assert first == second
    assert first["headers"] is not second["headers"]
    assert first["body"] is not second["body"]


@pytest.mark.parametrize("key", ["", "a..b", "a[x]", "a["])
def test_invalid_paths_fail_at_compile_time(key: str) -> None:
    with pytest.raises(ValueError):
        ContextBuilder([], [], [FieldSpec(key)])
    with pytest.raises(ValueError):
        ContextBuilder([], [FieldSpec(key)], [])


def test_huge_indices_fail_at_compile_time_unless_stored_flat() -> None:
    with pytest.raises(ValueError, match="over"):
        ContextBuilder([], [], [FieldSpec(f"a[{MAX_SET_INDEX + 1}]")])
    builder = ContextBuilder([], [], [FieldSpec(f"a[{MAX_SET_INDEX + 1}]", var="v")])
    assert builder.build(HEADERS, {}, {"a": []})["body"] == {"v": None}


def test_empty_header_key_is_rejected() -> None:
    with pytest.raises(ValueError):
        ContextBuilder([FieldSpec("")], [], [])


def test_field_spec_from_dict() -> None:
    assert FieldSpec.from_dict({"key": "a.b", "alias": "A", "_var": "v"}) == FieldSpec(
        "a.b", "A", "v"
    )
    assert FieldSpec.from_dict({"key": "a", "alias": "", "_var": ""}) == FieldSpec("a")


@pytest.mark.parametrize("keys", [
    [("order", None), ("order.extra", None)],            # a path, then one inside it
    [("order", "o"), ("o.extra", None)],                 # a _var, then a path inside it
    [("order.lines", None), ("order.lines.0.sku", None), ("order", None),
     ("order.status.x", None)],                          # deeper, and after an overwrite
    [("order", None), ("order.lines.5", None)],          # an index that grows a list
])
def test_overlapping_items_never_write_into_the_parsed_body(
        keys: list[tuple[str, str | None]]) -> None:
    import copy

    body = copy.deepcopy(BODY)
    before = copy.deepcopy(body)
    context = build(body=[FieldSpec(key, var=var) for key, var in keys], body_value=body)
    assert body == before
    assert context["body"] is not body


def test_overlapping_items_give_the_same_context_as_before() -> None:
    context = build(body=[FieldSpec("order"), FieldSpec("order.extra")])
    assert context["body"] == {"order": {**BODY["order"], "extra": None}}
    context = build(body=[FieldSpec("order", var="order"), FieldSpec("order.id")])
    assert context["body"] == {"order": {**BODY["order"], "id": 7}}
