"""Cancel works on a queued, a waiting and a running execution: a running one stops before
its next node, in this process and from another process on the same SQLite file or
PostgreSQL database."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from store_urls import store_url
from test_durability import Server, wait_until

from webhook_workflow import Engine, Execution, NodeContext, Status
from webhook_workflow.records import Execution as Record

STEPS = 12


def chain(kind: str = "step") -> dict[str, Any]:
    return {"key": "long", "nodes": [{"key": f"s{i}", "type": kind} for i in range(STEPS)]}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request), lease=0.6)
    yield eng
    eng.close(timeout=10)


def ended(engine: Engine, ident: str) -> Execution:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = engine.get_execution(ident)
        if found is not None and found.finished:
            return found
        time.sleep(0.02)
    raise AssertionError("the execution did not end")


def test_a_running_execution_stops_before_its_next_node(engine: Engine) -> None:
    started = threading.Event()
    ran: list[str] = []

    def step(config: dict[str, Any], ctx: NodeContext) -> str:
        ran.append(ctx.node_key)
        started.set()
        time.sleep(0.1)
        return ctx.node_key

    engine.register_node("step", step)
    workflow = engine.add_workflow(chain())
    execution = Record(workflow.key, workflow.version, {"headers": {}, "query": {}, "body": {}})
    engine.store.add(execution)
    engine.start()
    engine.dispatcher.notify()
    assert started.wait(10)
    assert engine.cancel(execution.id, by="ops")
    done = ended(engine, execution.id)
    assert done.status == Status.CANCELED and done.reason == "manual_cancel:ops"
    assert 1 <= len(ran) < STEPS  # the node running then finished; no later one started
    assert [j.node_key for j in done.jobs] == ran
    assert engine.cancel(execution.id) is False  # it has ended


def test_a_queued_execution_is_canceled_at_once(engine: Engine) -> None:
    engine.register_node("step", lambda config, ctx: None)
    workflow = engine.add_workflow(chain())
    queued = Record(workflow.key, workflow.version, {"headers": {}, "query": {}, "body": {}})
    engine.store.add(queued)  # no worker started: it stays queued
    assert engine.cancel(queued.id)
    found = engine.get_execution(queued.id)
    assert found is not None and found.status == Status.CANCELED
    assert found.reason == "manual_cancel" and found.jobs == []


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_another_process_cancels_a_running_execution(kind: str, tmp_path: Path,
                                                     request: pytest.FixtureRequest,
                                                     servers: list[Server]) -> None:
    url = store_url(kind, tmp_path, request)
    definition = tmp_path / "long.json"
    definition.write_text(json.dumps({"key": "long", "nodes": [
        {"key": f"s{i}", "type": "record"} if i % 2 == 0 else
        {"key": f"s{i}", "type": "pause", "config": {"seconds": 0.3}}
        for i in range(STEPS * 2)]}))
    record = tmp_path / "record.txt"
    server = Server(tmp_path, definition, url, record, lease=0.9)
    servers.append(server)
    answer = httpx.post(f"{server.url}/api/webhook:trigger/long", json={}, timeout=10)
    assert answer.status_code == 200
    wait_until(lambda: record.exists() and record.read_text().strip() != "", timeout=20)
    other = Engine(url)  # another process's view: it runs nothing of this workflow
    try:
        ident = other.executions("long", limit=1)[0].id
        assert other.cancel(ident, by="second host")
        wait_until(lambda: other.get_execution(ident).finished, timeout=20)
        done = other.get_execution(ident)
    finally:
        other.close(timeout=5)
    assert done is not None and done.status == Status.CANCELED
    assert done.reason == "manual_cancel:second host"
    runs = Counter(line.split()[1] for line in record.read_text().splitlines())
    assert 1 <= len(runs) < STEPS  # it stopped well before its end
    assert all(j.status in (Status.RESOLVED, Status.CANCELED) for j in done.jobs)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_another_process_cancels_queued_and_waiting_executions(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest,
        servers: list[Server]) -> None:
    url = store_url(kind, tmp_path, request)
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "wait.json").write_text(json.dumps({"key": "wait", "nodes": [
        {"key": "nap", "type": "delay", "config": {"duration": 30, "unit": 1000}},
        {"key": "rec", "type": "record"}]}))
    # Debounced for 30 s: it stays queued, not yet startable.
    (folder / "later.json").write_text(json.dumps({"key": "later", "options": {
        "debounce": {"period": 30000}}, "nodes": [{"key": "rec", "type": "record"}]}))
    record = tmp_path / "record.txt"
    server = Server(tmp_path, folder, url, record, lease=0.9)
    servers.append(server)
    for key in ("wait", "later"):
        answer = httpx.post(f"{server.url}/api/webhook:trigger/{key}", json={}, timeout=10)
        assert answer.status_code == 200
    other = Engine(url)
    try:
        wait_until(lambda: bool(other.executions("wait", limit=1)) and
                   other.executions("wait", limit=1)[0].status == Status.STARTED, timeout=20)
        waiting = other.executions("wait", limit=1)[0]
        queued = other.executions("later", limit=1)[0]
        assert queued.status is None
        assert other.cancel(waiting.id, by="ops") and other.cancel(queued.id, by="ops")
        for ident in (waiting.id, queued.id):
            done = other.get_execution(ident)
            assert done is not None and done.status == Status.CANCELED
            assert done.reason == "manual_cancel:ops"
            assert all(j.status == Status.CANCELED for j in done.jobs)
    finally:
        other.close(timeout=5)
    assert not record.exists() or record.read_text() == ""  # neither ran a node
