"""Retrying failed executions in place (``Engine.retry``) and in bulk (``Engine.recover``),
on every store, and from the command line."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import JSON
from doors import Door
from store_urls import store_url

from webhook_workflow import Engine, Execution, NodeContext, NotRetryable, Status


class Switch:
    """A node that fails (ERROR) while ``broken`` is set, and counts its runs."""

    def __init__(self) -> None:
        self.broken = True
        self.runs: list[str] = []
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, config: dict[str, Any], ctx: NodeContext) -> Any:
        with self.lock:
            self.runs.append(f"{ctx.execution_id}:{ctx.node_key}")
            self.items.append(config.get("item"))
        if self.broken:
            raise ConnectionError("the API is down")
        return {"ok": ctx.node_key}


def counting(runs: list[str]) -> Any:
    def count(config: dict[str, Any], ctx: NodeContext) -> str:
        runs.append(f"{ctx.execution_id}:{ctx.node_key}")
        return ctx.node_key
    return count


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request))
    yield eng
    eng.close(timeout=10)


def ended(engine: Engine, execution_id: str, after: int = 0) -> Execution:
    """The execution once it is finished (with more than ``after`` jobs; bounded: 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = engine.get_execution(execution_id)
        if found is not None and found.finished and len(found.jobs) > after:
            return found
        time.sleep(0.02)
    raise AssertionError(f"execution {execution_id} did not end")


def post(engine: Engine, key: str) -> str:
    answer = Door("asgi", engine).call(path=f"/api/webhook:trigger/{key}", body=b"{}",
                                       headers=[JSON])
    assert answer.status == 200
    return engine.executions(key, limit=1)[0].id


def pay(engine: Engine, switch: Switch, runs: list[str]) -> None:
    engine.register_node("api", switch)
    engine.register_node("count", counting(runs))
    engine.add_workflow({"key": "pay", "nodes": [
        {"key": "before", "type": "count"},
        {"key": "charge", "type": "api"},
        {"key": "after", "type": "count"}]})


def test_retry_runs_the_failed_node_again_and_keeps_what_resolved(engine: Engine) -> None:
    switch, runs = Switch(), []
    pay(engine, switch, runs)
    ident = post(engine, "pay")
    failed = ended(engine, ident)
    assert failed.status == Status.ERROR and failed.reason == "node:charge"
    switch.broken = False
    reopened = engine.retry(ident)
    # Returned reopened; a worker may have finished it already (the memory store is quick).
    assert reopened.id == ident and reopened.status in (Status.STARTED, Status.RESOLVED)
    done = ended(engine, ident, after=len(failed.jobs))
    assert done.status == Status.RESOLVED and done.reason is None
    assert [(j.node_key, int(j.status), j.meta.get("attempt")) for j in done.jobs] == [
        ("before", 1, None), ("charge", -2, None), ("charge", 1, 2), ("after", 1, None)]
    # The earlier ending stays readable: the failed job, and what the retry undid.
    retried = done.jobs[2]
    assert retried.meta["retryOf"]["status"] == -2
    assert retried.meta["retryOf"]["reason"] == "node:charge"
    assert runs == [f"{ident}:before", f"{ident}:after"]  # "before" did not run again
    assert switch.runs == [f"{ident}:charge", f"{ident}:charge"]


def test_a_retry_that_fails_again_counts_its_attempts(engine: Engine) -> None:
    switch, runs = Switch(), []
    pay(engine, switch, runs)
    ident = post(engine, "pay")
    first = ended(engine, ident)
    engine.retry(ident)
    second = ended(engine, ident, after=len(first.jobs))
    assert second.status == Status.ERROR
    engine.retry(ident)
    third = ended(engine, ident, after=len(second.jobs))
    assert [j.meta.get("attempt") for j in third.jobs if j.node_key == "charge"] == [
        None, 2, 3]


@pytest.mark.parametrize("status", ["RESOLVED", "queued"])
def test_retry_refuses_an_execution_that_did_not_fail(engine: Engine, status: str) -> None:
    engine.register_node("count", counting([]))
    engine.add_workflow({"key": "ok", "nodes": [{"key": "a", "type": "count"}]})
    if status == "queued":
        from webhook_workflow.records import Execution as Record

        queued = Record("ok", 1, {"headers": {}, "query": {}, "body": {}})
        engine.store.add(queued)
        ident = queued.id
    else:
        ident = ended(engine, post(engine, "ok")).id
    with pytest.raises(NotRetryable, match="only FAILED, ERROR and ABORTED"):
        engine.retry(ident)
    with pytest.raises(KeyError):
        engine.retry("123")


def test_retry_inside_a_loop_runs_the_failed_iteration_again(engine: Engine) -> None:
    switch = Switch()
    seen: list[Any] = []
    engine.register_node("api", switch)
    engine.register_node("see", lambda config, ctx: seen.append(config["item"]))
    engine.add_workflow({"key": "lines", "nodes": [
        {"key": "each", "type": "loop", "config": {"target": ["a", "b", "c"]},
         "branches": {"0": [
             {"key": "see", "type": "see", "config": {"item": "{{$scopes.each.item}}"}},
             {"key": "charge", "type": "api", "config": {"item": "{{$scopes.each.item}}"}}]}},
        {"key": "out", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.each}}"}}]})
    ident = post(engine, "lines")
    failed = ended(engine, ident)
    assert failed.status == Status.ERROR and seen == ["a"]
    switch.broken = False
    engine.retry(ident)
    done = ended(engine, ident, after=len(failed.jobs))
    assert done.status == Status.RESOLVED
    # The failed iteration goes on from the failed node, with its item; "see" for a does
    # not run again, and the loop counts as if it had not failed.
    assert seen == ["a", "b", "c"]
    assert switch.items == ["a", "a", "b", "c"]
    assert done.output == {"looped": 3, "done": 3}


def test_recover_retries_each_match_once(engine: Engine) -> None:
    switch, runs = Switch(), []
    pay(engine, switch, runs)
    idents = [post(engine, "pay") for _ in range(3)]
    for ident in idents:
        ended(engine, ident)
    assert engine.recover(dry_run=True) == idents  # the oldest first
    assert [e.status for e in engine.executions("pay")] == [Status.ERROR] * 3
    switch.broken = False
    assert engine.recover() == idents
    assert engine.recover() == []  # none twice: they are waiting or running now
    for ident in idents:
        assert ended(engine, ident, after=3).status == Status.RESOLVED
    assert engine.recover() == []


def test_recover_filters_by_workflow_status_and_time(engine: Engine) -> None:
    switch, runs = Switch(), []
    pay(engine, switch, runs)
    engine.add_workflow({"key": "other", "nodes": [{"key": "charge", "type": "api"}]})
    first = ended(engine, post(engine, "pay"))
    other = ended(engine, post(engine, "other"))
    assert engine.recover(workflow_key="other", dry_run=True) == [other.id]
    assert engine.recover(statuses=["FAILED"], dry_run=True) == []
    later = first.created_at + timedelta(microseconds=1)
    assert engine.recover(until=later, dry_run=True) == [first.id]
    assert engine.recover(since=later, dry_run=True) == [other.id]
    assert engine.recover(since=datetime.now(UTC) + timedelta(hours=1), dry_run=True) == []
    assert engine.executions(since=later) == [engine.get_execution(other.id)]
    with pytest.raises(ValueError, match="RESOLVED"):
        engine.recover(statuses=["RESOLVED"])
    with pytest.raises(ValueError, match="aware"):
        engine.recover(since=datetime(2026, 1, 1))


def test_a_retry_of_a_timed_out_wait_waits_again_with_a_fresh_timeout(engine: Engine
                                                                      ) -> None:
    from webhook_workflow import Job

    engine.register_node("wait", lambda config, ctx: Job(status=Status.PENDING))
    engine.add_workflow({"key": "slow", "options": {"timeout": 1500}, "nodes": [
        {"key": "ask", "type": "wait"}, {"key": "done", "type": "output",
                                         "config": {"value": "{{$jobsMapByNodeKey.ask}}"}}]})
    ident = post(engine, "slow")
    aborted = ended(engine, ident)
    assert aborted.status == Status.ABORTED and aborted.reason == "timeout"
    assert [(j.node_key, int(j.status)) for j in aborted.jobs] == [("ask", -3)]
    engine.retry(ident)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the retried node waits again
        found = engine.get_execution(ident)
        assert found is not None
        if [int(j.status) for j in found.jobs] == [-3, 0] and "retryAt" not in \
                found.jobs[-1].meta:
            break
        time.sleep(0.02)
    assert engine.resume(ident, "ask", "answered")
    done = ended(engine, ident, after=1)
    assert done.status == Status.RESOLVED and done.output == "answered"


# -- the command line ---------------------------------------------------------------------------
def test_the_cli_retries_and_recovers(tmp_path: Path) -> None:
    from webhook_workflow.cli import main

    url = f"sqlite:///{tmp_path / 'log.db'}"
    app = tmp_path / "flaky_app.py"
    marker = tmp_path / "fixed"
    app.write_text(
        "from pathlib import Path\n"
        "from webhook_workflow import Engine\n"
        f"FIXED = Path({str(marker)!r})\n"
        "def charge(config, ctx):\n"
        "    if not FIXED.exists():\n"
        "        raise ConnectionError('the API is down')\n"
        "    return 'charged'\n"
        "def make():\n"
        f"    engine = Engine({url!r})\n"
        "    engine.register_node('api', charge)\n"
        "    engine.add_workflow({'key': 'pay', 'nodes': [{'key': 'charge', 'type': 'api'}]})\n"
        "    return engine\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        import flaky_app

        engine = flaky_app.make()
        idents = [post(engine, "pay") for _ in range(2)]
        for ident in idents:
            ended(engine, ident)
        engine.close(timeout=10)

        out, err = io.StringIO(), io.StringIO()
        assert main(["recover", "--app", "flaky_app:make", "--dry-run"], out, err) == 0
        assert out.getvalue().split() == idents and "would retry 2 executions" in err.getvalue()
        out, err = io.StringIO(), io.StringIO()
        assert main(["recover", "--app", "flaky_app:make", "--status", "RESOLVED"], out,
                    err) == 2
        assert "RESOLVED" in err.getvalue()
        marker.write_text("yes")
        out, err = io.StringIO(), io.StringIO()
        assert main(["retry", idents[0], "--app", "flaky_app:make"], out, err) == 0, \
            err.getvalue()
        assert "RESOLVED" in out.getvalue()
        out, err = io.StringIO(), io.StringIO()
        assert main(["retry", idents[0], "--app", "flaky_app:make"], out, err) == 1
        assert "only FAILED, ERROR and ABORTED" in err.getvalue()
        out, err = io.StringIO(), io.StringIO()
        assert main(["recover", "--app", "flaky_app:make", "--since", "1h"], out, err) == 0
        assert out.getvalue().split() == [idents[1]]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("flaky_app", None)
