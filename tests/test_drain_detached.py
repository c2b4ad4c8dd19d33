"""A sync run past ``options.syncWait`` is waited for like any other run.

After its 202 the run goes on in the background: ``drain()`` returns only once it ended,
``close()`` lets it end and records that end (also with the memory store), and while it runs
the execution reads STARTED.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import JSON
from doors import Door
from store_urls import store_url

from webhook_workflow import Engine, NodeContext, Status

#: How long each of the two nodes takes (seconds); syncWait answers long before.
STEP = 0.4


def _engine(store: str, gate: threading.Event | None = None) -> Engine:
    engine = Engine(store)

    def slow(config: dict[str, Any], ctx: NodeContext) -> str:
        if gate is not None:
            gate.wait(10)
        else:
            threading.Event().wait(STEP)
        return ctx.node_key

    engine.register_node("slow", slow)
    engine.add_workflow({"key": "hook", "sync": True, "options": {"syncWait": 50},
                         "nodes": [{"key": "one", "type": "slow"},
                                   {"key": "two", "type": "slow"}]})
    return engine


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, tmp_path, request)


def _detach(engine: Engine, door_kind: str) -> str:
    answer = Door(door_kind, engine).call(headers=[JSON], body=b"{}")
    assert answer.status == 202
    return str(answer.json()["executionId"])


def test_drain_waits_for_a_detached_run(store: str, door_kind: str) -> None:
    gate = threading.Event()
    engine = _engine(store, gate)
    try:
        ident = _detach(engine, door_kind)
        running = engine.get_execution(ident)
        assert running is not None and running.status == Status.STARTED
        assert (str(running.status), repr(running.status)) == ("STARTED", "<Status.STARTED: 0>")
        assert running.to_dict()["status_name"] == "STARTED"
        assert engine.drain(timeout=0.3) is False  # still running: not drained
        gate.set()
        assert engine.drain(timeout=10) is True
        done = engine.get_execution(ident)
        assert done is not None and done.status == Status.RESOLVED
        assert [(j.node_key, j.status) for j in done.jobs] == [("one", Status.RESOLVED),
                                                               ("two", Status.RESOLVED)]
    finally:
        gate.set()
        engine.close(timeout=10)


def test_close_lets_a_detached_run_end_and_records_it(store: str, door_kind: str) -> None:
    engine = _engine(store)
    ident = _detach(engine, door_kind)
    engine.close(timeout=10)
    if store == "memory":
        done = engine.store.get(ident)
    else:
        reopened = Engine(store)
        done = reopened.get_execution(ident)
        reopened.close(timeout=5)
    assert done is not None and done.status == Status.RESOLVED
    assert [j.node_key for j in done.jobs] == ["one", "two"]


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = _engine("memory")
    yield eng
    eng.close(timeout=10)


def test_a_queued_execution_still_reads_queued_and_a_pending_job_pending(engine: Engine) -> None:
    from webhook_workflow import Execution, Job

    queued = Execution("hook", 1, {})
    assert queued.status is None
    job = Job(Status.PENDING)
    assert str(job.status) == "PENDING"
    started = Execution("hook", 1, {}, status=Status.PENDING)
    assert str(started.status) == "STARTED" and started.status == 0
