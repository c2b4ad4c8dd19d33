"""Imported NocoBase workflows run as in NocoBase's Processor and its flow-control plugins
(parallel, loop, delay, custom statuses), case by case, on every store (written from
plugin-workflow's server source)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_urls import store_url

from webhook_workflow import Engine, Execution, Job, Status
from webhook_workflow.records import Execution as ExecutionRecord


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request))
    # NocoBase's test instructions: `prompt` waits until resumed; `status` ends with its
    # config's status (plugin-workflow's __tests__/instructions).
    eng.register_node("prompt", lambda config, ctx: Job(status=Status.PENDING))
    eng.register_node("status", lambda config, ctx: Job(status=config["status"],
                                                        result=config.get("result")))
    yield eng
    eng.close(timeout=10)


def start(engine: Engine, definition: dict[str, Any], body: Any = None) -> str:
    """Register ``definition`` (async) and queue one execution of it; its id."""
    workflow = engine.add_workflow(definition)
    execution = ExecutionRecord(workflow.key, workflow.version,
                                {"headers": {}, "query": {}, "body": body or {}})
    engine.store.add(execution)
    engine.start()
    engine.dispatcher.notify()
    return execution.id


def settled(engine: Engine, execution_id: str, *, waiting: int = 0,
            status: Status | None = None) -> Execution:
    """The execution once it ended (``status``) or waits with ``waiting`` PENDING jobs of
    nodes that wait themselves (not parallels ``p``, not nodes running a branch; bounded:
    10 s)."""
    deadline = time.monotonic() + 10
    found = None
    while time.monotonic() < deadline:
        found = engine.get_execution(execution_id)
        if found is not None and status is not None and found.status == status:
            return found
        if found is not None and status is None and found.status == Status.STARTED and sum(
                j.status == Status.PENDING and not j.node_key.startswith("p")
                and "branch" not in j.meta for j in found.jobs) == waiting and engine.drain(0.2):
            again = engine.get_execution(execution_id)
            assert again is not None
            return again
        time.sleep(0.02)
    raise AssertionError(f"execution never settled: {found!r}")


def jobs(execution: Execution) -> dict[str, tuple[int, Any]]:
    return {j.node_key: (int(j.status), j.result) for j in execution.jobs}


def echo(key: str, value: Any = None) -> dict[str, Any]:
    return {"key": key, "type": "output", "config": {"value": value if value is not None
                                                     else key}}


# -- parallel: the other branches run while one waits (ParallelInstruction.run's reduce) ---
def test_parallel_runs_its_other_branches_while_one_waits(engine: Engine) -> None:
    # "parallel branches contains condition": branch 0 waits on a prompt, branch 1 runs a
    # condition and its echo meanwhile; the node after the parallel runs once both are done.
    ident = start(engine, {"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "config": {"mode": "all"}, "branches": {
            "0": [{"key": "ask", "type": "prompt"}],
            "1": [{"key": "cond", "type": "condition", "config": {
                "rejectOnFalse": False, "calculation": {}},
                "branches": {"1": [echo("yes")]}}]}},
        echo("after")]})
    waiting = settled(engine, ident, waiting=1)
    # A custom node's pending job reaches the parallel, which records it as 0 (PENDING).
    assert jobs(waiting) == {"p": (0, [0, 1]), "ask": (0, None), "cond": (1, True),
                             "yes": (1, "yes")}
    assert engine.resume(ident, "ask", 123)
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done) == {"p": (1, [1, 1]), "ask": (1, 123), "cond": (1, True),
                          "yes": (1, "yes"), "after": (1, "after")}


def test_parallel_all_settled_waits_for_the_waiting_branch(engine: Engine) -> None:
    # "wait till all done": branch 0 resolves, branch 1 waits on a timer (NocoBase's
    # asyncResume, which leaves its branch null); the parallel stays PENDING with [1, null]
    # until the timer has run and branch 1 has ended.
    ident = start(engine, {"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "config": {"mode": "allSettled"}, "branches": {
            "0": [echo("e0")],
            "1": [{"key": "wait", "type": "delay", "config": {"duration": 1}}, echo("e1")]}}]})
    waiting = settled(engine, ident, waiting=1)
    assert jobs(waiting)["p"] == (0, [1, None]) and jobs(waiting)["wait"][0] == 0
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["p"] == (1, [1, 1]) and jobs(done)["e1"] == (1, "e1")


def test_two_waiting_branches_are_woken_in_any_order(engine: Engine) -> None:
    ident = start(engine, {"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "branches": {
            "0": [{"key": "a", "type": "prompt"}, echo("after_a", "{{$jobsMapByNodeKey.a}}")],
            "1": [{"key": "b", "type": "prompt"}, echo("after_b", "{{$jobsMapByNodeKey.b}}")],
            "2": [echo("c")]}},
        echo("end")]})
    waiting = settled(engine, ident, waiting=2)
    assert jobs(waiting)["p"] == (0, [0, 0, 1])
    assert engine.resume(ident, "b", "B")
    waiting = settled(engine, ident, waiting=1)
    assert jobs(waiting)["p"] == (0, [0, 1, 1]) and jobs(waiting)["after_b"] == (1, "B")
    assert "after_a" not in jobs(waiting)
    assert engine.resume(ident, "a", "A")
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["p"] == (1, [1, 1, 1]) and jobs(done)["after_a"] == (1, "A")
    assert jobs(done)["end"] == (1, "end")


def test_a_failing_branch_ends_an_all_parallel_while_another_waits(engine: Engine) -> None:
    ident = start(engine, {"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "config": {"mode": "all"}, "branches": {
            "0": [{"key": "ask", "type": "prompt"}],
            "1": [{"key": "bad", "type": "status", "config": {"status": -1}}]}},
        echo("after")]})
    done = settled(engine, ident, status=Status.FAILED)
    assert jobs(done)["p"] == (-1, [0, -1]) and "after" not in jobs(done)
    assert engine.resume(ident, "ask") is False  # the execution has ended


def test_an_any_parallel_goes_on_when_one_branch_resolves(engine: Engine) -> None:
    # Mode any: a waiting branch lets the next start; the first RESOLVED settles the node,
    # and the branch still waiting no longer counts (it is not woken for the later delay).
    ident = start(engine, {"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "config": {"mode": "any"}, "branches": {
            "0": [{"key": "ask", "type": "prompt"}], "1": [echo("quick")]}},
        {"key": "later", "type": "prompt"}, echo("end")]})
    waiting = settled(engine, ident, waiting=2)  # ask (settled out) and later
    assert jobs(waiting)["p"] == (1, [0, 1])
    assert engine.resume(ident, "later")
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["end"] == (1, "end") and jobs(done)["ask"][0] == 0


def test_a_delay_in_one_branch_does_not_hold_the_next(engine: Engine) -> None:
    ident = start(engine, {"key": "par", "nodes": [
        {"key": "p", "type": "parallel", "branches": {
            "0": [{"key": "wait", "type": "delay", "config": {"duration": 1, "unit": 1000}},
                  echo("late")],
            "1": [echo("soon")]}}]})
    waiting = settled(engine, ident, waiting=1)
    assert jobs(waiting)["soon"] == (1, "soon") and "late" not in jobs(waiting)
    assert jobs(waiting)["p"] == (0, [None, 1])  # a delay's wait leaves its branch null
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["p"] == (1, [1, 1]) and jobs(done)["late"] == (1, "late")


# -- custom job statuses: Processor.exit maps StatusMap[s] ?? Math.sign(s) -----------------
@pytest.mark.parametrize(("status", "ends"), [(100, Status.RESOLVED), (-100, Status.FAILED),
                                              (2, Status.RESOLVED), (-7, Status.FAILED)])
def test_a_custom_job_status_ends_the_execution_by_its_sign(engine: Engine, status: int,
                                                            ends: Status) -> None:
    ident = start(engine, {"key": "st", "nodes": [
        {"key": "s", "type": "status", "config": {"status": status, "result": "r"}},
        echo("after")]})
    done = settled(engine, ident, status=ends)
    assert int(done.status or 0) == int(ends) and done.status.name == ends.name
    # The job keeps its own number, as NocoBase's job row does; nothing runs after it.
    assert jobs(done) == {"s": (status, "r")}
    listed = engine.executions("st", status=ends)
    assert [e.id for e in listed] == [ident]


def test_a_custom_status_in_a_branch_ends_the_execution_by_its_sign(engine: Engine) -> None:
    ident = start(engine, {"key": "st", "nodes": [
        {"key": "c", "type": "condition", "config": {"rejectOnFalse": False,
                                                     "calculation": {}},
         "branches": {"1": [{"key": "s", "type": "status", "config": {"status": -100}}]}},
        echo("after")]})
    done = settled(engine, ident, status=Status.FAILED)
    assert jobs(done)["s"] == (-100, None) and "after" not in jobs(done)


def test_the_cli_shows_a_custom_job_status_by_its_number(tmp_path: Path) -> None:
    import io

    from webhook_workflow.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    eng = Engine(url)
    eng.register_node("status", lambda config, ctx: Job(status=config["status"]))
    try:
        ident = start(eng, {"key": "st", "nodes": [
            {"key": "s", "type": "status", "config": {"status": 100}}]})
        settled(eng, ident, status=Status.RESOLVED)
    finally:
        eng.close(timeout=10)
    out, err = io.StringIO(), io.StringIO()
    assert main(["execution", ident, "--store", url], out, err) == 0, err.getvalue()
    line = next(row for row in out.getvalue().splitlines() if row.strip().startswith("s "))
    assert line.split()[:2] == ["s", "100"], out.getvalue()
    assert "RESOLVED" in out.getvalue()


# -- loop: LoopInstruction's looped / done and checkpoints ---------------------------------
def _loop(condition: Any, body: list[dict[str, Any]], target: Any = None) -> dict[str, Any]:
    return {"key": "each", "type": "loop", "config": {
        "target": target if target is not None else ["a", "b"], "condition": condition},
        "branches": {"0": body}}


def _holds_for(item: str) -> dict[str, Any]:
    return {"calculation": {"group": {"type": "and", "calculations": [
        {"calculator": "equal", "operands": ["{{$scopes.each.item}}", item]}]}}}


@pytest.mark.parametrize("checkpoint", [0, 1])
def test_a_loop_broken_after_its_first_item(engine: Engine, checkpoint: int) -> None:
    ident = start(engine, {"key": "l", "nodes": [
        _loop({"checkpoint": checkpoint, **_holds_for("a")}, [echo("o", "{{$scopes.each.item}}")]),
    ]})
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["each"] == (1, {"looped": 1, "done": 1, "broken": True})
    assert [j.result for j in done.jobs if j.node_key == "o"] == ["a"]


def test_a_false_first_before_each_check_counts_the_item(engine: Engine) -> None:
    ident = start(engine, {"key": "l", "nodes": [
        _loop({"checkpoint": 0, **_holds_for("z")}, [echo("o")])]})
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["each"] == (1, {"looped": 1, "done": 0, "broken": True})


def test_after_each_skips_the_next_item_with_continue_on_false(engine: Engine) -> None:
    ident = start(engine, {"key": "l", "nodes": [
        _loop({"checkpoint": 1, "continueOnFalse": True, "calculation": {"group": {
            "type": "and", "calculations": [
                {"calculator": "notEqual", "operands": ["{{$scopes.each.item}}", "b"]}]}}},
            [echo("o", "{{$scopes.each.item}}")], ["a", "b", "c"])]})
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["each"] == (1, {"looped": 3, "done": 2})
    assert [j.result for j in done.jobs if j.node_key == "o"] == ["a", "c"]


def test_a_waiting_loop_counts_the_iterations_ended(engine: Engine) -> None:
    ident = start(engine, {"key": "l", "nodes": [
        _loop(False, [{"key": "ask", "type": "prompt"}])]})
    assert jobs(settled(engine, ident, waiting=1))["each"] == (0, {"looped": 0, "done": 0})
    assert engine.resume(ident, "ask")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the second iteration waits
        found = engine.get_execution(ident)
        assert found is not None
        if sum(j.node_key == "ask" for j in found.jobs) == 2 and engine.drain(0.2):
            break
        time.sleep(0.02)
    found = engine.get_execution(ident)
    assert found is not None and jobs(found)["each"] == (0, {"looped": 1, "done": 1})
    assert engine.resume(ident, "ask")
    done = settled(engine, ident, status=Status.RESOLVED)
    assert jobs(done)["each"] == (1, {"looped": 2, "done": 2})


# -- options.timeout aborts a waiting execution (ExecutionTimeoutManager) ------------------
@pytest.mark.parametrize("waiter", [
    {"key": "wait", "type": "delay", "config": {"duration": 2, "unit": 1000}},
    {"key": "wait", "type": "prompt"},
])
def test_a_timeout_aborts_an_execution_that_waits(engine: Engine, waiter: dict[str, Any]
                                                  ) -> None:
    ident = start(engine, {"key": "slow", "options": {"timeout": 300}, "nodes": [
        {"key": "each", "type": "loop", "config": {"target": 1},
         "branches": {"0": [waiter]}}, echo("after")]})
    begun = time.monotonic()
    done = settled(engine, ident, status=Status.ABORTED)
    assert time.monotonic() - begun < 1.8  # the timeout, not the 2 s delay, ended it
    assert done.reason == "timeout"
    # Every job still waiting ends ABORTED with it; nothing after it runs.
    assert {k: s for k, (s, _) in jobs(done).items()} == {"each": -3, "wait": -3}
    assert engine.resume(ident, "wait") is False


def test_a_resumed_run_has_only_what_is_left_of_its_timeout(engine: Engine) -> None:
    engine.register_node("slow", lambda config, ctx: time.sleep(0.25) or "slept")
    ident = start(engine, {"key": "slow", "options": {"timeout": 1000}, "nodes": [
        {"key": "wait", "type": "prompt"}, {"key": "s1", "type": "slow"},
        {"key": "s2", "type": "slow"}]})
    settled(engine, ident, waiting=1)
    time.sleep(0.7)
    assert engine.resume(ident, "wait")
    done = settled(engine, ident, status=Status.ABORTED)
    assert done.reason == "timeout"
    assert jobs(done)["s1"][0] == -3 or jobs(done)["s2"][0] == -3


# -- execution reason -------------------------------------------------------------------------
def test_the_reason_names_the_node_that_ended_the_execution(engine: Engine) -> None:
    ident = start(engine, {"key": "r", "nodes": [
        echo("fine"), {"key": "bad", "type": "status", "config": {"status": -1}}]})
    done = settled(engine, ident, status=Status.FAILED)
    assert done.reason == "node:bad"
    assert done.to_dict()["reason"] == "node:bad"
    ok = start(engine, {"key": "ok", "nodes": [echo("fine")]})
    assert settled(engine, ok, status=Status.RESOLVED).reason is None


def test_the_reason_says_who_canceled(engine: Engine) -> None:
    ident = start(engine, {"key": "c", "nodes": [{"key": "wait", "type": "prompt"}]})
    settled(engine, ident, waiting=1)
    assert engine.cancel(ident, by="ada")
    done = engine.get_execution(ident)
    assert done is not None and done.status == Status.CANCELED
    assert done.reason == "manual_cancel:ada"
    assert jobs(done)["wait"][0] == int(Status.CANCELED)
