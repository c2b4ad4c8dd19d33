"""The edges of "exactly one run per key": a delivery whose process died, and a sync run
that goes on past ``options.syncWait``.

A delivery that died before it answered is run again by exactly one of the copies that
arrive at once; a run past syncWait stores its 202 before it may record its end, so a copy
never finds it ended and unanswered (which would make it run again).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import JSON
from doors import Door
from store_urls import store_url

from webhook_workflow import Engine, Execution, NodeContext, Status
from webhook_workflow.records import utcnow
from webhook_workflow.store.base import Idempotency

COPIES = 20
LEASE = 0.3


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(store_url(request.param, tmp_path, request), lease=LEASE)
    yield eng
    eng.close(timeout=10)


def _counting(engine: Engine, gate: threading.Event | None = None) -> Counter[str]:
    """Register node ``record``, which counts its runs by execution id, then sleeps its
    ``seconds``, or, given a ``gate``, waits (bounded) until the test opens it."""
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def record(config: dict[str, Any], ctx: NodeContext) -> None:
        with lock:
            runs[ctx.execution_id] += 1
        if gate is None:
            time.sleep(config.get("seconds", 0))
        else:
            gate.wait(10)

    engine.register_node("record", record)
    return runs


def _at_once(send: Callable[[], Any], copies: int) -> list[Any]:
    """``send`` on ``copies`` threads released together; their results."""
    gate = threading.Barrier(copies)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            gate.wait(10)
            result = send()
            with lock:
                results.append(result)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(results) == copies
    return results


def _died(engine: Engine, key: str) -> Execution:
    """A sync delivery of ``key`` whose process died before it answered, as the store keeps
    it once that is noticed: ABORTED, the key still naming it, without an answer."""
    workflow = engine.get_workflow("pay")
    assert workflow is not None
    execution = Execution("pay", workflow.version, {"headers": {"x-key": key}, "query": {},
                                                    "body": {}},
                          status=Status.STARTED, sync=True, started_at=utcnow())
    assert engine.store.add(execution, Idempotency("pay", key, 60)) is None
    abort = getattr(engine.store, "abort_orphaned_sync", None)
    if abort is None:  # the memory store: its executions end with their process
        execution.status, execution.finished_at = Status.ABORTED, utcnow()
        engine.store.save(execution)
    else:  # its lease runs out, as when its process was killed
        time.sleep(LEASE + 0.1)
        assert abort() == 1
    found = engine.get_execution(execution.id)
    assert found is not None and found.status == Status.ABORTED
    return execution


def test_a_dead_delivery_runs_again_exactly_once(engine: Engine, door_kind: str) -> None:
    runs = _counting(engine)
    engine.add_workflow({
        "key": "pay", "sync": True,
        "config": {"idempotency": {"key": "{{$headers.x-key}}"},
                   "request": {"headers": [{"key": "x-key"}]}},
        "nodes": [{"key": "rec", "type": "record", "config": {"seconds": 0.2}},
                  {"key": "reply", "type": "response", "config": {"statusCode": 201}}]})
    dead = _died(engine, "k1")
    door = Door(door_kind, engine)

    def send() -> int:
        return door.call(path="/api/webhook:trigger/pay", body=b"{}",
                         headers=[JSON, ("X-Key", "k1")]).status

    statuses = Counter(_at_once(send, COPIES))
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses
    assert len(runs) == 1 and set(runs.values()) == {1}, (runs, statuses)
    again = [e.id for e in engine.executions("pay", limit=100) if e.id != dead.id]
    assert again == list(runs)
    # The key is the new run's now: a later copy gets its answer and runs nothing.
    assert send() == 201 and len(runs) == 1


def _sync_wait_workflow(engine: Engine) -> None:
    engine.add_workflow({
        "key": "pay", "sync": True, "options": {"syncWait": 50},
        "config": {"idempotency": {"key": "{{$headers.x-key}}"}},
        "nodes": [{"key": "rec", "type": "record", "config": {"seconds": 0.3}}]})


def test_copies_of_a_run_past_sync_wait_run_nothing(engine: Engine, door_kind: str) -> None:
    # The run holds until every copy has answered: on a loaded machine a 0.3 s sleep can
    # end before the 50 ms syncWait is noticed, and the run then answers 200 in time.
    gate = threading.Event()
    runs = _counting(engine, gate)
    _sync_wait_workflow(engine)
    door = Door(door_kind, engine)

    def send() -> tuple[int, Any]:
        answer = door.call(path="/api/webhook:trigger/pay", body=b"{}",
                           headers=[JSON, ("X-Key", "k1")])
        return answer.status, answer.json()

    try:
        answers = _at_once(send, COPIES)
    finally:
        gate.set()
    assert engine.drain(timeout=10)
    assert len(runs) == 1 and set(runs.values()) == {1}, (runs, answers)
    ident = next(iter(runs))
    assert [a for a in answers if a[0] != 409] == [(202, {"executionId": ident})] * (
        len(answers) - sum(a[0] == 409 for a in answers)), answers
    assert send() == (202, {"executionId": ident}) and len(runs) == 1


@contextmanager
def _before_remember(engine: Engine, hook: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Within the block, ``hook(answer)`` runs inside ``store.remember``, before the answer of
    an idempotent delivery is stored: the moment a racing copy must be handled."""
    store = engine.store
    remember = store.remember

    def hooked(workflow_key: str, key: str, answer: dict[str, Any]) -> None:
        hook(answer)
        remember(workflow_key, key, answer)

    store.remember = hooked  # type: ignore[method-assign]
    try:
        yield
    finally:
        store.remember = remember  # type: ignore[method-assign]


def _send_copy(copies: list[int], send: Callable[[], int]) -> None:
    """Send one copy from another thread and wait for its status (bounded)."""
    copy = threading.Thread(target=lambda: copies.append(send()))
    copy.start()
    copy.join(10)


def test_the_202_is_stored_before_the_run_may_record_its_end(engine: Engine,
                                                             door_kind: str) -> None:
    """The run ends while its 202 is being stored; a copy arriving right then must not find
    it ended without an answer."""
    runs = _counting(engine)
    _sync_wait_workflow(engine)
    door = Door(door_kind, engine)
    copies: list[int] = []
    entered: list[bool] = []

    def send() -> int:
        return door.call(path="/api/webhook:trigger/pay", body=b"{}",
                         headers=[JSON, ("X-Key", "k1")]).status

    def run_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "webhook-workflow-sync-wait"]

    def while_storing_the_202(answer: dict[str, Any]) -> None:
        if answer["status"] == 202 and not entered:
            entered.append(True)
            for thread in run_threads():  # the run ends meanwhile
                thread.join(10)
            assert not run_threads() and len(runs) == 1
            _send_copy(copies, send)

    with _before_remember(engine, while_storing_the_202):
        assert send() == 202
    assert copies == [409]
    assert engine.drain(timeout=10)
    assert len(runs) == 1, runs
    (ident,) = runs
    done = engine.get_execution(ident)
    assert done is not None and done.status == Status.RESOLVED
    assert send() == 202 and len(runs) == 1


def test_a_copy_arriving_while_the_answer_is_stored_runs_nothing(engine: Engine,
                                                                 door_kind: str) -> None:
    """The run has ended (the memory store shows its final status at once) but its answer
    is not stored yet: a copy arriving right then gets 409, not a run of its own."""
    runs = _counting(engine)
    engine.add_workflow({
        "key": "pay", "sync": True, "config": {"idempotency": {"key": "{{$headers.x-key}}"}},
        "nodes": [{"key": "rec", "type": "record"},
                  {"key": "reply", "type": "response", "config": {"statusCode": 201}}]})
    door = Door(door_kind, engine)
    copies: list[int] = []

    def send() -> int:
        return door.call(path="/api/webhook:trigger/pay", body=b"{}",
                         headers=[JSON, ("X-Key", "k1")]).status

    def while_storing(answer: dict[str, Any]) -> None:
        if not copies:
            copies.append(0)
            _send_copy(copies, send)

    with _before_remember(engine, while_storing):
        assert send() == 201
    assert copies == [0, 409] and len(runs) == 1, (copies, runs)
    assert send() == 201 and len(runs) == 1
