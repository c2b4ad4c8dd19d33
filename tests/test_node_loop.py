"""The loop node: targets, $scopes, conditions, exit modes and the iteration cap."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_workflow import DefinitionError, Engine, Status
from webhook_workflow.nodes.loop import LoopNode


@pytest.fixture
def engine() -> Engine:
    eng = Engine(loop_limit=50)
    if "loop" not in eng._node_types:
        eng._node_types["loop"] = LoopNode()
    yield eng
    eng.close(timeout=5)


def collect(engine: Engine) -> list[Any]:
    seen: list[Any] = []
    engine.register_node("see", lambda config, ctx: seen.append(config["v"]) or config["v"])
    return seen


def loop(config: dict[str, Any], body: list[dict[str, Any]] | None = None,
         after: bool = True) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"key": "each", "type": "loop", "config": config}]
    if body is not None:
        nodes[0]["branches"] = {"0": body}
    if after:
        nodes.append({"key": "after", "type": "output", "config": {
            "value": "{{$jobsMapByNodeKey.each}}"}})
    return {"key": "l", "nodes": nodes}


def see(value: Any = "{{$scopes.each}}") -> dict[str, Any]:
    return {"key": "s", "type": "see", "config": {"v": value}}


@pytest.mark.parametrize("target, items", [
    (3, [0, 1, 2]),
    (2.7, [0, 1]),
    (["a", None, "c"], ["a", None, "c"]),  # nulls keep their place (NocoBase misaligns them)
    ("word", ["word"]),
    ({"a": 1}, [{"a": 1}]),
    (None, []),
    (0, []),
    ([], []),
])
def test_targets(engine: Engine, target: Any, items: list[Any]) -> None:
    seen = collect(engine)
    engine.add_workflow(loop({"target": "{{$context.body.t}}"}, [see("{{$scopes.each.item}}")]))
    execution = engine.execute("l", {"body": {"t": target}})
    assert execution.status == Status.RESOLVED
    assert seen == items
    assert execution.output == {"looped": len(items), "done": len(items)}


def test_scope_fields(engine: Engine) -> None:
    seen = collect(engine)
    engine.add_workflow(loop({"target": ["x", "y"]}, [see()]))
    engine.execute("l")
    assert seen == [{"item": "x", "index": 0, "sequence": 1, "length": 2},
                    {"item": "y", "index": 1, "sequence": 2, "length": 2}]


def test_negative_number_target_is_an_error(engine: Engine) -> None:
    collect(engine)
    engine.add_workflow(loop({"target": -1}, [see()]))
    execution = engine.execute("l")
    assert execution.status == Status.ERROR
    assert "negative" in execution.jobs[0].result["message"]


def test_nested_loops_have_their_own_scopes(engine: Engine) -> None:
    seen = collect(engine)
    inner = {"key": "inner", "type": "loop", "config": {"target": 2},
             "branches": {"0": [see("{{$scopes.each.item}}-{{$scopes.inner.item}}")]}}
    engine.add_workflow(loop({"target": ["a", "b"]}, [inner]))
    assert engine.execute("l").status == Status.RESOLVED
    assert seen == ["a-0", "a-1", "b-0", "b-1"]


@pytest.mark.parametrize("checkpoint, on_false, items, result", [
    (0, False, [1, 2], {"looped": 2, "done": 2, "broken": True}),
    (0, True, [1, 2, 4, 5], {"looped": 5, "done": 4}),
    # "After each" checks the next item once an iteration ends (NocoBase's resume), so the
    # item that fails the check never runs; only the first item goes unchecked.
    (1, False, [1, 2], {"looped": 2, "done": 2, "broken": True}),
    (1, True, [1, 2, 4, 5], {"looped": 5, "done": 4}),
])
def test_condition_checkpoints(engine: Engine, checkpoint: int, on_false: bool,
                               items: list[int], result: dict[str, Any]) -> None:
    # The condition holds while the item is not 3.
    seen = collect(engine)
    condition = {"checkpoint": checkpoint, "continueOnFalse": on_false, "engine": "basic",
                 "calculation": {"group": {"type": "and", "calculations": [
                     {"calculator": "notEqual", "operands": ["{{$scopes.each.item}}", 3]}]}}}
    engine.add_workflow(loop({"target": [1, 2, 3, 4, 5], "condition": condition},
                             [see("{{$scopes.each.item}}")]))
    execution = engine.execute("l")
    assert execution.status == Status.RESOLVED
    assert seen == items
    assert execution.output == result


def test_expression_condition(engine: Engine) -> None:
    seen = collect(engine)
    condition = {"engine": "math.js", "expression": "{{$scopes.each.index}} < 2"}
    engine.add_workflow(loop({"target": 5, "condition": condition}, [see("{{$scopes.each.item}}")]))
    engine.execute("l")
    assert seen == [0, 1]


FAIL = {"key": "f", "type": "condition", "config": {"calculation": {"group": {
    "type": "and", "calculations": [
        {"calculator": "notEqual", "operands": ["{{$scopes.each.item}}", 1]}]}}}}


@pytest.mark.parametrize("exit_mode, status, result", [
    (0, Status.FAILED, {"looped": 2, "done": 1}),
    (1, Status.RESOLVED, {"looped": 2, "done": 1, "broken": True}),
    (2, Status.RESOLVED, {"looped": 3, "done": 3}),
])
def test_exit_modes_when_an_iteration_fails(engine: Engine, exit_mode: int, status: Status,
                                            result: dict[str, Any]) -> None:
    engine.add_workflow(loop({"target": 3, "exit": exit_mode}, [FAIL]))
    execution = engine.execute("l")
    assert execution.status == status
    each = next(j for j in execution.jobs if j.node_key == "each")
    assert (each.status, each.result) == (status, result)


def test_iteration_cap_ends_the_node_as_error(engine: Engine) -> None:
    collect(engine)
    engine.add_workflow(loop({"target": 1000}, [see("{{$scopes.each.item}}")]))
    execution = engine.execute("l")
    assert execution.status == Status.ERROR
    each = next(j for j in execution.jobs if j.node_key == "each")
    assert each.result["exceeded"] is True
    assert each.result["looped"] == 50
    assert "loop_limit (50)" in each.result["message"]


def test_loop_without_branch_resolves_at_once(engine: Engine) -> None:
    engine.add_workflow(loop({"target": 10}))
    assert engine.execute("l").output == {"looped": 0, "done": 0}


def test_end_inside_a_loop_stops_everything(engine: Engine) -> None:
    engine.add_workflow(loop({"target": 5}, [{"key": "stop", "type": "end",
                                              "config": {"endStatus": 1}}]))
    execution = engine.execute("l")
    assert execution.status == Status.RESOLVED
    assert [j.node_key for j in execution.jobs] == ["each", "stop"]


def test_a_loop_has_one_branch(engine: Engine) -> None:
    collect(engine)
    definition = loop({"target": 2}, [see()])
    definition["nodes"][0]["branches"]["1"] = [{"key": "x", "type": "end"}]
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow(definition)
    assert info.value.path == "nodes[0].branches"


def test_bad_condition_is_refused_with_its_path(engine: Engine) -> None:
    collect(engine)
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow(loop({"target": 2, "condition": {"engine": "math.js",
                                                             "expression": "1 +"}}, [see()]))
    assert info.value.path.startswith("nodes[0].config.condition")
