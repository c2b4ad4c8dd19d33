"""Numeric text from a request is read in time linear in its length.

A long run of digits that is *almost* a number (``"111...1x"``) once made the number patterns
backtrack quadratically: 16,000 digits stalled the whole process for seconds, holding the GIL,
where no ``options.timeout`` can interrupt it. Each place request data is read as a number is
driven here through a real door with such runs: the run must give its documented result, and a
generous guard bounds the time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import JSON
from doors import Door
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_workflow import Engine, Status
from webhook_workflow.nodes.date_calculation import DateCalculationNode
from webhook_workflow.variables.expressions.calculators import CALCULATORS
from webhook_workflow.variables.expressions.values import parse_number

#: One request must answer well inside this (seconds); the old patterns took 7.8 s at 16 KB.
GUARD = 2.0
AMOUNT = "{{$context.body.amount}}"


def _nodes(kind: str) -> list[dict[str, Any]]:
    """A one-node flow that reads ``body.amount`` as a number, answering with its result."""
    if kind == "condition":
        config: dict[str, Any] = {"rejectOnFalse": False, "calculation": {"group": {
            "type": "and", "calculations": [
                {"calculator": "gt", "operands": [AMOUNT, 5]}]}}}
        node = {"key": "c", "type": "condition", "config": config}
    elif kind in ("math.js", "formula.js"):
        node = {"key": "c", "type": "calculation",
                "config": {"engine": kind, "expression": f"{AMOUNT} * 2"}}
    else:
        node = {"key": "c", "type": "dateCalculation", "config": {
            "input": "2024-01-01T00:00:00Z",
            "steps": [{"function": "add", "arguments": {"number": AMOUNT, "unit": "day"}}]}}
    return [node, {"key": "reply", "type": "response", "config": {
        "statusCode": 200, "body": {"result": "{{$jobsMapByNodeKey.c}}"}}}]


KINDS = ("filter", "condition", "math.js", "formula.js", "dateCalculation")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = Engine()
    eng._node_types["dateCalculation"] = DateCalculationNode()
    for kind in KINDS[1:]:
        eng.add_workflow({"key": kind.replace(".", "-"), "sync": True, "nodes": _nodes(kind)})
    eng.add_workflow({"key": "filter", "config": {"filter": {"group": {"type": "and",
                      "calculations": [{"calculator": "equal",
                                        "operands": [AMOUNT, 1]}]}}}, "nodes": []})
    yield eng
    eng.close(timeout=5)


def _post(door: Door, key: str, amount: str) -> tuple[Any, float]:
    body = json.dumps({"amount": amount}).encode()
    started = time.perf_counter()
    answer = door.call(path=f"/api/webhook:trigger/{key}", headers=[JSON], body=body)
    return answer, time.perf_counter() - started


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tail", ["x", "..", "e", ".5x", "e+"])
def test_an_almost_number_of_16_kb_answers_quickly(engine: Engine, door_kind: str, kind: str,
                                                   tail: str) -> None:
    door = Door(door_kind, engine)
    answer, took = _post(door, kind.replace(".", "-"), "1" * 16_000 + tail)
    assert took < GUARD
    if kind == "filter":  # not the number 1: filtered out, nothing recorded
        assert (answer.status, answer.body) == (200, b"ignored")
        assert engine.executions("filter") == []
    elif kind == "condition":  # not a number: gt is false
        assert answer.status == 200
        assert answer.json() == {"result": False}
    else:  # arithmetic on text that is not a number is an ERROR job; the run answers 500
        assert answer.status == 500
        [execution] = engine.executions(kind.replace(".", "-"), limit=1)
        assert execution.jobs[-1].status == Status.ERROR
        assert "number" in execution.jobs[-1].result["message"]


@settings(max_examples=25, deadline=None)
@given(digits=st.integers(min_value=1, max_value=16_000),
       tail=st.sampled_from(["x", "..", "e", "e-", "1.1.", " x", "_1", "-"]),
       lead=st.sampled_from(["", "+", "-", ".", " "]))
def test_number_readers_are_linear_and_refuse_almost_numbers(digits: int, tail: str,
                                                              lead: str) -> None:
    text = lead + "1" * digits + tail
    started = time.perf_counter()
    compared = CALCULATORS["equal"](text, 1)
    as_expression = parse_number(text)
    assert time.perf_counter() - started < GUARD
    assert compared is False
    assert as_expression is None


@pytest.mark.parametrize("text,value", [("1.5", 1.5), ("-2e3", -2000.0), (".5", 0.5),
                                        ("7.", 7.0), ("+3", 3)])
def test_real_numbers_are_still_read(text: str, value: float) -> None:
    assert parse_number(text) == value
    assert CALCULATORS["equal"](text, value) is True
