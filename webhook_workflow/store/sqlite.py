"""The SQLite store: durable executions in one file, shared by several processes.

WAL journal with ``synchronous=NORMAL`` (every commit survives the process being killed;
``?synchronous=full`` in the URL also survives power loss). Each thread has its own
connection. An async execution is committed before :meth:`add` returns, so the webhook's
acknowledgement never precedes it. Workers claim executions with one atomic ``UPDATE``
carrying an owner id and a lease; an execution whose lease expired (its process died) is
claimed again and resumes after its last saved job.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from contextlib import suppress
from typing import Any

from ..errors import StoreUnavailable
from ..records import Execution, Job
from ..status import Status
from .base import Idempotency, IdempotencyRecord
from .batched import CommitsLater
from .rows import (
    EXECUTION_COLUMNS,
    JOB_COLUMNS,
    dump,
    execution_from_row,
    execution_row,
    job_row,
    list_filter,
    load,
    to_epoch,
)
from .sqlite_claim import CLAIM
from .sqlite_connect import connect, first_connect
from .sqlite_pages import SQLitePages
from .sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from .sqlite_upkeep import SQLiteUpkeep
from .sqlite_writer import Writer

__all__ = ["SQLiteStore"]

# Far enough in the future to mean "until someone wakes it" while staying a REAL.
_NEVER = 1e18
_EXECUTION_COLUMNS = EXECUTION_COLUMNS
_MARKS = ", ".join("?" * (EXECUTION_COLUMNS.count(",") + 2))  # the columns and lease_until
_dump, _load, _ts = dump, load, to_epoch
_CLAIM = CLAIM + EXECUTION_COLUMNS


class SQLiteStore(SQLiteUpkeep, SQLitePages, CommitsLater):
    """Executions, jobs and workflow versions in an SQLite database file."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL", max_queue: int = 10_000,
                 lease: float = 30.0, busy_timeout: float = 10.0) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be normal, full or extra")
        self.path = path
        self.synchronous = synchronous.upper()
        self.max_queue = max_queue
        self.lease = lease
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = Writer(self._open)
        self._queued = 0
        self._queued_at = 0.0
        self._pruned_keys = 0.0
        # Opened here, in the caller's thread: a bad path fails the constructor at once.
        self._local.conn = first_connect(path, timeout=busy_timeout,
                                         synchronous=self.synchronous)
        self._connections.append(self._local.conn)
        self._migrate()
        self.abort_orphaned_sync()

    # -- connections ----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        return connect(self.path, timeout=self.busy_timeout, synchronous=self.synchronous)

    def _conn(self) -> sqlite3.Connection:
        """This thread's reading connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a write on the writer thread (batched with concurrent ones) and wait."""
        return self._writer.run(fn)

    def pragma(self, statement: str) -> Any:
        """Run a PRAGMA on the writing connection (``max_page_count`` ...): tests, operations."""
        return self._writer.run(lambda conn: conn.execute(statement).fetchall(), raw=True)

    def _migrate(self) -> None:
        def migrate(conn: sqlite3.Connection) -> None:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise StoreUnavailable(f"{self.path}: schema version {current} is newer than "
                                       f"this library's {SCHEMA_VERSION}")
            for script in MIGRATIONS[current:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            else:
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

        self._write(migrate)

    def abort_orphaned_sync(self) -> int:
        """Mark sync executions of dead processes (lease expired) ABORTED; return how many."""
        now = time.time()
        return int(self._write(lambda conn: conn.execute(
            "UPDATE executions SET status = ?, finished_at = ?, owner = NULL, "
            "reason = 'process_lost' "
            "WHERE sync = 1 AND status = 0 AND (lease_until IS NULL OR lease_until < ?)",
            (int(Status.ABORTED), now, now)).rowcount))

    # -- writing --------------------------------------------------------------------------------
    def add_later(self, execution: Execution, idempotency: Idempotency | None = None
                  ) -> Future[IdempotencyRecord | None]:
        row = (*execution_row(execution), time.time() + self.lease if execution.sync else None)
        jobs = list(execution.jobs)

        def insert(conn: sqlite3.Connection) -> IdempotencyRecord | None:
            if idempotency is not None:
                found = self._remembered(conn, idempotency, execution.id)
                if found is not None:
                    return found
            if execution.status is None and self.max_queue:
                self._check_queue(conn)
            flow = execution.flow
            if flow is not None and flow.debounce_key is not None:
                # Debounce: this delivery replaces the ones of its key that have not started.
                self._queued -= conn.execute(
                    "UPDATE executions SET status = ?, finished_at = ?, reason = ? "
                    "WHERE workflow_key = ? AND debounce_key = ? AND status IS NULL",
                    (int(Status.CANCELED), time.time(), f"debounced:{execution.id}",
                     execution.workflow_key, flow.debounce_key)).rowcount
            conn.execute(f"INSERT INTO executions ({_EXECUTION_COLUMNS}, lease_until) "
                         f"VALUES ({_MARKS})", row)
            if jobs:
                self._write_jobs(conn, execution, jobs)
            if execution.status is None:
                self._queued += 1
            return None

        return self._writer.submit(insert)

    def _remembered(self, conn: sqlite3.Connection, idempotency: Idempotency,
                    execution_id: str) -> IdempotencyRecord | None:
        """The record of a key seen before, or None after taking the key for this delivery."""
        now = time.time()
        if now - self._pruned_keys > 60:
            conn.execute("DELETE FROM idempotency WHERE expires_at < ?", (now,))
            self._pruned_keys = now
        ident = (idempotency.workflow_key, idempotency.key)
        row = conn.execute("SELECT execution_id, answer, expires_at FROM idempotency "
                           "WHERE workflow_key = ? AND key = ?", ident).fetchone()
        if row is not None and row[2] > now:
            found = IdempotencyRecord(row[0], _load(row[1]), row[2])
            if not idempotency.takes_over(found):
                return found
        conn.execute("INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                     (*ident, execution_id, _dump(idempotency.answer)
                      if idempotency.answer is not None else None, now + idempotency.ttl))
        return None

    def remember(self, workflow_key: str, key: str, answer: dict[str, Any]) -> None:
        self._write(lambda conn: conn.execute(
            "UPDATE idempotency SET answer = ? WHERE workflow_key = ? AND key = ?",
            (_dump(answer), workflow_key, key)))

    def _check_queue(self, conn: sqlite3.Connection) -> None:
        # Counting on every insert would cost O(queue); a count refreshed each second plus
        # the inserts since is exact enough for a bound that only guards against overload.
        now = time.monotonic()
        if now - self._queued_at > 1.0:
            self._queued = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM executions WHERE status IS NULL LIMIT ?)",
                (self.max_queue,)).fetchone()[0]
            self._queued_at = now
        if self._queued >= self.max_queue:
            raise StoreUnavailable(f"queue full ({self.max_queue} executions waiting)")

    @staticmethod
    def _write_jobs(conn: sqlite3.Connection, execution: Execution,
                    jobs: Collection[Job]) -> None:
        conn.executemany(
            "INSERT INTO jobs (id, execution_id, node_key, status, result, log, meta, "
            "started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, result = excluded.result, "
            "log = excluded.log, meta = excluded.meta, started_at = excluded.started_at, "
            "finished_at = excluded.finished_at",
            [job_row(execution.id, job) for job in jobs])

    def save_jobs(self, execution: Execution, jobs: Sequence[Job]) -> None:
        rows = list(jobs)
        self._write(lambda conn: self._write_jobs(conn, execution, rows))

    def save(self, execution: Execution) -> None:
        finished = execution.finished
        args = (None if execution.status is None else int(execution.status),
                _dump(execution.output), _dump(execution.response), _ts(execution.started_at),
                _ts(execution.finished_at), execution.reason, finished, finished, execution.id)
        jobs = list(execution.jobs)

        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE executions SET status = ?, output = ?, response = ?, started_at = ?, "
                "finished_at = ?, reason = ?, owner = CASE WHEN ? THEN NULL ELSE owner END, "
                "lease_until = CASE WHEN ? THEN NULL ELSE lease_until END WHERE id = ?", args)
            self._write_jobs(conn, execution, jobs)

        self._write(update)

    def release(self, execution: Execution, wake_at: float | None) -> None:
        args = (_NEVER if wake_at is None else wake_at, _dump(execution.output),
                _ts(execution.started_at), execution.id)
        jobs = list(execution.jobs)

        def release(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE executions SET status = 0, owner = NULL, lease_until = NULL, "
                         "wake_at = ?, output = ?, started_at = ? WHERE id = ?", args)
            self._write_jobs(conn, execution, jobs)

        self._write(release)

    def reopen(self, execution: Execution, expected: Status, wake_at: float) -> bool:
        args = (wake_at, _ts(execution.started_at), execution.id, int(expected))
        jobs = list(execution.jobs)

        def reopen(conn: sqlite3.Connection) -> bool:
            if conn.execute("UPDATE executions SET status = 0, owner = NULL, lease_until = NULL, "
                            "wake_at = ?, started_at = ?, finished_at = NULL, reason = NULL, "
                            "sync = 0 WHERE id = ? AND status = ?", args).rowcount == 0:
                return False
            self._write_jobs(conn, execution, jobs)
            return True

        return bool(self._write(reopen))

    def claim(self, owner: str, workflow_keys: Collection[str],
              lease: float = 30.0) -> Execution | None:
        if not workflow_keys:
            return None
        now = time.time()

        def claim(conn: sqlite3.Connection) -> Execution | None:
            keys = json.dumps(list(workflow_keys))
            row = conn.execute(_CLAIM, (owner, now + lease, now, keys, now, now, now, keys,
                                         now, now)).fetchone()
            return None if row is None else self._execution(conn, row)

        result: Execution | None = self._write(claim)
        return result

    def detach(self, execution: Execution, owner: str, lease: float) -> None:
        jobs = list(execution.jobs)
        execution.sync = False

        def detach(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE executions SET sync = 0, owner = ?, lease_until = ? "
                         "WHERE id = ?", (owner, time.time() + lease, execution.id))
            self._write_jobs(conn, execution, jobs)

        self._write(detach)

    def wake(self, execution_id: str, job: Job | None = None) -> bool:
        def wake(conn: sqlite3.Connection) -> bool:
            now = time.time()
            # Only while still waiting: once due (woken, timer out) a second wake is refused.
            woken = conn.execute(
                "UPDATE executions SET wake_at = ? WHERE id = ? AND status = 0 AND sync = 0 "
                "AND owner IS NULL AND wake_at > ?",
                (now, execution_id, now)).rowcount > 0
            if woken and job is not None:
                conn.execute("UPDATE jobs SET result = ?, meta = ? WHERE id = ?",
                             (dump(job.result), dump(job.meta), job.id))
            return woken

        return bool(self._write(wake))

    def renew(self, owner: str, execution_ids: Collection[str], lease: float) -> None:
        if not execution_ids:
            return
        ids = json.dumps(list(execution_ids))

        def renew(conn: sqlite3.Connection) -> None:
            until = time.time() + lease
            conn.execute("UPDATE executions SET lease_until = ? WHERE owner = ? AND status = 0 "
                         "AND id IN (SELECT value FROM json_each(?))", (until, owner, ids))
            conn.execute("UPDATE executions SET lease_until = ? WHERE sync = 1 AND status = 0 "
                         "AND id IN (SELECT value FROM json_each(?))", (until, ids))

        self._write(renew)

    def cancel(self, execution_id: str, reason: str = "manual_cancel") -> Execution | None:
        now = time.time()

        def cancel(conn: sqlite3.Connection) -> Execution | None:
            row = conn.execute(
                "UPDATE executions SET status = ?, finished_at = ?, wake_at = NULL, reason = ? "
                "WHERE id = ? AND (status IS NULL OR (status = 0 AND sync = 0 "
                "AND owner IS NULL AND wake_at IS NOT NULL)) RETURNING id",
                (int(Status.CANCELED), now, reason, execution_id)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE jobs SET status = ?, finished_at = ? WHERE execution_id = ? "
                         "AND status = 0", (int(Status.CANCELED), now, execution_id))
            return self._read(conn, execution_id)

        result: Execution | None = self._write(cancel)
        return result

    def delete(self, execution_id: str) -> bool:
        return bool(self._write(lambda conn: conn.execute(
            "DELETE FROM executions WHERE id = ?", (execution_id,)).rowcount > 0))

    # -- reading ---------------------------------------------------------------------------
    def _read(self, conn: sqlite3.Connection, execution_id: str) -> Execution | None:
        row = conn.execute(f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE id = ?",
                           (execution_id,)).fetchone()
        return None if row is None else self._execution(conn, row)

    @staticmethod
    def _execution(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Execution:
        return execution_from_row(row, conn.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE execution_id = ? ORDER BY seq", (row[0],)))

    def get(self, execution_id: str) -> Execution | None:
        try:
            return self._read(self._conn(), execution_id)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50, since: float | None = None,
             until: float | None = None) -> list[Execution]:
        where, args = list_filter(workflow_key, status, "?", since=since, until=until)
        # Newest first as the console's pages are, so the (…, created_at) indexes serve it.
        sql = (f"SELECT {_EXECUTION_COLUMNS} FROM executions{where} "
               "ORDER BY created_at DESC, seq DESC LIMIT ?")
        conn = self._conn()
        try:
            rows = conn.execute(sql, (*args, limit)).fetchall()
            return [self._execution(conn, row) for row in rows]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        conn = self._conn()
        if workflow_keys is None:
            row = conn.execute("SELECT count(*) FROM executions WHERE status IS NULL").fetchone()
        else:
            row = conn.execute("SELECT count(*) FROM executions WHERE status IS NULL AND "
                               "workflow_key IN (SELECT value FROM json_each(?))",
                               (json.dumps(list(workflow_keys)),)).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._writer.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
