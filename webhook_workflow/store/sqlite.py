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
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from ..errors import StoreUnavailable
from ..runtime.records import Execution, Job
from ..runtime.status import Status
from ..variables.templates import json_default
from .sqlite_schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SQLiteStore"]

_EXECUTION_COLUMNS = ("id, workflow_key, version, status, sync, context, output, response, "
                      "replay_of, parent_id, stack, created_at, started_at, finished_at")
# Far enough in the future to mean "until someone wakes it" while staying a REAL.
_NEVER = 1e18


def _dump(value: Any) -> str:
    return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class SQLiteStore:
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
        self._migrate()
        self.abort_orphaned_sync()

    # -- connections ----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; database errors become :class:`StoreUnavailable`, nothing half
        written (the transaction is rolled back)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (e.g. SQLITE_FULL); never half-commit.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def _migrate(self) -> None:
        with self._tx() as conn:
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

    def abort_orphaned_sync(self) -> int:
        """Mark sync executions whose process is gone (lease expired) ABORTED: their caller
        will never get an answer. Returns how many were marked."""
        now = time.time()
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE executions SET status = ?, finished_at = ?, owner = NULL "
                "WHERE sync = 1 AND status = 0 AND (lease_until IS NULL OR lease_until < ?)",
                (int(Status.ABORTED), now, now))
            return cursor.rowcount

    # -- writing --------------------------------------------------------------------------------
    def add(self, execution: Execution) -> None:
        with self._tx() as conn:
            if execution.status is None and self.max_queue:
                waiting = conn.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM executions WHERE status IS NULL "
                    "LIMIT ?)", (self.max_queue,)).fetchone()[0]
                if waiting >= self.max_queue:
                    raise StoreUnavailable(f"queue full ({self.max_queue} executions waiting)")
            lease = time.time() + self.lease if execution.sync else None
            conn.execute(
                f"INSERT INTO executions ({_EXECUTION_COLUMNS}, lease_until) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (execution.id, execution.workflow_key, execution.version,
                 None if execution.status is None else int(execution.status),
                 int(execution.sync), _dump(execution.context), _dump(execution.output),
                 _dump(execution.response), execution.replay_of, execution.parent_id,
                 _dump(execution.stack), _ts(execution.created_at), _ts(execution.started_at),
                 _ts(execution.finished_at), lease))
            self._write_jobs(conn, execution, execution.jobs)

    @staticmethod
    def _write_jobs(conn: sqlite3.Connection, execution: Execution,
                    jobs: Collection[Job]) -> None:
        conn.executemany(
            "INSERT INTO jobs (id, execution_id, node_key, status, result, log, meta, "
            "started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, result = excluded.result, "
            "log = excluded.log, meta = excluded.meta, started_at = excluded.started_at, "
            "finished_at = excluded.finished_at",
            [(job.id, execution.id, job.node_key, int(job.status), _dump(job.result), job.log,
              _dump(job.meta), _ts(job.started_at), _ts(job.finished_at)) for job in jobs])

    def save_job(self, execution: Execution, job: Job) -> None:
        with self._tx() as conn:
            self._write_jobs(conn, execution, [job])

    def save(self, execution: Execution) -> None:
        finished = execution.finished
        with self._tx() as conn:
            conn.execute(
                "UPDATE executions SET status = ?, output = ?, response = ?, started_at = ?, "
                "finished_at = ?, owner = CASE WHEN ? THEN NULL ELSE owner END, "
                "lease_until = CASE WHEN ? THEN NULL ELSE lease_until END WHERE id = ?",
                (None if execution.status is None else int(execution.status),
                 _dump(execution.output), _dump(execution.response),
                 _ts(execution.started_at), _ts(execution.finished_at), finished, finished,
                 execution.id))
            self._write_jobs(conn, execution, execution.jobs)

    def release(self, execution: Execution, wake_at: float | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE executions SET status = 0, owner = NULL, lease_until = NULL, "
                "wake_at = ?, output = ? WHERE id = ?",
                (_NEVER if wake_at is None else wake_at, _dump(execution.output), execution.id))
            self._write_jobs(conn, execution, execution.jobs)

    def claim(self, owner: str, workflow_keys: Collection[str],
              lease: float = 30.0) -> Execution | None:
        if not workflow_keys:
            return None
        now = time.time()
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE executions SET owner = ?, lease_until = ?, status = 0, wake_at = NULL "
                "WHERE seq = (SELECT seq FROM executions "
                "  WHERE workflow_key IN (SELECT value FROM json_each(?)) AND ("
                "    status IS NULL OR (status = 0 AND sync = 0 "
                "      AND (owner IS NULL OR lease_until < ?) "
                "      AND (wake_at IS NULL OR wake_at <= ?))) "
                "  ORDER BY seq LIMIT 1) RETURNING id",
                (owner, now + lease, json.dumps(list(workflow_keys)), now, now)).fetchone()
            if row is None:
                return None
            return self._read(conn, row[0])

    def renew(self, owner: str, execution_ids: Collection[str], lease: float) -> None:
        if not execution_ids:
            return
        with self._tx() as conn:
            conn.execute(
                "UPDATE executions SET lease_until = ? WHERE owner = ? AND status = 0 "
                "AND id IN (SELECT value FROM json_each(?))",
                (time.time() + lease, owner, json.dumps(list(execution_ids))))
            conn.execute(
                "UPDATE executions SET lease_until = ? WHERE sync = 1 AND status = 0 "
                "AND id IN (SELECT value FROM json_each(?))",
                (time.time() + lease, json.dumps(list(execution_ids))))

    def cancel(self, execution_id: str) -> Execution | None:
        now = time.time()
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE executions SET status = ?, finished_at = ?, wake_at = NULL "
                "WHERE id = ? AND (status IS NULL OR (status = 0 AND sync = 0 "
                "AND owner IS NULL AND wake_at IS NOT NULL)) RETURNING id",
                (int(Status.CANCELED), now, execution_id)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE jobs SET status = ?, finished_at = ? WHERE execution_id = ? "
                         "AND status = 0", (int(Status.CANCELED), now, execution_id))
            return self._read(conn, execution_id)

    def delete(self, execution_id: str) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM executions WHERE id = ?",
                                (execution_id,)).rowcount > 0

    def prune(self, max_age: float | None = None, max_count: int | None = None) -> int:
        """Delete finished executions older than ``max_age`` seconds and beyond the newest
        ``max_count``; return how many were deleted (retention)."""
        deleted = 0
        with self._tx() as conn:
            if max_age is not None:
                deleted += conn.execute(
                    "DELETE FROM executions WHERE finished_at IS NOT NULL AND finished_at < ?",
                    (time.time() - max_age,)).rowcount
            if max_count is not None:
                deleted += conn.execute(
                    "DELETE FROM executions WHERE finished_at IS NOT NULL AND seq NOT IN ("
                    "SELECT seq FROM executions WHERE finished_at IS NOT NULL "
                    "ORDER BY seq DESC LIMIT ?)", (max_count,)).rowcount
        return deleted

    # -- versions ---------------------------------------------------------------------------------
    def save_version(self, key: str, digest: str, definition: dict[str, Any]) -> int:
        with self._tx() as conn:
            row = conn.execute("SELECT version, digest FROM workflow_versions WHERE "
                               "workflow_key = ? ORDER BY version DESC LIMIT 1",
                               (key,)).fetchone()
            if row is not None and row[1] == digest:
                return int(row[0])
            version = 1 if row is None else int(row[0]) + 1
            conn.execute("INSERT INTO workflow_versions VALUES (?, ?, ?, ?, ?)",
                         (key, version, digest, _dump(definition), time.time()))
            return version

    def load_version(self, key: str, version: int) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT definition FROM workflow_versions WHERE "
                                   "workflow_key = ? AND version = ?", (key, version)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # -- reading ---------------------------------------------------------------------------
    def _read(self, conn: sqlite3.Connection, execution_id: str) -> Execution | None:
        row = conn.execute(f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE id = ?",
                           (execution_id,)).fetchone()
        return None if row is None else self._execution(conn, row)

    def _execution(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> Execution:
        jobs = [Job(status=Status(r[2]), result=_load(r[3]), log=r[4], node_key=r[1], id=r[0],
                    started_at=_dt(r[6]), finished_at=_dt(r[7]), meta=_load(r[5]) or {})
                for r in conn.execute(
                    "SELECT id, node_key, status, result, log, meta, started_at, finished_at "
                    "FROM jobs WHERE execution_id = ? ORDER BY seq", (row[0],))]
        return Execution(
            id=row[0], workflow_key=row[1], version=row[2],
            status=None if row[3] is None else Status(row[3]), sync=bool(row[4]),
            context=_load(row[5]), output=_load(row[6]), response=_load(row[7]),
            replay_of=row[8], parent_id=row[9], stack=_load(row[10]) or [],
            created_at=_dt(row[11]) or datetime.now(UTC), started_at=_dt(row[12]),
            finished_at=_dt(row[13]), jobs=jobs)

    def get(self, execution_id: str) -> Execution | None:
        try:
            return self._read(self._conn(), execution_id)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50) -> list[Execution]:
        where: list[str] = []
        args: list[Any] = []
        if workflow_key is not None:
            where.append("workflow_key = ?")
            args.append(workflow_key)
        if status == "queued":
            where.append("status IS NULL")
        elif status is not None:
            where.append("status = ?")
            args.append(int(status))
        sql = f"SELECT {_EXECUTION_COLUMNS} FROM executions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
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
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
