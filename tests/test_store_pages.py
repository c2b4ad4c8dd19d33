"""The pages of the execution log (store.pages), proven on every store: memory, SQLite and
PostgreSQL (the last one on ``WEBHOOK_WORKFLOW_TEST_POSTGRES``, else skipped)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_workflow import Execution, Job, Status
from webhook_workflow.store.base import Idempotency, Store
from webhook_workflow.store.memory import MemoryStore
from webhook_workflow.store.pages import Pages, counts_of, find_ids, page_of
from webhook_workflow.store.sqlite import SQLiteStore

POSTGRES = os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES", "")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(str(tmp_path / "store.db"))
    else:
        if not POSTGRES:
            pytest.skip("set WEBHOOK_WORKFLOW_TEST_POSTGRES=postgresql://user@host/db to run "
                        "the contract on PostgreSQL")
        pytest.importorskip("psycopg_pool", reason="pip install 'webhook-workflow[postgres]'")
        from webhook_workflow.store.postgres import PostgresStore, drop_tables

        url = f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}prefix=t{uuid.uuid4().hex[:12]}_"
        made = PostgresStore.from_url(url)
        request.addfinalizer(lambda: drop_tables(url))
    yield made
    made.close()


def _fill(store: Store, start: float) -> list[Execution]:
    """Twelve executions one second apart: workflows a/b alternating, every third FAILED."""
    made = []
    for i in range(12):
        status = Status.FAILED if i % 3 == 0 else Status.RESOLVED
        execution = Execution("a" if i % 2 == 0 else "b", 1, {"body": {"i": i}},
                              status=status, sync=True, created_at=start + i,
                              started_at=start + i, finished_at=start + i + 0.5,
                              jobs=[Job(status, {"i": i}, node_key="n")])
        store.add(execution)
        made.append(execution)
    return made


def test_every_store_offers_pages(store: Store) -> None:
    assert isinstance(store, Pages)


def test_pages_are_newest_first_and_follow_on_by_keyset(store: Store) -> None:
    made = _fill(store, float(int(time.time()) - 100))
    newest = [e.id for e in reversed(made)]
    first = page_of(store, limit=5)
    assert [r.id for r in first] == newest[:5]
    assert first[0].job_count == 1 and first[0].workflow_key == "b"
    assert first[0].status == Status.RESOLVED and first[0].finished
    second = page_of(store, before=first[-1].id, limit=5)
    assert [r.id for r in second] == newest[5:10]
    last = page_of(store, before=second[-1].id, limit=5)
    assert [r.id for r in last] == newest[10:]
    assert page_of(store, before=last[-1].id, limit=5) == []
    assert page_of(store, before="no-such-execution") == []


def test_pages_filter_by_workflow_status_time_and_replay(store: Store) -> None:
    start = float(int(time.time()) - 100)
    made = _fill(store, start)
    failed_a = [e.id for e in reversed(made) if e.workflow_key == "a"
                and e.status == Status.FAILED]
    assert [r.id for r in page_of(store, "a", status=Status.FAILED)] == failed_a
    rows = page_of(store, status=Status.FAILED, limit=2)
    assert [r.id for r in rows] == [made[9].id, made[6].id]
    assert [r.id for r in page_of(store, status=Status.FAILED, before=rows[-1].id)] == [
        made[3].id, made[0].id]
    window = page_of(store, since=start + 3, until=start + 6)
    assert [r.id for r in window] == [made[5].id, made[4].id, made[3].id]
    queued = Execution("a", 1, {}, replay_of=made[0].id)
    store.add(queued)
    assert [r.id for r in page_of(store, status="queued")] == [queued.id]
    assert [r.id for r in page_of(store, replay_of=made[0].id)] == [queued.id]
    assert page_of(store, "nope") == []


def test_counts_by_workflow_and_status_since(store: Store) -> None:
    start = float(int(time.time()) - 100)
    _fill(store, start)
    store.add(Execution("a", 1, {}))  # queued, now
    assert counts_of(store, start + 6) == {"a": {"RESOLVED": 2, "FAILED": 1, "QUEUED": 1},
                                           "b": {"RESOLVED": 2, "FAILED": 1}}
    assert counts_of(store, time.time() + 10) == {}


def test_executions_are_found_by_id_or_idempotency_key(store: Store) -> None:
    execution = Execution("a", 1, {})
    store.add(execution, Idempotency("a", "delivery-42", 3600.0))
    assert find_ids(store, execution.id) == [execution.id]
    assert find_ids(store, " delivery-42 ") == [execution.id]
    assert find_ids(store, "unknown") == []
    assert find_ids(store, "") == []


class _ListOnly:
    """A store of one's own that implements only the Store protocol's ``list``."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    def list(self, *args: object, **kwargs: object) -> list[Execution]:
        return self.inner.list(*args, **kwargs)  # type: ignore[arg-type]

    def get(self, execution_id: str) -> Execution | None:
        return self.inner.get(execution_id)


def test_a_store_without_pages_is_read_through_its_list() -> None:
    inner = MemoryStore()
    start = float(int(time.time()) - 100)
    made = _fill(inner, start)
    other = _ListOnly(inner)
    assert not isinstance(other, Pages)
    first = page_of(other, limit=4)
    assert [r.id for r in first] == [e.id for e in reversed(made)][:4]
    assert [r.id for r in page_of(other, before=first[-1].id, limit=2)] == [
        made[7].id, made[6].id]
    assert counts_of(other, start + 10) == {"a": {"RESOLVED": 1}, "b": {"RESOLVED": 1}}
    assert find_ids(other, made[0].id) == [made[0].id]
