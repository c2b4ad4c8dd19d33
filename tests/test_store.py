"""The Store contract, proven on every store: memory, SQLite and PostgreSQL (the last one on
the server named by ``WEBHOOK_WORKFLOW_TEST_POSTGRES``, else skipped)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_workflow import Execution, Job, Status, StoreUnavailable
from webhook_workflow.records import utcnow
from webhook_workflow.store.base import Idempotency, Store
from webhook_workflow.store.memory import MemoryStore
from webhook_workflow.store.sqlite import SQLiteStore

POSTGRES = os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES", "")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore(max_queue=5)
    elif request.param == "sqlite":
        made = SQLiteStore(str(tmp_path / "store.db"), max_queue=5)
    else:
        if not POSTGRES:
            pytest.skip("set WEBHOOK_WORKFLOW_TEST_POSTGRES=postgresql://user@host/db to run "
                        "the contract on PostgreSQL")
        pytest.importorskip("psycopg_pool", reason="pip install 'webhook-workflow[postgres]'")
        from webhook_workflow.store.postgres import PostgresStore, drop_tables

        url = f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}prefix=t{uuid.uuid4().hex[:12]}_"
        made = PostgresStore.from_url(url, max_queue=5)
        request.addfinalizer(lambda: drop_tables(url))
    yield made
    made.close()


def queued(key: str = "w", version: int = 1, **kw: object) -> Execution:
    return Execution(key, version, {"headers": {}, "query": {}, "body": {"n": 1}}, **kw)  # type: ignore[arg-type]


def test_add_then_get_returns_an_equal_copy(store: Store) -> None:
    execution = queued()
    store.add(execution)
    got = store.get(execution.id)
    assert got is not None and got is not execution
    assert (got.id, got.workflow_key, got.version, got.status, got.context) == (
        execution.id, "w", 1, None, execution.context)
    assert got.created_at.tzinfo is not None
    assert store.get("nope") is None


def test_claim_takes_the_oldest_queued_of_the_given_keys(store: Store) -> None:
    first, other, second = queued(), queued("x"), queued()
    for e in (first, other, second):
        store.add(e)
    assert store.queued_count() == 3
    assert store.queued_count(["w"]) == 2
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None and claimed.id == first.id
    assert claimed.status == Status.STARTED
    assert store.claim("me", ["w"], 30).id == second.id  # type: ignore[union-attr]
    assert store.claim("me", ["w"], 30) is None
    assert store.claim("me", [], 30) is None
    assert store.queued_count(["x"]) == 1


def test_claimed_execution_carries_everything_it_was_added_with(store: Store) -> None:
    """A worker runs what claim returns: every field the door stored must come back, the
    same as a read of the execution after the claim."""
    from webhook_workflow.records import FlowMark

    execution = queued(replay_of="e-0", parent_id="e-p", stack=["e-p"], origin="replay",
                       trace={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
                       flow=FlowMark(concurrency_key="k", concurrency_limit=3))
    store.add(execution)
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None
    got = store.get(execution.id)
    assert got is not None
    for name in ("id", "workflow_key", "version", "context", "replay_of", "parent_id", "stack",
                 "origin", "trace", "flow", "created_at", "status", "jobs"):
        assert getattr(claimed, name) == getattr(got, name), name
    assert (claimed.context, claimed.replay_of, claimed.origin, claimed.flow) == (
        execution.context, "e-0", "replay", execution.flow)
    assert claimed.status == Status.STARTED and claimed.jobs == []


def test_queue_limit_raises_store_unavailable(store: Store) -> None:
    for _ in range(5):
        store.add(queued())
    with pytest.raises(StoreUnavailable):
        store.add(queued())
    finished = queued(status=Status.RESOLVED, sync=True)
    store.add(finished)  # only queued executions count against the queue


def test_jobs_are_saved_as_the_run_goes_and_updated_in_place(store: Store) -> None:
    execution = queued()
    store.add(execution)
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None
    job = Job(Status.PENDING, {"looped": 0}, node_key="a", started_at=utcnow(),
              meta={"seq": 1})
    claimed.jobs.append(job)
    store.save_jobs(claimed, [job])
    job.status, job.result = Status.RESOLVED, {"looped": 2}
    job.meta["seq"] = 3
    store.save_jobs(claimed, [job])
    second = Job(Status.FAILED, "x", "trace", node_key="b", meta={"seq": 2})
    claimed.jobs.append(second)
    store.save_jobs(claimed, [second])
    got = store.get(execution.id)
    assert got is not None
    assert [(j.node_key, j.status, j.result, j.meta["seq"]) for j in got.jobs] == [
        ("a", Status.RESOLVED, {"looped": 2}, 3), ("b", Status.FAILED, "x", 2)]
    assert got.jobs[1].log == "trace"


def test_save_records_the_end(store: Store) -> None:
    execution = queued()
    store.add(execution)
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None
    claimed.status, claimed.output = Status.RESOLVED, {"done": True}
    claimed.finished_at = utcnow()
    claimed.jobs.append(Job(Status.RESOLVED, 1, node_key="a"))
    store.save(claimed)
    got = store.get(execution.id)
    assert got is not None
    assert (got.status, got.output, len(got.jobs)) == (Status.RESOLVED, {"done": True}, 1)
    assert got.finished_at is not None


def test_list_newest_first_with_filters(store: Store) -> None:
    a, b, c = queued("a"), queued("b"), queued("a")
    for e in (a, b, c):
        store.add(e)
    done = store.claim("me", ["b"], 30)
    assert done is not None
    done.status = Status.FAILED
    done.finished_at = utcnow()
    store.save(done)
    assert [e.id for e in store.list()] == [c.id, b.id, a.id]
    assert [e.id for e in store.list("a")] == [c.id, a.id]
    assert [e.id for e in store.list(status="queued")] == [c.id, a.id]
    assert [e.id for e in store.list(status=Status.FAILED)] == [b.id]
    assert [e.id for e in store.list(limit=1)] == [c.id]


def test_cancel_only_queued_or_waiting(store: Store) -> None:
    execution = queued()
    store.add(execution)
    canceled = store.cancel(execution.id)
    assert canceled is not None and canceled.status == Status.CANCELED
    assert canceled.finished_at is not None
    assert store.cancel(execution.id) is None
    assert store.queued_count() == 0
    assert store.claim("me", ["w"], 30) is None


def test_delete(store: Store) -> None:
    execution = queued()
    store.add(execution)
    assert store.delete(execution.id) is True
    assert store.get(execution.id) is None
    assert store.delete(execution.id) is False


def test_released_execution_is_claimed_again_when_due(store: Store) -> None:
    execution = queued()
    store.add(execution)
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None
    pending = Job(Status.PENDING, 100, node_key="wait", started_at=utcnow(), meta={"seq": 1})
    claimed.jobs.append(pending)
    store.release(claimed, time.time() + 0.3)
    assert store.claim("me", ["w"], 30) is None  # not due yet
    assert store.queued_count() == 0  # waiting is not queued
    deadline = time.monotonic() + 5
    again = None
    while again is None and time.monotonic() < deadline:
        time.sleep(0.05)
        again = store.claim("other", ["w"], 30)
    assert again is not None and again.id == execution.id
    assert [(j.node_key, j.status) for j in again.jobs] == [("wait", Status.PENDING)]


def test_claim_takes_queued_and_due_executions_in_arrival_order(store: Store) -> None:
    """The oldest claimable execution comes first, whether it waits in the queue or woke
    from a timer, and whatever the size of the backlog behind it."""
    older, waking = queued(), queued()
    store.add(older)
    store.add(waking)
    assert store.claim("me", ["w"], 30).id == older.id  # type: ignore[union-attr]
    taken = store.claim("me", ["w"], 30)
    assert taken is not None and taken.id == waking.id
    backlog = [queued() for _ in range(3)]
    for e in backlog:
        store.add(e)
    store.release(taken, time.time() - 1)  # due at once: it came in before the backlog
    assert store.claim("other", ["w"], 30).id == waking.id  # type: ignore[union-attr]
    assert [store.claim("other", ["w"], 30).id for _ in backlog] == [  # type: ignore[union-attr]
        e.id for e in backlog]
    assert store.claim("other", ["w"], 30) is None


def test_a_waiting_execution_is_woken_once(store: Store) -> None:
    """A wake hands the job its result; until a worker runs it, another wake is refused
    and changes nothing (two callers resuming the same job: one wins)."""
    execution = queued()
    store.add(execution)
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None
    pending = Job(Status.PENDING, None, node_key="ask", started_at=utcnow(), meta={"seq": 1})
    claimed.jobs.append(pending)
    store.release(claimed, None)  # waits until resumed
    assert store.wake(execution.id, Job(Status.PENDING, {"ok": 1}, node_key="ask",
                                        id=pending.id)) is True
    assert store.wake(execution.id, Job(Status.PENDING, {"ok": 2}, node_key="ask",
                                        id=pending.id)) is False
    again = store.claim("other", ["w"], 30)
    assert again is not None and again.id == execution.id
    assert [j.result for j in again.jobs] == [{"ok": 1}]
    assert store.wake("nope") is False


def test_waiting_execution_can_be_canceled(store: Store) -> None:
    execution = queued()
    store.add(execution)
    claimed = store.claim("me", ["w"], 30)
    assert claimed is not None
    claimed.jobs.append(Job(Status.PENDING, 100, node_key="wait", meta={"seq": 1}))
    store.release(claimed, time.time() + 60)
    canceled = store.cancel(execution.id)
    assert canceled is not None and canceled.status == Status.CANCELED
    assert canceled.jobs[0].status == Status.CANCELED


def test_a_key_is_taken_over_once_and_only_while_unanswered(store: Store) -> None:
    died = queued(status=Status.STARTED, sync=True)
    assert store.add(died, Idempotency("w", "k", 60)) is None
    first, second = queued(status=Status.STARTED, sync=True), queued(status=Status.STARTED,
                                                                     sync=True)
    # Two redeliveries that both concluded the first one died: one takes the key, the
    # other is told about the one that did.
    assert store.add(first, Idempotency("w", "k", 60, replaces=died.id)) is None
    lost = store.add(second, Idempotency("w", "k", 60, replaces=died.id))
    assert lost is not None and lost.execution_id == first.id and lost.answer is None
    assert store.get(second.id) is None
    # An answered key is never taken over, even by a delivery naming its execution.
    store.remember("w", "k", {"status": 200, "headers": [], "body": "ok"})
    third = queued(status=Status.STARTED, sync=True)
    found = store.add(third, Idempotency("w", "k", 60, replaces=first.id))
    assert found is not None and found.answer == {"status": 200, "headers": [], "body": "ok"}
    assert store.get(third.id) is None


def test_versions_are_numbered_by_digest(store: Store) -> None:
    assert store.save_version("w", "d1", {"key": "w", "v": 1}) == 1
    assert store.save_version("w", "d1", {"key": "w", "v": 1}) == 1
    assert store.save_version("w", "d2", {"key": "w", "v": 2}) == 2
    assert store.save_version("w", "d1", {"key": "w", "v": 1}) == 3
    assert store.save_version("x", "d1", {"key": "x"}) == 1
    assert store.load_version("w", 2) == {"key": "w", "v": 2}
    assert store.load_version("w", 9) is None


def test_sqlite_lease_expiry_lets_another_owner_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "lease.db")
    one, two = SQLiteStore(path), SQLiteStore(path)
    execution = queued()
    one.add(execution)
    assert one.claim("dead-process", ["w"], lease=0.2) is not None
    assert two.claim("live-process", ["w"], lease=30) is None  # the lease still holds
    time.sleep(0.3)
    reclaimed = two.claim("live-process", ["w"], lease=30)
    assert reclaimed is not None and reclaimed.id == execution.id
    one.renew("dead-process", [execution.id], 30)  # the old owner cannot extend it any more
    assert two.claim("third", ["w"], lease=30) is None
    one.close()
    two.close()


def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "re.db")
    first = SQLiteStore(path)
    execution = queued()
    first.add(execution)
    first.save_version("w", "d", {"key": "w"})
    first.close()
    second = SQLiteStore(path)
    assert second.get(execution.id) is not None
    assert second.save_version("w", "d", {"key": "w"}) == 1
    assert second.queued_count() == 1
    second.close()


def test_sqlite_orphaned_sync_execution_becomes_aborted(tmp_path: Path) -> None:
    path = str(tmp_path / "sync.db")
    first = SQLiteStore(path, lease=0.1)
    running = Execution("w", 1, {}, status=Status.STARTED, sync=True, started_at=utcnow())
    first.add(running)
    first.close()  # the process "dies" with the sync execution STARTED
    time.sleep(0.2)
    second = SQLiteStore(path)
    got = second.get(running.id)
    assert got is not None and got.status == Status.ABORTED and got.finished_at is not None
    second.close()


def test_sqlite_full_disk_is_store_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "full.db"))
    [[pages]] = store.pragma("PRAGMA page_count")
    store.pragma(f"PRAGMA max_page_count = {pages}")
    big = queued()
    big.context["body"] = {"blob": "x" * 200_000}
    with pytest.raises(StoreUnavailable, match="full"):
        store.add(big)
    assert store.get(big.id) is None
    store.pragma("PRAGMA max_page_count = 1073741823")
    store.add(queued())
    assert store.queued_count() == 1
    store.close()


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_retention_prunes_old_and_excess_finished(store: Store) -> None:
    """The durable stores (the memory store is bounded by max_executions instead)."""
    prune = store.prune  # type: ignore[attr-defined]
    ids = []
    for _ in range(5):
        execution = Execution("w", 1, {}, status=Status.RESOLVED, sync=True,
                              finished_at=utcnow())
        execution.jobs.append(Job(Status.RESOLVED, 1, node_key="a"))
        store.add(execution)
        ids.append(execution.id)
    waiting = queued()
    store.add(waiting)
    assert prune(max_count=2) == 3
    assert [e.id for e in store.list(status=Status.RESOLVED)] == ids[:1:-1][:2]
    time.sleep(0.05)
    assert prune(max_age=0.01) == 2
    assert store.get(waiting.id) is not None  # unfinished executions are never pruned
