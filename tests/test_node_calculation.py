"""The ``calculation`` node: engines, results, errors, and a sandbox of hostile expressions
that must each end as a refused definition or an ERROR job, quickly."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import DefinitionError, Engine, Execution, Status
from webhook_workflow.nodes.calculation import CalculationNode

DOC = Path(__file__).resolve().parent.parent / "docs" / "nodes" / "calculation.md"


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    eng._node_types["calculation"] = CalculationNode()
    yield eng
    eng.close(timeout=5)


def calc(engine: Engine, config: dict[str, Any], body: Any = None,
         more: list[dict[str, Any]] | None = None) -> Execution:
    engine.add_workflow({"key": "calc", "sync": True, "nodes": [
        {"key": "c", "type": "calculation", "config": config}, *(more or [])]})
    return engine.execute("calc", {"body": body or {}})


def result(execution: Execution, key: str = "c") -> Any:
    [job] = [j for j in execution.jobs if j.node_key == key]
    return job.result


BODY = {"order": {"total": 99.5, "qty": 3, "code": "A-7"}, "items": [{"price": 2}, {"price": 3.5}]}


@pytest.mark.parametrize(("config", "expected"), [
    ({"expression": "{{$context.body.order.total}} * {{$context.body.order.qty}}"}, 298.5),
    ({"expression": "sum({{$context.body.items.price}})"}, 5.5),
    ({"expression": "round({{$context.body.order.total}} / 3, 2)"}, 33.17),
    ({"expression": "10 / 3"}, 3.333333333),
    ({"engine": "formula.js", "expression": 'IF({{$context.body.order.qty}} > 2, "bulk", "one")'},
     "bulk"),
    ({"engine": "formula.js", "expression": 'LEFT({{$context.body.order.code}}, 1) & "!"'}, "A!"),
    ({"engine": "string", "expression": "order {{$context.body.order.code}} x{{$context.body.x}}"},
     "order A-7 x"),
    ({"expression": ""}, None),
    ({"expression": None}, None),
    ({}, None),
    ({"engine": "string", "expression": ""}, None),
])
def test_the_result_is_the_value(engine: Engine, config: dict[str, Any], expected: Any) -> None:
    execution = calc(engine, config, BODY)
    assert execution.status == Status.RESOLVED
    assert result(execution) == expected
    assert type(result(execution)) is type(expected)


def test_later_nodes_read_the_typed_result(engine: Engine) -> None:
    execution = calc(engine, {"expression": "{{$context.body.order.qty}} + 1"}, BODY, [
        {"key": "twice", "type": "calculation",
         "config": {"expression": "{{$jobsMapByNodeKey.c}} * 2"}},
        {"key": "out", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.twice}}"}}])
    assert execution.output == 8


def test_an_evaluation_error_is_an_error_job(engine: Engine) -> None:
    execution = calc(engine, {"expression": "{{$context.body.order.total}} / {{$context.body.n}}"},
                     {"order": {"total": 1}, "n": 0},
                     [{"key": "never", "type": "output", "config": {"value": 1}}])
    assert execution.status == Status.ERROR
    [job] = execution.jobs
    assert (job.status, job.result) == (Status.ERROR, {"message": "division by zero"})


@pytest.mark.parametrize(("config", "where", "message"), [
    ({"expression": "1 +"}, "expression", "unexpected end of expression"),
    ({"expression": "nope(1)"}, "expression", "unknown function 'nope' in math.js"),
    ({"engine": "formula.js", "expression": "round(1"}, "expression", "unexpected end"),
    ({"expression": 12}, "expression", "must be a string, got number"),
    ({"engine": "basic"}, "engine", "must be one of 'math.js', 'formula.js', 'string'"),
    ({"expression": "1", "extra": 1}, "extra", "unknown field"),
])
def test_bad_definitions_are_refused_at_registration(engine: Engine, config: dict[str, Any],
                                                     where: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        calc(engine, config)
    assert caught.value.path == f"nodes[0].config.{where}"
    assert message in str(caught.value)


# -- sandbox ------------------------------------------------------------------------------------
SANDBOX: list[tuple[str, str, str]] = [
    ("math.js", "__import__('os')", "compile"),
    ("math.js", "().__class__", "compile"),
    ("math.js", "().__class__.__bases__[0].__subclasses__()", "compile"),
    ("math.js", "a.b", "compile"),
    ("math.js", "open('x')", "compile"),
    ("math.js", "eval('1')", "compile"),
    ("formula.js", "exec('import os')", "compile"),
    ("math.js", "globals()", "compile"),
    ("math.js", "__builtins__", "compile"),
    ("math.js", "getattr(1, 'real')", "compile"),
    ("math.js", "lambda", "compile"),
    ("math.js", "lambda x: x", "compile"),
    ("math.js", "[x for x in y]", "compile"),
    ("math.js", "import os", "compile"),
    ("math.js", "'a'.upper()", "compile"),
    ("math.js", "sum[0]", "compile"),
    ("math.js", "f'{1}'", "compile"),
    ("math.js", "1 if 1 else 2", "compile"),
    ("math.js", "${process.env}", "compile"),
    ("math.js", "`ls`", "compile"),
    ("math.js", "(" * 10_000 + "1" + ")" * 10_000, "compile"),
    ("math.js", "1" + " + 1" * 5_000, "compile"),
    ("math.js", "1 ? " * 3_000 + "1" + " : 0" * 3_000, "compile"),
    ("math.js", "true ? " * 70 + "1" + " : 0" * 70, "compile"),
    ("math.js", "sum(" + "[" * 100 + "]" * 100 + ")", "compile"),
    ("math.js", "9^9^9^9", "run"),
    ("math.js", "2^100000", "run"),
    ("math.js", "(2^4000)^(2^4000)", "run"),
    ("math.js", "10.0^308 * 10", "run"),
    ("math.js", '"x" * 1e9', "run"),
    ("formula.js", 'REPT("x", 1e9)', "run"),
    ("formula.js", 'REPT(REPT("x", 1000), 1000000)', "run"),
    ("formula.js", 'CONCAT(REPT("x", 999999), REPT("x", 999999))', "run"),
    ("formula.js", 'SUBSTITUTE(REPT("a", 999999), "a", "bb")', "run"),
    ("math.js", "factorial(100000)", "run"),
    ("math.js", "1 / 0", "run"),
    ("formula.js", " & ".join(["REPT('y', 99999)"] * 300), "run"),
    ("formula.js", "LEN(REPT('x', 999999)) " + "+ LEN(REPT('x', 999999)) " * 200, "run"),
]


def test_the_sandbox_holds_and_answers_quickly() -> None:
    started = time.monotonic()
    for i, (engine_id, source, when) in enumerate(SANDBOX):
        eng = Engine()
        eng._node_types["calculation"] = CalculationNode()
        definition = {"key": f"s{i}", "sync": True, "nodes": [
            {"key": "c", "type": "calculation",
             "config": {"engine": engine_id, "expression": source}}]}
        try:
            eng.add_workflow(definition)
        except DefinitionError as exc:
            assert when == "compile", source[:80]
            assert exc.path == "nodes[0].config.expression"
        else:
            assert when == "run", source[:80]
            execution = eng.execute(f"s{i}", {})
            assert execution.status == Status.ERROR, source[:80]
            [job] = execution.jobs
            assert job.status == Status.ERROR and job.result["message"], source[:80]
        finally:
            eng.close(timeout=5)
    assert time.monotonic() - started < 5.0


def test_a_placeholder_holding_code_stays_a_string(engine: Engine) -> None:
    execution = calc(engine, {"expression": "{{$context.body.code}}"},
                     {"code": "__import__('os').system('echo hacked')"})
    assert result(execution) == "__import__('os').system('echo hacked')"


# -- the documented example -----------------------------------------------------------------
def test_the_documented_example_runs_as_described(engine: Engine) -> None:
    [example] = re.findall(r"```json\n(\{.*?\n)```", DOC.read_text(), re.S)
    wf = engine.add_workflow(json.loads(example))
    execution = engine.execute(wf.key, {"body": {"customer": "Ada", "coupon": "SAVE10",
                                                 "items": [{"price": 12.5}, {"price": 3}]}})
    assert execution.status == Status.RESOLVED
    assert execution.output == {"subtotal": 15.5, "total": 13.95, "label": "Ada: 13.95"}
