"""Exactly one run per idempotency key, however many copies of a delivery arrive at once.

Copies of a sync delivery that arrive while the first runs get 409; those that arrive after it
answered get its stored answer. None of them may run the workflow again: not in one process,
not in two processes sharing a SQLite file or a PostgreSQL database.
"""

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
from conftest import JSON
from doors import Door
from store_urls import store_url
from test_durability import Server

from webhook_workflow import Engine, NodeContext

KEYS = 5
COPIES = 16
#: How long a run takes (seconds): copies arrive while it runs, not only after it answered.
PAUSE = 0.2


def _definition() -> dict[str, Any]:
    return {"key": "pay", "sync": True,
            "config": {"idempotency": {"key": "{{$headers.x-key}}"},
                       "request": {"headers": [{"key": "x-key"}]}},
            "nodes": [{"key": "rec", "type": "record"},
                      {"key": "wait", "type": "pause", "config": {"seconds": PAUSE}},
                      {"key": "reply", "type": "response", "config": {
                          "statusCode": 201, "body": {"ran": "{{$context.headers.x-key}}"}}}]}


def _deliver_all(send: Any) -> Counter[int]:
    """Every copy of every key at once (threads released together); the statuses seen."""
    statuses: Counter[int] = Counter()
    errors: list[BaseException] = []
    gate = threading.Barrier(KEYS * COPIES)
    lock = threading.Lock()

    def one(key: str, copy: int) -> None:
        try:
            gate.wait(10)
            status = send(key, copy)
            with lock:
                statuses[status] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(f"k{k}", c))
               for k in range(KEYS) for c in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(statuses.values()) == KEYS * COPIES
    assert set(statuses) <= {201, 409}, statuses
    return statuses


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    store = "memory" if request.param == "memory" else f"sqlite:///{tmp_path / 'keys.db'}"
    eng = Engine(store)
    yield eng
    eng.close(timeout=5)


def test_one_run_per_key_in_one_process(engine: Engine, door_kind: str) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def record(config: dict[str, Any], ctx: NodeContext) -> None:
        with lock:
            runs[ctx.execution_id] += 1

    engine.register_node("record", record)
    engine.register_node("pause", lambda config, ctx: time.sleep(config["seconds"]))
    engine.add_workflow(_definition())
    door = Door(door_kind, engine)

    def send(key: str, copy: int) -> int:
        return door.call(path="/api/webhook:trigger/pay", body=b"{}",
                         headers=[JSON, ("X-Key", key)]).status

    statuses = _deliver_all(send)
    executions = engine.executions("pay", limit=1000)
    assert len(executions) == KEYS, statuses
    assert sorted(e.context["headers"]["x-key"] for e in executions) == \
        [f"k{k}" for k in range(KEYS)]
    assert sorted(runs) == sorted(e.id for e in executions)
    assert set(runs.values()) == {1}
    # Once answered, a copy gets the stored answer, not a run.
    answer = door.call(path="/api/webhook:trigger/pay", body=b"{}",
                       headers=[JSON, ("X-Key", "k0")])
    assert (answer.status, answer.json()) == (201, {"ran": "k0"})
    assert len(engine.executions("pay", limit=1000)) == KEYS


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_one_run_per_key_across_two_processes(kind: str, tmp_path: Path,
                                              request: pytest.FixtureRequest,
                                              servers: list[Server]) -> None:
    store = store_url(kind, tmp_path, request)
    definition = tmp_path / "pay.json"
    definition.write_text(json.dumps(_definition()))
    record = tmp_path / "record.txt"
    pair = [Server(tmp_path, definition, store, record, workers=2) for _ in range(2)]
    servers.extend(pair)
    clients = [httpx.Client(timeout=httpx.Timeout(20.0)) for _ in pair]
    try:
        def send(key: str, copy: int) -> int:
            server, client = pair[copy % 2], clients[copy % 2]
            return client.post(f"{server.url}/api/webhook:trigger/pay", json={},
                               headers={"X-Key": key}).status_code

        statuses = _deliver_all(send)
    finally:
        for client in clients:
            client.close()
    lines = record.read_text().splitlines()
    runs = Counter(line.split()[0] for line in lines)
    assert len(runs) == KEYS and set(runs.values()) == {1}, (statuses, len(lines))
    engine = Engine(store)
    try:
        executions = engine.executions("pay", limit=1000)
        assert sorted(e.id for e in executions) == sorted(runs)
    finally:
        engine.close(timeout=5)
        for server in pair:  # before the PostgreSQL tables are dropped
            server.stop()
