"""Imported NocoBase workflows behave as in NocoBase, case by case (written from NocoBase's
plugin-workflow server source)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from webhook_workflow import Engine, Execution, Status


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close(timeout=5)


def run(engine: Engine, nodes: list[dict[str, Any]], body: Any) -> Execution:
    engine.add_workflow({"key": "t", "sync": True, "nodes": nodes})
    return engine.execute("t", {"body": body})


def out(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "type": "output", "config": {"value": value}}


N_OVER_2 = {"calculator": ">", "operands": ["{{$context.body.n}}", 2]}


# logicCalculate(calculation): no calculation -> true; an object with a "group" -> the group;
# anything else is one item, and an empty item holds.
@pytest.mark.parametrize(("calculation", "n", "branch"), [
    (N_OVER_2, 3, "yes"),
    (N_OVER_2, 1, "no"),
    ({}, 1, "yes"),
    (None, 1, "yes"),
])
def test_a_condition_takes_a_bare_calculation_item(engine: Engine, calculation: Any, n: int,
                                                   branch: str) -> None:
    execution = run(engine, [{"key": "c", "type": "condition", "config": {
        "rejectOnFalse": False, "calculation": calculation},
        "branches": {"true": [out("yes", 1)], "false": [out("no", 0)]}}], {"n": n})
    assert execution.status == Status.RESOLVED
    assert [j.node_key for j in execution.jobs] == ["c", branch]


def test_multi_conditions_take_bare_items(engine: Engine) -> None:
    execution = run(engine, [{"key": "m", "type": "multi-conditions", "config": {
        "conditions": [{"engine": "basic", "calculation": {"calculator": "<", "operands": [
            "{{$context.body.n}}", 0]}},
                       {"engine": "basic", "calculation": N_OVER_2}]},
        "branches": {"1": [out("negative", 1)], "2": [out("big", 2)],
                     "otherwise": [out("small", 0)]}}], {"n": 5})
    assert [j.node_key for j in execution.jobs] == ["m", "big"]


def test_a_loop_condition_takes_a_bare_item(engine: Engine) -> None:
    item_below_3 = {"calculator": "<", "operands": ["{{$scopes.l.item}}", 3]}
    execution = run(engine, [{"key": "l", "type": "loop", "config": {
        "target": "{{$context.body.items}}",
        "condition": {"checkpoint": 0, "continueOnFalse": False, "engine": "basic",
                      "calculation": item_below_3}},
        "branches": {"0": [out("each", "{{$scopes.l.item}}")]}}], {"items": [1, 2, 5, 1]})
    assert execution.status == Status.RESOLVED
    assert [j.result for j in execution.jobs if j.node_key == "each"] == [1, 2]
    loop = next(j for j in execution.jobs if j.node_key == "l")
    assert loop.result["broken"] is True


def test_a_bare_item_is_still_checked_at_registration(engine: Engine) -> None:
    from webhook_workflow import DefinitionError

    with pytest.raises(DefinitionError, match=r"nodes\[0\]\.config\.calculation\.calculator"):
        engine.add_workflow({"key": "t", "sync": True, "nodes": [{
            "key": "c", "type": "condition",
            "config": {"calculation": {"calculator": "similar", "operands": [1, 2]}}}]})


# A workflow exported before any node was added: NocoBase's API answers {"data": {...}} with
# "nodes": [] (or leaves nodes out); the bare row carries its bookkeeping fields.
@pytest.mark.parametrize("exported", [
    {"data": {"id": 7, "key": "empty", "title": "Empty", "type": "webhook", "sync": True,
              "enabled": True, "current": True, "config": {}, "options": None, "nodes": []}},
    {"data": {"id": 7, "key": "empty", "type": "webhook", "sync": True, "current": True}},
    {"id": 7, "key": "empty", "type": "webhook", "sync": True, "current": True, "nodes": []},
])
def test_a_flat_export_without_nodes_registers_and_runs(engine: Engine,
                                                        exported: dict[str, Any]) -> None:
    workflow = engine.add_workflow(exported)
    assert (workflow.key, workflow.sync) == ("empty", True)
    execution = engine.execute("empty", {"body": {}})
    assert execution.status == Status.RESOLVED and execution.jobs == []


def test_a_native_definition_without_nodes_stays_native(engine: Engine) -> None:
    from webhook_workflow import DefinitionError

    engine.add_workflow({"key": "plain", "nodes": []})
    with pytest.raises(DefinitionError, match="data"):  # not a NocoBase answer: data is unknown
        engine.add_workflow({"data": {"key": "x"}, "key": "y"})


def flat(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A NocoBase export (``workflows:get?appends[]=nodes``) of a sync webhook workflow."""
    return {"data": {"id": 1, "key": "flat", "type": "webhook", "sync": True,
                     "current": True, "config": {}, "nodes": list(nodes)}}


@pytest.mark.parametrize("config", [
    {"calculation": {"calculator": "equal", "operands": [1, 2]}},
    {"calculation": {"calculator": "equal", "operands": [1, 2]}, "rejectOnFalse": None},
])
def test_a_flat_condition_without_reject_on_false_takes_its_false_branch(
        engine: Engine, config: dict[str, Any]) -> None:
    # ConditionInstruction: `if (!result && rejectOnFalse)` FAILs; absent means the branch.
    engine.add_workflow(flat(
        {"id": 1, "key": "c", "type": "condition", "config": config, "upstreamId": None,
         "downstreamId": 3},
        {"id": 2, "key": "no", "type": "output", "config": {"value": "no"}, "upstreamId": 1,
         "branchIndex": 0},
        {"id": 3, "key": "after", "type": "output", "config": {"value": "after"},
         "upstreamId": 1}))
    execution = engine.execute("flat", {"body": {}})
    assert execution.status == Status.RESOLVED
    assert [(j.node_key, j.result) for j in execution.jobs] == [
        ("c", False), ("no", "no"), ("after", "after")]


def test_the_native_form_keeps_reject_on_false_by_default(engine: Engine) -> None:
    execution = run(engine, [{"key": "c", "type": "condition", "config": {
        "calculation": {"calculator": "equal", "operands": [1, 2]}}}], {})
    assert execution.status == Status.FAILED


def test_scopes_by_node_id_are_read_by_key_after_import(engine: Engine) -> None:
    # Older workflows address a loop's scope as $scopes.<node id>; Processor.getScope sets
    # both $scopes[n.id] and $scopes[n.key].
    engine.add_workflow(flat(
        {"id": 41, "key": "each", "type": "loop", "config": {"target": ["a", "b"]},
         "upstreamId": None, "downstreamId": 43},
        {"id": 42, "key": "o", "type": "output", "upstreamId": 41, "branchIndex": 0,
         "config": {"value": "{{$scopes.41.item}}-{{$scopes.each.index}}"}},
        {"id": 43, "key": "last", "type": "output", "upstreamId": 41,
         "config": {"value": {"seen": "{{$jobsMapByNodeId.42}}"}}}))
    execution = engine.execute("flat", {"body": {}})
    assert [j.result for j in execution.jobs if j.node_key == "o"] == ["a-0", "b-1"]
    assert execution.output == {"seen": "b-1"}
