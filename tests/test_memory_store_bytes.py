"""The memory store keeps what no worker runs packed: bounded in bytes, invisible to the GC,
and read back exactly."""

from __future__ import annotations

import gc
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from doors import Door

from webhook_workflow import Engine, Execution, Job, NodeContext, Status, StoreUnavailable
from webhook_workflow.records import utcnow
from webhook_workflow.store.compact import pack, unpack
from webhook_workflow.store.memory import MemoryStore

KIB = 1024


def _hook(key: str = "hook", sync: bool = True) -> dict[str, Any]:
    return {"key": key, "sync": sync, "nodes": [
        {"key": "echo", "type": "output", "config": {"value": "{{$context.body.n}}"}}]}


def _body(n: int, size: int) -> bytes:
    return json.dumps({"n": n, "pad": "x" * size}).encode()


def test_pack_round_trips_every_field_exactly() -> None:
    execution = Execution("w", 3, {"headers": {"a": "b"}, "query": {}, "body": {
        "tuple": (1, 2), "float": 0.1, "big": 2**80, "when": datetime(2026, 1, 2, tzinfo=UTC)}},
        status=Status.STARTED, sync=True, output={"x": [1]}, response={"status": 200},
        replay_of="r1", parent_id="p1", stack=["up"], started_at=utcnow())
    execution.jobs.append(Job(Status.FAILED, {"message": "no"}, "log line", "n1",
                              started_at=1_700_000_000.123456, finished_at=utcnow(),
                              meta={"seq": 1}))
    copy = unpack(pack(execution))
    assert copy == execution and copy is not execution
    assert copy.jobs[0].id == execution.jobs[0].id
    assert copy.started_at == execution.started_at  # to the microsecond
    assert copy.context["body"]["tuple"] == (1, 2)
    assert str(copy.status) == "STARTED"  # a running execution reads STARTED, not PENDING


def test_plain_values_and_others_take_their_own_format_and_both_round_trip() -> None:
    plain = Execution("w", 1, {"headers": {"a": "b"}, "query": {}, "body": {"n": [1, 2.5]}},
                      status=Status.RESOLVED, finished_at=utcnow())
    plain.jobs.append(Job(Status.RESOLVED, {"ok": True}, node_key="n"))
    other = Execution("w", 1, {"headers": {}, "query": {}, "body": {"at": utcnow()}},
                      status=Status.RESOLVED)
    blobs = [pack(plain), pack(other)]
    assert blobs[0][0] != 0x80 and blobs[1][0] == 0x80  # marshal, then pickle
    assert [unpack(blob) for blob in blobs] == [plain, other]


def test_a_value_pickle_refuses_is_kept_as_its_text() -> None:
    lock = threading.Lock()
    execution = Execution("w", 1, {"headers": {}, "query": {}, "body": {}},
                          status=Status.RESOLVED)
    execution.jobs.append(Job(Status.RESOLVED, {"held": lock, "fine": 1}, node_key="n"))
    copy = unpack(pack(execution))
    assert copy.jobs[0].result == {"held": str(lock), "fine": 1}


def test_finished_executions_are_dropped_oldest_first_past_max_store_bytes() -> None:
    engine = Engine(max_store_bytes=200 * KIB)
    engine.add_workflow(_hook())
    door = Door("asgi", engine)
    ids = []
    for n in range(20):
        answer = door.call(body=_body(n, 30 * KIB), headers=[("content-type",
                                                              "application/json")])
        assert answer.status == 200
        ids.append(engine.executions(limit=1)[0].id)
    assert engine.store.kept_bytes <= 200 * KIB  # type: ignore[attr-defined]
    kept = [i for i in ids if engine.get_execution(i) is not None]
    # The newest survive, in order; about 6 bodies of 30 KiB fit in 200 KiB.
    assert kept == ids[-len(kept):] and 4 <= len(kept) <= 7
    assert engine.get_execution(ids[-1]).output == 19  # type: ignore[union-attr]
    engine.close(timeout=5)


def test_the_newest_finished_execution_is_kept_even_when_larger_than_the_bound() -> None:
    engine = Engine(max_store_bytes=10 * KIB)
    engine.add_workflow(_hook())
    door = Door("wsgi", engine)
    answer = door.call(body=_body(1, 50 * KIB), headers=[("content-type",
                                                          "application/json")])
    assert answer.status == 200
    [execution] = engine.executions()
    assert execution.context["body"]["n"] == 1
    engine.close(timeout=5)


def test_queued_work_is_never_dropped_a_new_one_is_refused_with_503() -> None:
    store = MemoryStore(max_bytes=100 * KIB)
    done = Execution("w", 1, {"headers": {}, "query": {}, "body": {"pad": "d" * 40 * KIB}},
                     status=Status.RESOLVED)
    store.add(done)
    first = Execution("w", 1, {"headers": {}, "query": {}, "body": {"pad": "q" * 60 * KIB}})
    store.add(first)  # room is made by dropping the finished one
    assert store.get(done.id) is None and store.get(first.id) is not None
    second = Execution("w", 1, {"headers": {}, "query": {}, "body": {"pad": "r" * 60 * KIB}})
    with pytest.raises(StoreUnavailable, match="max_bytes"):
        store.add(second)
    assert store.queued_count() == 1 and store.get(second.id) is None
    claimed = store.claim("me", ["w"])
    assert claimed is not None and claimed.id == first.id
    assert store.kept_bytes == 0  # a running execution is the worker's object
    store.add(second)  # the queue has room again


class Blocker:
    """Holds its worker until released, so what arrives meanwhile stays queued."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()
        self.runs = 0

    def run(self, config: dict[str, Any], ctx: NodeContext) -> Any:
        self.runs += 1
        self.started.set()
        self.go.wait(10)
        return 1


def test_the_door_answers_503_when_queued_bytes_are_full() -> None:
    engine = Engine(max_store_bytes=100 * KIB, workers=1)
    blocker = Blocker()
    engine.register_node("block", blocker)
    engine.add_workflow({"key": "hook", "nodes": [{"key": "b", "type": "block"}]})
    door = Door("asgi", engine)
    json_type = [("content-type", "application/json")]
    assert door.call(body=_body(0, 30 * KIB), headers=json_type).status == 200
    assert blocker.started.wait(5)  # the only worker is busy: the next ones queue
    answers = [door.call(body=_body(n, 30 * KIB), headers=json_type) for n in range(1, 6)]
    assert [a.status for a in answers] == [200, 200, 200, 503, 503]
    assert answers[-1].header("retry-after") == "5"
    assert "queue full" in answers[-1].body.decode()
    assert engine.store.queued_count() == 3
    blocker.go.set()
    assert engine.drain(timeout=10)
    assert blocker.runs == 4  # every accepted delivery ran; the refused ones did not
    engine.close(timeout=5)


def test_kept_executions_add_no_objects_for_the_garbage_collector() -> None:
    engine = Engine()
    engine.add_workflow(_hook())
    door = Door("asgi", engine)
    for n in range(50):  # warm-up: caches, compiled plans, first-request state
        door.call(body=_body(n, 10), headers=[("content-type", "application/json")])
    gc.collect()
    before = len(gc.get_objects())
    for n in range(2_000):
        door.call(body=_body(n, 10), headers=[("content-type", "application/json")])
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert len(engine.executions(limit=3_000)) == 2_050
    # Kept as objects, each execution was about seven tracked containers (14,000 here).
    assert grown < 200, f"{grown} tracked objects for 2,000 kept executions"
    engine.close(timeout=5)


class Sleeper:
    """A node that waits for engine.resume()."""

    def run(self, config: dict[str, Any], ctx: NodeContext) -> Job:
        return Job(status=Status.PENDING, result={"pad": config["pad"]})


def test_waiting_executions_are_packed_and_resume_with_their_data() -> None:
    engine = Engine()
    engine.register_node("sleeper", Sleeper())
    engine.add_workflow({"key": "w", "nodes": [
        {"key": "s", "type": "sleeper", "config": {"pad": "{{$context.body.pad}}"}},
        {"key": "o", "type": "output", "config": {"value": "{{$jobsMapByNodeKey.s}}"}}]})
    door = Door("wsgi", engine)
    answer = door.call(path="/api/webhook:trigger/w", body=_body(1, 5 * KIB),
                       headers=[("content-type", "application/json")])
    assert answer.status == 200
    execution_id = engine.executions("w")[0].id
    waiting = engine.get_execution(execution_id)
    for _ in range(250):  # until the worker has released it to wait
        if waiting is not None and waiting.jobs and waiting.status == Status.STARTED:
            break
        threading.Event().wait(0.02)
        waiting = engine.get_execution(execution_id)
    assert waiting is not None and waiting.status == Status.STARTED
    assert waiting.jobs[0].result == {"pad": "x" * 5 * KIB}
    # Packed: the body's text, kept once although the job's result holds it too.
    assert 5 * KIB < engine.store.kept_bytes < 7 * KIB  # type: ignore[attr-defined]
    assert engine.resume(execution_id, "s", {"ok": True})
    finished = engine.get_execution(execution_id)
    for _ in range(250):  # drain() does not wait for a woken execution a worker has not taken
        if finished is not None and finished.finished:
            break
        threading.Event().wait(0.02)
        finished = engine.get_execution(execution_id)
    assert finished is not None and finished.status == Status.RESOLVED
    assert finished.output == {"ok": True}
    engine.close(timeout=5)
