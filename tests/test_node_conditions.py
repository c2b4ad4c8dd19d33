"""``condition`` with the expression engines, ``multi-conditions``, and the shared compiled
:class:`Condition` they (and ``loop``) use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import DefinitionError, Engine, Execution, Status
from webhook_workflow.errors import ExpressionError
from webhook_workflow.nodes.conditions import compile_condition
from webhook_workflow.nodes.multi_conditions import MAX_CONDITIONS, MultiConditionsNode

DOCS = Path(__file__).resolve().parent.parent / "docs" / "nodes"


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    eng._node_types["multi-conditions"] = MultiConditionsNode()
    yield eng
    eng.close(timeout=5)


def out(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "type": "output", "config": {"value": value}}


def run(engine: Engine, nodes: list[dict[str, Any]], body: Any = None) -> Execution:
    engine.add_workflow({"key": "t", "sync": True, "nodes": nodes})
    return engine.execute("t", {"body": body or {}})


def jobs(execution: Execution) -> dict[str, tuple[Status, Any]]:
    return {j.node_key: (j.status, j.result) for j in execution.jobs}


# -- the compiled condition ---------------------------------------------------------------------
SCOPE = {"$context": {"body": {"n": 3, "s": "x"}}}


@pytest.mark.parametrize(("engine_id", "calculation", "expression", "value", "holds"), [
    ("basic", None, None, True, True),
    ("basic", {"group": {"type": "or", "calculations": []}}, None, False, False),
    ("basic", {"group": {"calculations": [
        {"calculator": ">", "operands": ["{{$context.body.n}}", 2]}]}}, "ignored", True, True),
    ("math.js", None, "{{$context.body.n}} > 2", True, True),
    ("math.js", None, "{{$context.body.n}} - 3", 0, False),
    ("math.js", None, "{{$context.body.n}} * 2", 6, True),
    ("math.js", None, "{{$context.body.s}}", "x", True),
    ("math.js", None, "{{$context.body.missing}}", None, False),
    ("math.js", None, "[]", [], True),
    ("formula.js", {"not": "checked"}, "AND({{$context.body.n}} == 3, TRUE)", True, True),
    ("formula.js", None, 'IF({{$context.body.n}} > 5, "big", "")', "", False),
])
def test_a_condition_gives_the_engine_value_and_its_truth(
        engine_id: str, calculation: Any, expression: Any, value: Any, holds: bool) -> None:
    condition = compile_condition(engine_id, calculation, expression, "c")
    assert condition.engine == engine_id
    assert condition.evaluate(SCOPE) == value
    assert condition.holds(SCOPE) is holds


@pytest.mark.parametrize(("engine_id", "calculation", "expression", "where", "message"), [
    ("math.js", None, None, "c.expression", "is required with engine 'math.js'"),
    ("formula.js", None, "  ", "c.expression", "is required with engine 'formula.js'"),
    ("math.js", None, 5, "c.expression", "must be a string, got number"),
    ("math.js", None, "1 +", "c.expression", "unexpected end of expression"),
    ("formula.js", None, "NOPE(1)", "c.expression", "unknown function 'NOPE' in formula.js"),
    ("basic", {"group": {"type": "xor"}}, None, "c.calculation.group.type", "must be one of"),
    ("string", None, "x", "c.engine", "must be one of 'basic', 'math.js', 'formula.js'"),
])
def test_a_bad_condition_is_a_definition_error_at_its_field(
        engine_id: str, calculation: Any, expression: Any, where: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        compile_condition(engine_id, calculation, expression, "c")
    assert caught.value.path == where
    assert message in str(caught.value)


def test_an_expression_condition_raises_expression_errors_when_run() -> None:
    condition = compile_condition("math.js", None, "1 / {{$context.body.zero}}", "c")
    with pytest.raises(ExpressionError, match="division by zero"):
        condition.evaluate({"$context": {"body": {"zero": 0}}})


# -- condition ---------------------------------------------------------------------------------
def _condition(expression: str, engine_id: str = "math.js", reject: bool = False) -> dict[str, Any]:
    return {"key": "c", "type": "condition", "config": {
        "engine": engine_id, "expression": expression, "rejectOnFalse": reject},
        "branches": {"true": [out("yes", "yes")], "false": [out("no", "no")]}}


@pytest.mark.parametrize(("expression", "engine_id", "body", "branch", "result"), [
    ("{{$context.body.total}} >= 100", "math.js", {"total": 120}, "yes", True),
    ("{{$context.body.total}} >= 100", "math.js", {"total": "99"}, "no", False),
    ("{{$context.body.qty}}", "math.js", {"qty": 1}, "yes", 1),
    ("{{$context.body.qty}}", "math.js", {"qty": 0}, "no", 0),
    ("{{$context.body.name}}", "math.js", {}, "no", None),
    ('AND({{$context.body.status}} == "paid", {{$context.body.total}} > 10)', "formula.js",
     {"status": "paid", "total": 11}, "yes", True),
    ('ISNUMBER(SEARCH("vip", {{$context.body.tags}}))', "formula.js", {"tags": "new,VIP"}, "yes",
     True),
])
def test_condition_expressions_pick_a_branch_by_truth(
        engine: Engine, expression: str, engine_id: str, body: Any, branch: str,
        result: Any) -> None:
    execution = run(engine, [_condition(expression, engine_id)], body)
    assert execution.status == Status.RESOLVED
    assert execution.output == branch
    assert jobs(execution)["c"] == (Status.RESOLVED, result)


def test_reject_on_false_fails_with_the_falsy_value(engine: Engine) -> None:
    execution = run(engine, [_condition("{{$context.body.n}} - 1", reject=True), out("after", 1)],
                    {"n": 1})
    assert execution.status == Status.FAILED
    assert jobs(execution) == {"c": (Status.FAILED, 0)}


def test_a_failing_condition_expression_is_an_error_job(engine: Engine) -> None:
    execution = run(engine, [_condition("sqrt({{$context.body.n}})"), out("after", 1)], {"n": -4})
    assert execution.status == Status.ERROR
    assert jobs(execution) == {"c": (Status.ERROR, {"message": "sqrt: needs a number >= 0"})}


@pytest.mark.parametrize(("config", "where", "message"), [
    ({"engine": "math.js"}, "expression", "is required with engine 'math.js'"),
    ({"engine": "math.js", "expression": "1 >"}, "expression", "unexpected end"),
    ({"engine": "formula.js", "expression": 'a.b'}, "expression", "attribute access"),
    ({"engine": "math.js", "expression": 1}, "expression", "must be a string"),
    ({"engine": "jsonata"}, "engine", "must be one of"),
])
def test_bad_condition_expressions_are_refused_at_registration(
        engine: Engine, config: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        run(engine, [{"key": "c", "type": "condition", "config": config}])
    assert caught.value.path == f"nodes[0].config.{where}"
    assert message in str(caught.value)


# -- multi-conditions --------------------------------------------------------------------------
def _multi(conditions: list[dict[str, Any]], branches: dict[str, Any] | None = None,
           **config: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"key": "m", "type": "multi-conditions",
                            "config": {"conditions": conditions, **config}}
    if branches is not None:
        node["branches"] = branches
    return node


TIERS = [
    {"title": "gold", "engine": "math.js", "expression": "{{$context.body.total}} >= 1000"},
    {"title": "silver", "engine": "formula.js", "expression": "{{$context.body.total}} >= 100"},
    {"title": "vip", "calculation": {"group": {"calculations": [
        {"calculator": "equal", "operands": ["{{$context.body.vip}}", True]}]}}},
]
TIER_BRANCHES = {"1": [out("gold", "gold")], "2": [out("silver", "silver")],
                 "3": [out("vip", "vip")], "otherwise": [out("standard", "standard")]}
TIER_KEYS = {"gold", "silver", "vip", "standard"}


@pytest.mark.parametrize(("body", "tier", "outcomes", "branch"), [
    ({"total": 5000}, "gold", [True], 1),
    ({"total": 500}, "silver", [False, True], 2),
    ({"total": 5, "vip": True}, "vip", [False, False, True], 3),
])
def test_the_first_true_condition_picks_its_branch(engine: Engine, body: Any, tier: str,
                                                   outcomes: list[Any], branch: int) -> None:
    execution = run(engine, [_multi(TIERS, TIER_BRANCHES), out("after", "after")], body)
    assert execution.status == Status.RESOLVED
    assert jobs(execution)["m"] == (Status.RESOLVED, {"conditions": outcomes, "branch": branch})
    assert TIER_KEYS & set(jobs(execution)) == {tier}
    assert execution.output == "after"


def test_no_match_runs_otherwise_and_fails_by_default(engine: Engine) -> None:
    execution = run(engine, [_multi(TIERS, TIER_BRANCHES), out("after", "after")], {"total": 5})
    assert execution.status == Status.FAILED
    assert jobs(execution)["m"] == (Status.FAILED, {"conditions": [False, False, False],
                                                    "branch": 0})
    assert jobs(execution)["standard"] == (Status.RESOLVED, "standard")
    assert "after" not in jobs(execution)


def test_no_match_with_continue_on_no_match_goes_on(engine: Engine) -> None:
    execution = run(engine, [_multi(TIERS, TIER_BRANCHES, continueOnNoMatch=True),
                             out("after", "after")], {"total": 5})
    assert execution.status == Status.RESOLVED
    assert jobs(execution)["m"][0] == Status.RESOLVED
    assert execution.output == "after"


@pytest.mark.parametrize(("go_on", "status", "ran_after"), [(False, Status.FAILED, False),
                                                           (True, Status.RESOLVED, True)])
def test_no_match_without_an_otherwise_branch(engine: Engine, go_on: bool, status: Status,
                                              ran_after: bool) -> None:
    execution = run(engine, [_multi(TIERS, {"1": [out("o", "gold")]}, continueOnNoMatch=go_on),
                             out("after", "after")], {"total": 5})
    assert execution.status == status
    assert ("after" in jobs(execution)) is ran_after


def test_a_match_without_its_branch_continues_downstream(engine: Engine) -> None:
    execution = run(engine, [_multi(TIERS), out("after", "after")], {"total": 500})
    assert execution.status == Status.RESOLVED
    assert execution.output == "after"


def test_later_conditions_are_not_evaluated_after_a_match(engine: Engine) -> None:
    conditions = [{"engine": "math.js", "expression": "1"},
                  {"engine": "math.js", "expression": "1 / 0"}]
    execution = run(engine, [_multi(conditions)])
    assert jobs(execution)["m"] == (Status.RESOLVED, {"conditions": [1], "branch": 1})


def test_an_evaluation_error_is_an_error_job(engine: Engine) -> None:
    conditions = [{"engine": "math.js", "expression": "0"},
                  {"engine": "math.js", "expression": "1 / {{$context.body.n}}"}]
    execution = run(engine, [_multi(conditions, {"otherwise": [out("o", 1)]})], {"n": 0})
    assert execution.status == Status.ERROR
    assert jobs(execution) == {"m": (Status.ERROR, {"message": "division by zero"})}


def test_a_failing_branch_ends_the_execution_and_the_node_stays_resolved(
        engine: Engine) -> None:
    # NocoBase's MultiConditionsInstruction.resume: processor.exit(branchJob.status).
    inner = {"key": "check", "type": "condition", "config": {"calculation": {"group": {
        "type": "or", "calculations": []}}}}
    execution = run(engine, [_multi([{"engine": "math.js", "expression": "true"}],
                                    {"1": [inner, out("never", 1)]}), out("after", 1)])
    assert execution.status == Status.FAILED
    assert jobs(execution)["m"] == (Status.RESOLVED, {"conditions": [True], "branch": 1})
    assert jobs(execution)["check"][0] == Status.FAILED
    assert set(jobs(execution)) == {"m", "check"}


def test_a_failing_branch_inside_a_loop_ends_the_whole_execution(engine: Engine) -> None:
    inner = {"key": "check", "type": "condition", "config": {"calculation": {
        "calculator": "<", "operands": ["{{$scopes.l.item}}", 2]}}}
    multi = _multi([{"engine": "math.js", "expression": "true"}], {"1": [inner]})
    execution = run(engine, [{"key": "l", "type": "loop", "config": {"target": [1, 5, 1]},
                              "branches": {"0": [multi, out("each", "{{$scopes.l.item}}")]}},
                             out("after", 1)])
    assert execution.status == Status.FAILED
    assert [j.result for j in execution.jobs if j.node_key == "each"] == [1]
    assert "after" not in jobs(execution)


def test_no_conditions_is_no_match(engine: Engine) -> None:
    execution = run(engine, [_multi([], {"0": [out("o", "none")]}, continueOnNoMatch=True)])
    assert execution.status == Status.RESOLVED
    assert execution.output == "none"


def test_a_branch_past_the_last_condition_never_runs(engine: Engine) -> None:
    execution = run(engine, [_multi([{"engine": "math.js", "expression": "false"}],
                                    {"5": [out("o", "five")]}, continueOnNoMatch=True)])
    assert execution.status == Status.RESOLVED
    assert "o" not in jobs(execution)


@pytest.mark.parametrize(("node", "where", "message"), [
    (_multi([{"engine": "math.js", "expression": "1"}, {"engine": "math.js", "expression": "1 +"}]),
     "config.conditions[1].expression", "unexpected end"),
    (_multi([{"engine": "math.js"}]), "config.conditions[0].expression", "is required"),
    (_multi([{"expression": "1", "oops": 1}]), "config.conditions[0].oops", "unknown field"),
    (_multi([{"engine": "string", "expression": "1"}]), "config.conditions[0].engine",
     "must be one of"),
    (_multi([{"calculation": {"group": {"calculations": [{"calculator": "near"}]}}}]),
     "config.conditions[0].calculation.group.calculations[0].calculator", "unknown calculator"),
    (_multi({"a": 1}), "config.conditions", "must be an array"),  # type: ignore[arg-type]
    (_multi([{}] * (MAX_CONDITIONS + 1)), "config.conditions", f"at most {MAX_CONDITIONS}"),
    (_multi([], {"true": []}), "branches.true", "not a branch of a 'multi-conditions' node"),
    (_multi([], {str(MAX_CONDITIONS + 1): []}), f"branches.{MAX_CONDITIONS + 1}",
     "not a branch"),
])
def test_bad_multi_conditions_are_refused_at_registration(
        engine: Engine, node: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        run(engine, [node])
    assert caught.value.path == f"nodes[0].{where}"
    assert message in str(caught.value)


# -- the documented examples --------------------------------------------------------------------
def _example(page: str) -> dict[str, Any]:
    blocks = re.findall(r"```json\n(\{.*?\n)```", (DOCS / page).read_text(), re.S)
    [example] = [block for block in blocks if '"nodes"' in block]
    return dict(json.loads(example))


@pytest.mark.parametrize(("body", "output"), [
    ({"order": {"status": "paid", "total": 250}}, {"ok": True, "review": False}),
    ({"order": {"status": "paid", "total": 2500}}, {"ok": True, "review": True}),
    ({"order": {"status": "open", "total": 10}}, {"ok": False}),
])
def test_the_documented_condition_example(engine: Engine, body: Any, output: Any) -> None:
    wf = engine.add_workflow(_example("condition.md"))
    assert engine.execute(wf.key, {"body": body}).output == output


@pytest.mark.parametrize(("body", "status", "output"), [
    ({"event": "payment.succeeded", "amount": 20}, Status.RESOLVED, "fulfil"),
    ({"event": "payment.failed"}, Status.RESOLVED, "notify"),
    ({"event": "refund", "amount": 20}, Status.RESOLVED, "refund"),
    ({"event": "ping"}, Status.RESOLVED, "ignored"),
])
def test_the_documented_multi_conditions_example(engine: Engine, body: Any, status: Status,
                                                 output: Any) -> None:
    wf = engine.add_workflow(_example("multi-conditions.md"))
    execution = engine.execute(wf.key, {"body": body})
    assert (execution.status, execution.output) == (status, output)
