"""The bound on the number of values in a JSON body: engine ``max_json_items`` and the
workflow's ``config.request.maxJsonItems``, through both doors, decided from the text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from doors import Door, Request

from webhook_workflow import DefinitionError, Engine
from webhook_workflow.http.request import RequestRejected, parse_body

JSON = ("Content-Type", "application/json")
PATH = "/api/webhook:trigger/"


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(max_json_items=1000)
    eng.add_workflow({"key": "echo", "sync": True, "nodes": [
        {"key": "out", "type": "output", "config": {"value": "{{$context.body}}"}}]})
    eng.add_workflow({"key": "small", "sync": True,
                      "config": {"request": {"maxJsonItems": 10}}, "nodes": []})
    yield eng
    eng.close(timeout=5)


def post(door: Door, key: str, body: bytes) -> Any:
    return door.call(Request(path=PATH + key, body=body, headers=[JSON]))


@pytest.mark.parametrize("body", [
    b"[" + b",".join([b"{}"] * 1000) + b"]",  # 1001 values
    b"[" + b",".join([b"0"] * 1000) + b"]",
    b'{"a":' + b"[" * 50 + b"]" * 50 + b"," + b'"b":[' + b",".join([b"[]"] * 960) + b"]}",
], ids=["objects", "zeros", "nested"])
def test_a_body_with_too_many_values_is_refused_with_413(door: Door, body: bytes) -> None:
    answer = post(door, "echo", body)
    assert answer.status == 413
    assert answer.json() == {"errors": [{"message": "JSON body has more than 1000 items"}]}


def test_a_body_at_the_bound_passes(door: Door) -> None:
    body = json.dumps([0] * 999).encode()  # 1000 values with the array
    answer = post(door, "echo", body)
    assert answer.status == 200


def test_commas_and_brackets_inside_strings_are_not_values(door: Door) -> None:
    text = '",[{,\\"' * 400  # escaped quote inside: still one string
    body = json.dumps({"s": text, "t": ['[', '{', ','] * 100}).encode()
    answer = post(door, "echo", body)
    assert answer.status == 200


def test_the_workflow_setting_lowers_the_engine_bound(door: Door) -> None:
    assert post(door, "small", json.dumps(list(range(9))).encode()).status == 200
    answer = post(door, "small", json.dumps(list(range(10))).encode())
    assert answer.status == 413
    assert answer.json() == {"errors": [{"message": "JSON body has more than 10 items"}]}


def test_the_workflow_setting_may_not_exceed_the_engine_bound(engine: Engine) -> None:
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"key": "big", "config": {"request": {"maxJsonItems": 1001}},
                             "nodes": []})
    assert info.value.path == "config.request.maxJsonItems"
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"key": "zero", "config": {"request": {"maxJsonItems": 0}},
                             "nodes": []})
    assert info.value.path == "config.request.maxJsonItems"


def test_the_engine_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="max_json_items"):
        Engine(max_json_items=0)


@pytest.mark.parametrize("value", [
    [], {}, [[]], [{}], {"a": {"b": [1, 2, {"c": None}]}}, ["a,b", "[{", '"', "\\"],
    [[[], [{}]], {"x": [[], []]}], {"k\\\"": ['"]', "\\\\", 3]},
])
def test_the_count_from_the_text_is_the_number_of_values(value: Any) -> None:
    def values(v: Any) -> int:
        if isinstance(v, dict):
            return 1 + sum(values(x) for x in v.values())
        if isinstance(v, list):
            return 1 + sum(values(x) for x in v)
        return 1
    n = values(value)
    for text in (json.dumps(value), json.dumps(value, separators=(",", ":"))):
        body = text.encode()
        assert parse_body("application/json", body, strict=False, max_depth=100,
                          max_items=n) == value
        if len(body) >= 2 * (n - 1):
            with pytest.raises(RequestRejected):
                parse_body("application/json", body, strict=False, max_depth=100,
                           max_items=n - 1)


def test_a_large_body_with_unmatched_brackets_is_invalid_json(door: Door) -> None:
    answer = post(door, "echo", b"[" + b"{}," * 2000)
    assert answer.status == 400
    assert answer.json() == {"errors": [{"message": "invalid JSON: brackets do not match"}]}
