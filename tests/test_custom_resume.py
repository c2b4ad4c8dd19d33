"""Custom nodes that wait: Job(status=PENDING) from run(), engine.resume(), node.resume()."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import Engine, Job, NodeContext, Status


class Approval:
    """Waits for a decision; resume() turns it into the node's outcome."""

    def run(self, config: dict[str, Any], ctx: NodeContext) -> Job:
        return Job(status=Status.PENDING, result={"asked": config["who"]})

    def resume(self, job: Job, ctx: NodeContext) -> Any:
        decision = ctx.input
        if not decision.get("approved"):
            return Job(status=Status.REJECTED, result=decision)
        return {"approved_by": decision["by"]}


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    store = "memory" if request.param == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    eng = Engine(store)
    eng.register_node("approval", Approval())
    eng.register_node("plain-wait", lambda config, ctx: Job(status=Status.PENDING))
    eng.add_workflow({"key": "a", "nodes": [
        {"key": "ask", "type": "approval", "config": {"who": "{{$context.body.who}}"}},
        {"key": "done", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.ask}}"}}]})
    yield eng
    eng.close(timeout=5)


def wait_for(engine: Engine, execution_id: str, status: Status) -> Any:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        execution = engine.get_execution(execution_id)
        if execution is not None and execution.status == status and (
                status != Status.STARTED or any(j.status == Status.PENDING
                                                for j in execution.jobs)):
            return execution
        time.sleep(0.02)
    raise AssertionError(f"execution did not reach {status.name}")


def start(engine: Engine, key: str = "a", body: dict[str, Any] | None = None) -> str:
    from webhook_workflow.records import Execution

    execution = Execution(key, 1, {"headers": {}, "query": {}, "body": body or {"who": "ada"}})
    engine.store.add(execution)
    engine.start()
    engine.dispatcher.notify()
    return execution.id


def test_waiting_node_is_resumed_with_a_value(engine: Engine) -> None:
    execution_id = start(engine)
    waiting = wait_for(engine, execution_id, Status.STARTED)
    assert [(j.node_key, j.status, j.result) for j in waiting.jobs] == [
        ("ask", Status.PENDING, {"asked": "ada"})]
    assert engine.drain(5)  # a waiting execution does not hold drain up
    assert engine.resume(execution_id, "ask", {"approved": True, "by": "grace"})
    done = wait_for(engine, execution_id, Status.RESOLVED)
    assert done.output == {"approved_by": "grace"}
    assert engine.resume(execution_id, "ask", {}) is False  # nothing waits any more


def test_resume_can_end_the_node_with_another_status(engine: Engine) -> None:
    execution_id = start(engine)
    wait_for(engine, execution_id, Status.STARTED)
    assert engine.resume(execution_id, "ask", {"approved": False})
    done = wait_for(engine, execution_id, Status.REJECTED)
    assert [j.node_key for j in done.jobs] == ["ask"]


def test_without_resume_method_the_job_resolves_with_the_value(engine: Engine) -> None:
    engine.add_workflow({"key": "p", "nodes": [{"key": "w", "type": "plain-wait"}]})
    execution_id = start(engine, "p")
    wait_for(engine, execution_id, Status.STARTED)
    assert engine.resume(execution_id, "w", [1, 2])
    done = wait_for(engine, execution_id, Status.RESOLVED)
    assert done.jobs[0].result == [1, 2]


def test_unknown_or_wrong_targets_are_refused(engine: Engine) -> None:
    execution_id = start(engine)
    wait_for(engine, execution_id, Status.STARTED)
    assert engine.resume(execution_id, "done", 1) is False
    assert engine.resume("nope", "ask", 1) is False


def test_waiting_execution_can_be_canceled(engine: Engine) -> None:
    execution_id = start(engine)
    wait_for(engine, execution_id, Status.STARTED)
    assert engine.cancel(execution_id)
    canceled = engine.get_execution(execution_id)
    assert canceled is not None and canceled.status == Status.CANCELED
    assert canceled.jobs[0].status == Status.CANCELED
    assert engine.resume(execution_id, "ask", {}) is False


def test_sync_workflows_cannot_wait(engine: Engine) -> None:
    engine.add_workflow({"key": "s", "sync": True, "nodes": [
        {"key": "ask", "type": "approval", "config": {"who": "x"}}]})
    execution = engine.execute("s")
    assert execution.status == Status.ERROR
    assert "only async workflows can wait" in execution.jobs[0].result["message"]
