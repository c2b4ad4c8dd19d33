"""The PostgreSQL store: durable executions in one database, shared by processes on many hosts.

``Engine(store="postgresql://user@host/db")`` (``postgres://`` too; ``?prefix=ww_`` puts the
tables under a prefix in a shared database). The schema is created and migrated on first use,
under an advisory lock so hosts starting at once do not race.

Writes go to writer threads (two per process by default), each with its own connection:
every writer takes all pending writes and runs them in ONE transaction, so concurrent webhook
acknowledgements share one commit, and a caller never waits longer than one writer round
trip (an ASGI door awaits the future of :meth:`PostgresStore.add_later`). An async execution
is committed before its acknowledgement. Workers claim executions with
``FOR NO KEY UPDATE SKIP LOCKED`` and a lease: an execution whose process died is claimed
again when its lease expires and resumes after its last saved job. Reads use a connection
pool. After the database restarts, connections are opened again on the next use; meanwhile
writes fail fast with :class:`~webhook_workflow.errors.StoreUnavailable` (webhooks answer
503) and nothing half-written is ever committed.

Committed work and timers are announced with ``NOTIFY``; :meth:`PostgresStore.subscribe`
(and :meth:`PostgresStore.wait_for_work`) let idle workers of every host wake at once
instead of at their next poll.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from contextlib import suppress
from typing import Any

from psycopg_pool import ConnectionPool

from ..errors import StoreUnavailable
from ..ids import new_id
from ..records import Execution, Job
from ..status import Status
from .base import Idempotency, IdempotencyRecord
from .batched import CommitsLater
from .postgres_batch import _Batch, _Listener, _Refused, _Writers
from .postgres_pages import PostgresPages
from .postgres_sql import (
    _PREFIX,
    _SYNCHRONOUS,
    Conn,
    Cur,
    _dump,
    _execution,
    _job_rows,
    _json,
    _shown,
    _Sql,
    _write_jobs,
    drop_tables,
    parse_url,
)
from .postgres_upkeep import PostgresUpkeep, flow_values
from .rows import list_filter

__all__ = ["PostgresStore", "drop_tables", "migrate", "parse_url"]

# -- the store -------------------------------------------------------------------------------------
class PostgresStore(PostgresUpkeep, PostgresPages, CommitsLater):
    """Executions, jobs, workflow versions and idempotency keys in PostgreSQL tables."""

    def __init__(self, conninfo: str, *, prefix: str = "", max_queue: int = 10_000,
                 lease: float = 30.0, pool_size: int = 8, writers: int = 2,
                 synchronous_commit: str | None = None, connect_timeout: float = 5.0) -> None:
        if prefix and not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r}: lowercase letters, digits and _")
        if synchronous_commit is not None and synchronous_commit not in _SYNCHRONOUS:
            raise ValueError(f"synchronous_commit must be one of {', '.join(_SYNCHRONOUS)}")
        self.conninfo = conninfo
        self.prefix = prefix
        self.max_queue = max_queue
        self.lease = lease
        self.pool_size = max(2, pool_size)
        self.synchronous_commit = synchronous_commit
        self.connect_timeout = connect_timeout
        self.sql = _Sql(prefix)
        #: Marks this store's announcements, so its own listener skips them.
        self.origin = new_id()
        self._lock = threading.Lock()
        self._writers = _Writers(self, writers)
        self._pool: ConnectionPool[Conn] | None = None
        self._pool_pid = 0
        self._listener: _Listener | None = None
        self._listener_pid = 0
        self._down_until = 0.0
        self._closed = False
        self._queued = 0
        self._queued_at = 0.0
        self._pruned_keys = time.monotonic()
        self.migrated_from, self.schema_version = self._migrate()

    @classmethod
    def from_url(cls, url: str, **settings: Any) -> PostgresStore:
        """A store for ``postgresql://user:password@host:port/database?prefix=ww_``.

        Store options in the URL: ``prefix``, ``pool_size`` (read connections, default 8),
        ``writers`` (writer threads, default 2), ``synchronous_commit`` (``off`` trades the
        last commits on a database crash for speed). Any other parameter goes to libpq.
        """
        conninfo, options = parse_url(url)
        if "pool_size" in options:
            settings["pool_size"] = int(options["pool_size"])
        if "writers" in options:
            settings["writers"] = int(options["writers"])
        return cls(conninfo, prefix=options.get("prefix", ""),
                   synchronous_commit=options.get("synchronous_commit"), **settings)

    def __repr__(self) -> str:
        return f"PostgresStore({_shown(self.conninfo)!r}, prefix={self.prefix!r})"

    # -- writing ---------------------------------------------------------------------------------
    def add_later(self, execution: Execution, idempotency: Idempotency | None = None
                  ) -> Future[IdempotencyRecord | None]:
        status = execution.status
        queued = status is None
        row = (execution.id, execution.workflow_key, execution.version,
               None if status is None else int(status),
               execution.sync, _dump(execution.context), _json(execution.output),
               _json(execution.response), execution.replay_of, execution.parent_id,
               _dump(execution.stack), execution.created_at, execution.started_at,
               execution.finished_at, execution.reason, *flow_values(execution.flow),
               execution.origin, _json(execution.trace), self.lease if execution.sync else None)
        jobs = _job_rows(execution.id, execution.jobs)
        flow = execution.flow
        debounce = None if flow is None or flow.debounce_key is None else (
            int(Status.CANCELED), f"debounced:{execution.id}", execution.workflow_key,
            flow.debounce_key)
        key = None if idempotency is None else (
            idempotency.workflow_key, idempotency.key, execution.id,
            _json(idempotency.answer), float(idempotency.ttl), idempotency.replaces)

        def insert(cur: Cur, batch: _Batch) -> IdempotencyRecord | None:
            if queued and self.max_queue:
                self._check_queue(cur, batch)
            if key is not None:
                found = self._remembered(cur, key)
                if found is not None:
                    return found
            if debounce is not None:
                # Debounce: this delivery replaces the ones of its key that have not started.
                cur.execute(self.sql.debounce, debounce)
            _write_jobs(cur, self.sql, jobs, self.sql.insert, row)
            if queued:
                batch.queued += 1
                batch.work += 1
            return None

        try:
            future: Future[IdempotencyRecord | None] = self._writers.submit(
                insert, pipelined=key is None, lock=None if key is None else key[:2])
        except StoreUnavailable as exc:
            future = Future()
            future.set_exception(exc)
        return future

    def _check_queue(self, cur: Cur, batch: _Batch) -> None:
        # Counting on every insert would cost O(queue); a count refreshed each second plus
        # the inserts since is exact enough for a bound that only guards against overload.
        if time.monotonic() - self._queued_at > 1.0:
            row = cur.execute(self.sql.count_queued, (self.max_queue,)).fetchone()
            with self._lock:  # the count sees this batch's inserts, added after its commit
                self._queued = (int(row[0]) if row else 0) - batch.queued
                self._queued_at = time.monotonic()
        if self._queued + batch.queued >= self.max_queue:
            raise _Refused(f"queue full ({self.max_queue} executions waiting)")

    def _remembered(self, cur: Cur, key: tuple[Any, ...]) -> IdempotencyRecord | None:
        """The record of a key seen before, or None after remembering it for this delivery.

        The upsert takes the key when it is new, expired or replaced; when another delivery
        holds it (committed, or committing right now on another host: the upsert waits for
        it), the key's row is read in a new snapshot."""
        workflow_key, name, execution_id, answer, ttl, replaces = key
        for _ in range(3):
            taken = cur.execute(self.sql.remember_key, (workflow_key, name, execution_id,
                                                        answer, ttl, replaces)).fetchone()
            if taken is not None:
                return None
            row = cur.execute(self.sql.find_key, (workflow_key, name)).fetchone()
            if row is not None:
                return IdempotencyRecord(row[0], row[1], float(row[2]))
        raise StoreUnavailable("postgresql: the idempotency key kept changing")

    def remember(self, workflow_key: str, key: str, answer: dict[str, Any]) -> None:
        args = (_dump(answer), workflow_key, key)
        self._write(lambda cur, batch: cur.execute(self.sql.remember, args), pipelined=True,
                    lock=(workflow_key, key))

    def save_jobs(self, execution: Execution, jobs: Sequence[Job]) -> None:
        rows = _job_rows(execution.id, jobs)
        if rows:
            self._write(lambda cur, batch: _write_jobs(cur, self.sql, rows), pipelined=True)

    def save(self, execution: Execution) -> None:
        finished = execution.finished
        args = (None if execution.status is None else int(execution.status),
                _json(execution.output), _json(execution.response), execution.started_at,
                execution.finished_at, execution.reason, finished, finished, execution.id)
        rows = _job_rows(execution.id, execution.jobs)

        def update(cur: Cur, batch: _Batch) -> None:
            _write_jobs(cur, self.sql, rows, self.sql.save, args)

        self._write(update, pipelined=True)

    def release(self, execution: Execution, wake_at: float | None) -> None:
        due = float("inf") if wake_at is None else float(wake_at)
        args = (due, _json(execution.output), execution.started_at, execution.id)
        rows = _job_rows(execution.id, execution.jobs)

        def release(cur: Cur, batch: _Batch) -> None:
            _write_jobs(cur, self.sql, rows, self.sql.release, args)
            if wake_at is not None:
                batch.timers.append(due)

        self._write(release, pipelined=True)

    def reopen(self, execution: Execution, expected: Status, wake_at: float) -> bool:
        args = (float(wake_at), execution.started_at, execution.id, int(expected))
        rows = _job_rows(execution.id, execution.jobs)

        def reopen(cur: Cur, batch: _Batch) -> bool:
            if cur.execute(self.sql.reopen, args).fetchone() is None:
                return False
            _write_jobs(cur, self.sql, rows)
            batch.timers.append(float(wake_at))
            return True

        return bool(self._write(reopen))

    def claim(self, owner: str, workflow_keys: Collection[str],
              lease: float = 30.0) -> Execution | None:
        if not workflow_keys:
            return None
        args = {"owner": owner, "lease": float(lease), "keys": list(workflow_keys)}

        # One statement on a pooled connection: a claim never waits behind the writers'
        # commits (nor makes them wait), and commits without waiting for the disk.
        row = self._read(lambda conn: conn.execute(self.sql.claim, args).fetchone())
        if row is None:
            return None
        execution = _execution(row)
        flow = execution.flow
        if flow is not None and (flow.concurrency_limit or flow.throttle_limit) \
                and not execution.jobs and execution.started_at is None \
                and not self._within_flow(execution, flow):
            return None  # given back: another host took the last slot first
        return execution

    def detach(self, execution: Execution, owner: str, lease: float) -> None:
        rows = _job_rows(execution.id, execution.jobs)
        execution.sync = False

        def detach(cur: Cur, batch: _Batch) -> None:
            _write_jobs(cur, self.sql, rows, self.sql.detach, (owner, float(lease), execution.id))

        self._write(detach, pipelined=True)

    def wake(self, execution_id: str, job: Job | None = None) -> bool:
        result = None if job is None else (_json(job.result), _json(job.meta), job.id,
                                           execution_id)

        def wake(cur: Cur, batch: _Batch) -> bool:
            woken = cur.execute(self.sql.wake, (execution_id,)).rowcount > 0
            if woken and result is not None:
                cur.execute(self.sql.job_result, result)
            batch.work += woken
            return woken

        return bool(self._write(wake))

    def renew(self, owner: str, execution_ids: Collection[str], lease: float) -> None:
        if not execution_ids:
            return
        args = (float(lease), list(execution_ids), owner)
        self._read(lambda conn: conn.execute(self.sql.renew, args))

    def cancel(self, execution_id: str, reason: str = "manual_cancel") -> Execution | None:
        def cancel(cur: Cur, batch: _Batch) -> Execution | None:
            if cur.execute(self.sql.cancel, (int(Status.CANCELED), reason, execution_id)
                           ).fetchone() is None:
                return None
            cur.execute(self.sql.cancel_jobs, (int(Status.CANCELED), execution_id))
            row = cur.execute(self.sql.select + " WHERE e.id = %s", (execution_id,)).fetchone()
            return None if row is None else _execution(row)

        result: Execution | None = self._write(cancel)
        return result

    def delete(self, execution_id: str) -> bool:
        return bool(self._write(lambda cur, batch: cur.execute(
            self.sql.delete, (execution_id,)).rowcount > 0))

    # -- reading ----------------------------------------------------------------------------------
    def get(self, execution_id: str) -> Execution | None:
        row = self._read(lambda conn: conn.execute(self.sql.select + " WHERE e.id = %s",
                                                   (execution_id,)).fetchone())
        return None if row is None else _execution(row)

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50, since: float | None = None,
             until: float | None = None) -> list[Execution]:
        where, args = list_filter(workflow_key, status, "%s", "e.", since, until,
                                  "to_timestamp({}::float8)")
        query = f"{self.sql.select}{where} ORDER BY e.seq DESC LIMIT %s"
        rows = self._read(lambda conn: conn.execute(query, (*args, int(limit))).fetchall())
        return [_execution(row) for row in rows]

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        if workflow_keys is None:
            row = self._read(lambda conn: conn.execute(self.sql.queued).fetchone())
        else:
            keys = list(workflow_keys)
            row = self._read(lambda conn: conn.execute(self.sql.queued_of, (keys,)).fetchone())
        return int(row[0]) if row else 0

    # -- waking workers -----------------------------------------------------------------------
    def _get_listener(self) -> _Listener:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if self._listener is None or self._listener_pid != os.getpid():
                self._listener = _Listener(self)
                self._listener_pid = os.getpid()
            return self._listener

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on a listener thread) whenever another process commits new
        work (a queued execution, a woken one) and whenever a timer of a waiting execution
        is due; returns a function that unsubscribes. Starts the listener (a connection of
        its own) in the calling process."""
        return self._get_listener().subscribe(callback)

    def wait_for_work(self, timeout: float) -> bool:
        """Block until work is announced (as for :meth:`subscribe`) or ``timeout`` seconds
        pass; True when woken by work."""
        return self._get_listener().wait(timeout)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool = self._pool if self._pool_pid == os.getpid() else None
            listener = self._listener if self._listener_pid == os.getpid() else None
        self._writers.close()
        if listener is not None:
            listener.stop(wait=False)
            if pool is not None:  # wake the listener at once instead of at its next poll
                with suppress(Exception), pool.connection(timeout=1.0) as conn:
                    conn.execute("SELECT pg_notify(%s, 'stop')", (self.sql.channel,))
            listener.stop()
        if pool is not None:
            with suppress(Exception):
                pool.close(timeout=2.0)


# -- operations ------------------------------------------------------------------------------
def migrate(url: str) -> str:
    """Create or upgrade the schema a store URL names (``webhook-workflow migrate``); return a
    line saying what was done. Safe while other hosts run or migrate."""
    conninfo, options = parse_url(url)
    prefix = options.get("prefix", "")
    store = PostgresStore(conninfo, prefix=prefix, max_queue=0)
    store.close()
    where = f"{_shown(conninfo)}" + (f" (prefix {prefix!r})" if prefix else "")
    if store.migrated_from == store.schema_version:
        return f"{where}: schema version {store.schema_version}, up to date"
    if store.migrated_from == 0:
        return f"{where}: schema created at version {store.schema_version}"
    return (f"{where}: schema migrated from version {store.migrated_from} to "
            f"{store.schema_version}")

