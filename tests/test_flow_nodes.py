"""Flow-control nodes: variable, parallel, subflow, and options.timeout."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import JSON
from doors import Door, Request

from webhook_workflow import DefinitionError, Engine, Status


def out(value: Any, key: str = "o") -> dict[str, Any]:
    return {"key": key, "type": "output", "config": {"value": value}}


def end(status: int, key: str) -> dict[str, Any]:
    return {"key": key, "type": "end", "config": {"endStatus": status}}


@pytest.fixture
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.close(timeout=5)


# -- variable -----------------------------------------------------------------------------------
def test_variable_declare_and_assign(engine: Engine) -> None:
    engine.add_workflow({"key": "v", "nodes": [
        {"key": "total", "type": "variable", "config": {"value": "{{$context.body.n}}"}},
        {"key": "set", "type": "variable", "config": {"target": "total", "value": 99}},
        out({"total": "{{$jobsMapByNodeKey.total}}", "set": "{{$jobsMapByNodeKey.set}}"})]})
    execution = engine.execute("v", {"body": {"n": 5}})
    assert execution.status == Status.RESOLVED
    assert execution.output == {"total": 99, "set": 99}
    assert [(j.node_key, j.result) for j in execution.jobs] == [
        ("total", 5), ("total", 99), ("set", 99), ("o", {"total": 99, "set": 99})]


@pytest.mark.parametrize("target, message", [
    ("nope", "no node with key 'nope'"),
    ("o", "is not another variable node"),
    ("self", "is not another variable node"),
])
def test_variable_target_must_be_another_variable_node(engine: Engine, target: str,
                                                       message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"nodes": [out(1), {"key": "self", "type": "variable",
                                                 "config": {"target": target}}]})
    assert info.value.path == "nodes[1].config.target"
    assert message in str(info.value)


# -- parallel ------------------------------------------------------------------------------------
def branches(*statuses: int) -> dict[str, Any]:
    return {str(i): [end(s, f"b{i}")] if s != 1 else [out(i, f"b{i}")]
            for i, s in enumerate(statuses)}


@pytest.mark.parametrize("mode, statuses, status, result", [
    ("all", (1, 1, 1), Status.RESOLVED, [1, 1, 1]),
    ("all", (1, -1, 1), Status.FAILED, [1, -1, None]),
    ("any", (-1, 1, 1), Status.RESOLVED, [-1, 1, None]),
    ("any", (-1, -1), Status.FAILED, [-1, -1]),
    ("race", (-1, 1), Status.FAILED, [-1, None]),
    ("race", (1, -1), Status.RESOLVED, [1, None]),
    ("allSettled", (-1, 1, -1), Status.RESOLVED, [-1, 1, -1]),
])
def test_parallel_modes(engine: Engine, mode: str, statuses: tuple[int, ...], status: Status,
                        result: list[int | None]) -> None:
    # An end node inside a branch ends the whole execution, so failing branches use a
    # condition that fails instead.
    def failing(i: int) -> list[dict[str, Any]]:
        return [{"key": f"b{i}", "type": "condition", "config": {"calculation": {"group": {
            "type": "or", "calculations": []}}}}]

    nodes = {str(i): (failing(i) if s == -1 else [out(i, f"b{i}")])
             for i, s in enumerate(statuses)}
    engine.add_workflow({"key": "p", "nodes": [
        {"key": "par", "type": "parallel", "config": {"mode": mode}, "branches": nodes},
        out("after", "after")]})
    execution = engine.execute("p")
    assert execution.status == status
    par = next(j for j in execution.jobs if j.node_key == "par")
    assert par.result == result
    assert par.status == status
    assert any(j.node_key == "after" for j in execution.jobs) == (status == Status.RESOLVED)


def test_parallel_without_branches_resolves(engine: Engine) -> None:
    engine.add_workflow({"key": "p", "nodes": [{"key": "par", "type": "parallel"}]})
    execution = engine.execute("p")
    assert (execution.status, execution.jobs[0].result) == (Status.RESOLVED, [])


def test_parallel_branch_indexes_are_bounded(engine: Engine) -> None:
    with pytest.raises(DefinitionError) as info:
        engine.add_workflow({"nodes": [{"key": "p", "type": "parallel",
                                        "branches": {"1001": []}}]})
    assert info.value.path == "nodes[0].branches.1001"


# -- subflow -------------------------------------------------------------------------------------
def test_subflow_result_is_the_child_output(engine: Engine) -> None:
    engine.add_workflow({"key": "child", "enabled": False, "nodes": [
        out({"doubled": "{{$context.body.n}}{{$context.body.n}}"})]})
    engine.add_workflow({"key": "parent", "sync": True, "nodes": [
        {"key": "call", "type": "subflow", "config": {
            "workflow": "child", "context": {"body": {"n": "{{$context.body.n}}"}}}},
        {"key": "r", "type": "response", "config": {"body": "{{$jobsMapByNodeKey.call}}"}}]})
    for kind in ("wsgi", "asgi"):
        answer = Door(kind, engine).call(Request(path="/api/webhook:trigger/parent",
                                                 body=b'{"n": 4}', headers=[JSON]))
        assert answer.json() == {"doubled": "44"}
    children = engine.executions("child")
    assert len(children) == 2
    parent = engine.executions("parent")[0]
    assert children[0].parent_id == parent.id
    assert children[0].context == {"headers": {}, "query": {}, "body": {"n": 4}}


def test_failing_subflow_fails_the_node(engine: Engine) -> None:
    engine.add_workflow({"key": "child", "nodes": [end(-1, "stop")]})
    engine.add_workflow({"key": "parent", "nodes": [
        {"key": "call", "type": "subflow", "config": {"workflow": "child"}}, out(1)]})
    execution = engine.execute("parent")
    assert execution.status == Status.FAILED
    assert "FAILED" in execution.jobs[0].result["message"]


def test_unknown_subflow_is_a_failed_job(engine: Engine) -> None:
    engine.add_workflow({"key": "parent", "nodes": [
        {"key": "call", "type": "subflow", "config": {"workflow": "ghost"}}]})
    execution = engine.execute("parent")
    assert execution.status == Status.FAILED
    assert "ghost" in execution.jobs[0].result["message"]


@pytest.mark.parametrize("limit, depth", [(1, 1), (3, 3)])
def test_stack_limit_skips_the_call_past_it(engine: Engine, limit: int, depth: int) -> None:
    # As NocoBase's Dispatcher.validateEvent: the trigger past the limit is skipped, and the
    # executions already running end normally.
    engine.add_workflow({"key": "self", "options": {"stackLimit": limit}, "nodes": [
        {"key": "again", "type": "subflow", "config": {"workflow": "self"}},
        {"key": "after", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.again}}"}}]})
    execution = engine.execute("self")
    assert execution.status == Status.RESOLVED
    runs = engine.executions("self", limit=100)
    assert len(runs) == depth and {e.status for e in runs} == {Status.RESOLVED}
    deepest = max(runs, key=lambda e: len(e.stack))
    assert len(deepest.stack) == depth - 1
    skipped = deepest.jobs[0]
    assert (skipped.node_key, skipped.status, skipped.result) == ("again", Status.RESOLVED, None)
    assert skipped.log is not None and "stackLimit" in skipped.log


# -- options.timeout -----------------------------------------------------------------------------
def test_sync_timeout_answers_408_at_once(door_kind: str) -> None:
    engine = Engine()
    release = threading.Event()
    engine.register_node("slow", lambda config, ctx: release.wait(5) and "late")
    engine.add_workflow({"key": "t", "sync": True, "options": {"timeout": 200}, "nodes": [
        {"key": "s", "type": "slow"}, out("never")]})
    started = time.monotonic()
    answer = Door(door_kind, engine).call(Request(path="/api/webhook:trigger/t"))
    took = time.monotonic() - started
    release.set()
    assert answer.status == 408
    assert took < 3  # generous: the answer does not wait for the node
    [execution] = engine.executions("t")
    assert execution.status == Status.ABORTED
    assert [(j.node_key, j.status) for j in execution.jobs] == [("s", Status.ABORTED)]
    engine.close()


def test_timeout_aborts_async_runs_between_nodes(engine: Engine) -> None:
    engine.register_node("nap", lambda config, ctx: time.sleep(0.15))
    engine.add_workflow({"key": "t", "options": {"timeout": 100}, "nodes": [
        {"key": "n", "type": "nap"}, out("never")]})
    execution = engine.execute("t")
    assert execution.status == Status.ABORTED
    assert all(j.node_key != "o" for j in execution.jobs)


def test_engine_max_run_time_caps_every_execution(door_kind: str) -> None:
    engine = Engine(max_run_time=0.2)
    engine.register_node("nap", lambda config, ctx: time.sleep(0.3))
    engine.add_workflow({"key": "t", "sync": True, "nodes": [{"key": "n", "type": "nap"},
                                                              out("never")]})
    answer = Door(door_kind, engine).call(Request(path="/api/webhook:trigger/t"))
    assert answer.status == 408
    assert "max_run_time (0.2 s) reached" in answer.json()["errors"][0]["message"]
    [execution] = engine.executions("t")
    assert execution.status == Status.ABORTED
    assert "max_run_time" in (execution.jobs[0].log or "")
    assert [j.node_key for j in execution.jobs] == ["n"]
    engine.close()
    with pytest.raises(ValueError, match="max_run_time"):
        Engine(max_run_time=0)
