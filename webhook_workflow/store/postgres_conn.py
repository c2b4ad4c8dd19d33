"""The PostgreSQL store's connections: read pool, writers' batches, migrations, announcements.

The writers' batches run many writes in one transaction and one commit; committed work and
timers are announced with ``NOTIFY``. The writer threads and the listener
(:mod:`~webhook_workflow.store.postgres_batch`) call back into this class through the
Protocols they define, so the imports go one way: store, connections, batches, SQL.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext, suppress
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
import psycopg.errors
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreUnavailable
from ..jsoncodec import loads
from ..status import Status
from .postgres_batch import WriteFn, _Batch, _Failed, _Lost, _Refused, _Write, _Writers
from .postgres_schema import DUE_AT, MIGRATIONS, SCHEMA_VERSION
from .postgres_sql import (
    _TRANSIENT,
    RETRY_DELAY,
    Conn,
    T,
    _first_line,
    _lock_key,
    _Sql,
    _unavailable,
)

__all__ = ["PostgresConnections"]


class PostgresConnections:
    """Connection handling of :class:`~webhook_workflow.store.postgres.PostgresStore` (a base
    class: the store sets these attributes in its constructor)."""

    conninfo: str
    prefix: str
    origin: str
    sql: _Sql
    pool_size: int
    max_queue: int
    connect_timeout: float
    synchronous_commit: str | None
    _lock: threading.Lock
    _closed: bool
    _pool: ConnectionPool[Conn] | None
    _pool_pid: int
    _down_until: float
    _queued: int
    _queued_at: float
    _pruned_keys: float
    _writers: _Writers

    # -- connections ----------------------------------------------------------------------------
    def _kwargs(self, autocommit: bool) -> dict[str, Any]:
        given = {name for name, _ in parse_qsl(urlsplit(self.conninfo).query)}
        kwargs: dict[str, Any] = {"autocommit": autocommit}
        if "connect_timeout" not in given:
            kwargs["connect_timeout"] = max(1, round(self.connect_timeout))
        if "application_name" not in given:
            kwargs["application_name"] = "webhook-workflow"
        return kwargs

    def _configure(self, conn: Conn) -> None:
        set_json_loads(loads, conn)  # the library's codec (orjson with the speed extra)
        # Every statement of the store finds rows by key or takes the first rows of an
        # ordered (partial) index; a table whose statistics lag (new, or just filled) must
        # not turn a claim into a bitmap scan and a sort of the whole queue.
        settings = {"enable_bitmapscan": "off", "enable_sort": "off"}
        if conn.autocommit:
            # Pooled connections claim, renew leases, read and prune: nothing an ack relies
            # on. A claim lost in a database crash hands the execution to a worker again,
            # as an expired lease does, so these commits need not wait for the disk.
            settings["synchronous_commit"] = "off"
        elif self.synchronous_commit is not None:
            settings["synchronous_commit"] = self.synchronous_commit
        conn.execute("SELECT " + ", ".join("set_config(%s, %s, false)" for _ in settings),
                     [value for pair in settings.items() for value in pair])
        if not conn.autocommit:
            conn.commit()

    def _connect(self, *, autocommit: bool = False) -> Conn:
        """A new connection; fails at once (StoreUnavailable) right after a failed attempt."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("postgresql: the database is unreachable (retrying)")
        try:
            conn: Conn = psycopg.connect(self.conninfo, **self._kwargs(autocommit))
            self._configure(conn)
        except psycopg.Error as exc:
            self._down_until = time.monotonic() + RETRY_DELAY
            raise StoreUnavailable(f"postgresql: cannot connect: {_first_line(exc)}") from exc
        self._down_until = 0.0
        return conn

    def _get_pool(self) -> ConnectionPool[Conn]:
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if self._pool is None or self._pool_pid != os.getpid():
                # A forked child leaves the parent's pool alone (its sockets are shared).
                self._pool = ConnectionPool(
                    self.conninfo, kwargs=self._kwargs(True), min_size=1,
                    max_size=self.pool_size, open=False, configure=self._configure,
                    timeout=self.connect_timeout, name=f"webhook-workflow-{self.prefix}",
                    reconnect_timeout=3600.0)
                self._pool.open(wait=False)
                self._pool_pid = os.getpid()
            return self._pool

    def _read(self, fn: Callable[[Conn], T]) -> T:
        """Run a read on a pooled connection; once more on a fresh one if it was stale."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("postgresql: the database is unreachable (retrying)")
        pool = self._get_pool()
        for attempt in (1, 2):
            try:
                with pool.connection() as conn:
                    return fn(conn)
            except PoolTimeout as exc:
                self._down_until = time.monotonic() + RETRY_DELAY
                raise _unavailable(exc) from exc
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise _unavailable(exc) from exc
                with suppress(Exception):
                    pool.check()  # drop the other connections the restart broke
            except psycopg.Error as exc:
                raise _unavailable(exc) from exc
        raise AssertionError("unreachable")

    # -- batches ---------------------------------------------------------------------------------
    def _write(self, fn: WriteFn, *, pipelined: bool = False,
               lock: tuple[str, str] | None = None) -> Any:
        """Run a write on a writer thread (batched with concurrent ones) and wait."""
        return self._writers.run(fn, pipelined=pipelined, lock=lock)

    def _run_batch(self, conn: Conn | None, batch: list[_Write]) -> Conn | None:
        """Commit ``batch`` in one transaction; answer every write; return the connection.

        A write whose statement fails is answered with its error and the others run again
        without it (nothing of a failed transaction is committed); deadlocks and
        serialization failures are retried. A connection the database closed (a restart)
        is replaced once; a connection lost while committing fails every write of the batch
        (the outcome is unknown, so none is acknowledged)."""
        writes = sorted((w for w in batch if w.future.set_running_or_notify_cancel()),
                        key=_Write.order)
        fresh = False  # True once this batch ran on a connection opened for it
        pipelined = all(w.pipelined for w in writes)
        tries = 0
        while writes:
            if conn is None or conn.closed:
                try:
                    conn = self._connect()
                except StoreUnavailable as exc:
                    for write in writes:
                        write.future.set_exception(exc)
                    return None
                fresh = True
            try:
                results, announced = self._transaction(conn, writes, pipelined)
            except _Failed as failed:
                tries += 1
                if failed.write is None:  # not known which write failed: one by one
                    if pipelined:
                        pipelined = False
                        continue
                    for write in writes:
                        write.future.set_exception(_unavailable(failed.error))
                    return conn
                if failed.transient and tries < 4:
                    continue
                failed.write.future.set_exception(_unavailable(failed.error))
                writes.remove(failed.write)
                continue
            except _Lost as lost:
                with suppress(Exception):
                    conn.close()
                conn = None
                if lost.committing or fresh:
                    error = StoreUnavailable(
                        "postgresql: the connection broke while committing; the writes may or "
                        "may not be recorded" if lost.committing else
                        f"postgresql: {_first_line(lost.error)}")
                    for write in writes:
                        write.future.set_exception(error)
                    return None
                continue  # a connection the database had closed (a restart): once more
            for write, result in zip(writes, results, strict=True):
                if isinstance(result, _Refused):
                    write.future.set_exception(result)
                else:
                    write.future.set_result(result)
            self._announce(conn, announced)
            return conn
        return conn

    def _transaction(self, conn: Conn, writes: list[_Write],
                     pipelined: bool) -> tuple[list[Any], _Batch]:
        """Run ``writes`` in one transaction and commit. ``pipelined``: their statements go
        out without waiting for each answer (one round trip for a batch of inserts); an
        error then cannot be traced to its write (:class:`_Failed` without one)."""
        batch = _Batch()
        results: list[Any] = []
        current: _Write | None = None
        committing = False
        try:
            with conn.cursor() as cur:
                with conn.pipeline() if pipelined else nullcontext():
                    for write in writes:
                        current = None if pipelined else write
                        try:
                            results.append(write.fn(cur, batch))
                        except _Refused as refused:
                            results.append(refused)
                    current = None
                    if batch.work or batch.timers:
                        # Milliseconds, rounded up: a timer never fires before it is due.
                        timers = " ".join(f"{t + 0.0005:.3f}"
                                          for t in sorted(set(batch.timers))[:50])
                        cur.execute("SELECT pg_notify(%s, %s)",
                                    (self.sql.channel, f"{self.origin} {batch.work} {timers}"))
                committing = True
                conn.commit()
        except Exception as exc:
            if conn.broken or conn.closed:
                raise _Lost(exc, committing) from exc
            with suppress(Exception):
                conn.rollback()
            if committing:  # COMMIT itself refused: every write of the batch failed
                raise _Failed(None, exc, False) from exc
            raise _Failed(current, exc, isinstance(exc, _TRANSIENT)) from exc
        return results, batch

    def _announce(self, conn: Conn, batch: _Batch) -> None:
        """After a commit: bookkeeping, and expired idempotency keys forgotten now and then."""
        if batch.queued:
            with self._lock:
                self._queued += batch.queued
        if time.monotonic() - self._pruned_keys > 60:
            self._pruned_keys = time.monotonic()
            try:
                conn.execute(self.sql.forget_keys)
                conn.commit()
            except psycopg.Error:
                with suppress(Exception):
                    conn.rollback()

    # -- schema ----------------------------------------------------------------------------------
    def _migrate(self) -> tuple[int, int]:
        """Bring the schema to :data:`SCHEMA_VERSION` (under an advisory lock, so hosts that
        start at once wait for each other); abort orphaned sync executions; count the queue.
        Returns (version found, version now)."""
        p = self.prefix
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(p),))
                cur.execute(f"CREATE TABLE IF NOT EXISTS {p}schema_version "
                            "(version integer NOT NULL)")
                row = cur.execute(f"SELECT max(version) FROM {p}schema_version").fetchone()
                current = int(row[0]) if row and row[0] is not None else 0
                if current > SCHEMA_VERSION:
                    raise StoreUnavailable(
                        f"postgresql: schema version {current} of prefix {p!r} is newer than "
                        f"this library's {SCHEMA_VERSION}")
                for script in MIGRATIONS[current:]:
                    for statement in script.format(p=p, due_at=DUE_AT).split(";"):
                        if statement.strip():
                            cur.execute(statement)
                if current < SCHEMA_VERSION:
                    cur.execute(f"DELETE FROM {p}schema_version")
                    cur.execute(f"INSERT INTO {p}schema_version VALUES (%s)", (SCHEMA_VERSION,))
                cur.execute(self.sql.abort_sync, (int(Status.ABORTED),))
                row = cur.execute(self.sql.count_queued, (self.max_queue or 1,)).fetchone()
                self._queued = int(row[0]) if row else 0
                self._queued_at = time.monotonic()
            conn.commit()
        except psycopg.Error as exc:
            raise _unavailable(exc) from exc
        finally:
            conn.close()
        return current, SCHEMA_VERSION

    def abort_orphaned_sync(self) -> int:
        """Mark sync executions whose process is gone (lease expired) ABORTED: their caller
        will never get an answer. Returns how many were marked."""
        return int(self._write(lambda cur, batch: cur.execute(
            self.sql.abort_sync, (int(Status.ABORTED),)).rowcount))

