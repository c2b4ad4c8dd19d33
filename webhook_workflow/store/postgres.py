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

import hashlib
import heapq
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from contextlib import nullcontext, suppress
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreUnavailable
from ..jsoncodec import dumps, loads
from ..runtime.ids import new_id
from ..runtime.records import Execution, Job
from ..runtime.status import Status
from .base import Idempotency, IdempotencyRecord
from .postgres_schema import DUE_AT, MIGRATIONS, SCHEMA_VERSION, TABLES

__all__ = ["PostgresStore", "drop_tables", "migrate", "parse_url"]

logger = logging.getLogger("webhook_workflow.store.postgres")

T = TypeVar("T")
Conn = psycopg.Connection[TupleRow]
Cur = psycopg.Cursor[TupleRow]

#: Writes per transaction at most; keeps a commit (and the latency it adds) bounded.
MAX_BATCH = 256
#: After a failed connection attempt, writes and reads fail at once for this long (seconds)
#: instead of each trying again: webhooks get their 503 without waiting.
RETRY_DELAY = 0.25
#: Timers a listener keeps in memory at most (the workers' polling finds the others).
MAX_TIMERS = 10_000
#: Jobs written per statement at most (9 parameters each; PostgreSQL takes 65,535).
JOBS_PER_STATEMENT = 500
#: Rows deleted per statement by :meth:`PostgresStore.prune`.
PRUNE_CHUNK = 5_000
#: The store's own URL options; every other one goes to libpq (``sslmode``, ``options``...).
OPTIONS = ("prefix", "pool_size", "writers", "synchronous_commit")
_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,29}")
_SYNCHRONOUS = ("on", "off", "local", "remote_write", "remote_apply")
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)

_COLUMNS = ("id, workflow_key, version, status, sync, context, output, response, replay_of, "
            "parent_id, stack, created_at, started_at, finished_at")
_NOW = "statement_timestamp()"
#: The workflow key as claims test it: an expression, so the planner never walks the index by
#: workflow key (through every finished execution of the key) to find the queued ones.
_KEY = "(workflow_key || '')"


# -- values ------------------------------------------------------------------------------------
def _dump(value: Any) -> str:
    return dumps(value)


def _json(value: Any) -> str | None:
    return None if value is None else _dump(value)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _unavailable(exc: BaseException) -> BaseException:
    if isinstance(exc, psycopg.Error):
        return StoreUnavailable(f"postgresql: {_first_line(exc)}")
    if isinstance(exc, PoolTimeout):
        return StoreUnavailable(f"postgresql: no connection available ({exc})")
    return exc


# -- the URL -----------------------------------------------------------------------------------
def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split a store URL into the libpq URL and the store's own options (:data:`OPTIONS`).

    ``postgres://`` is accepted for ``postgresql://``; options are checked here, so a typo
    fails when the engine is made, not at the first webhook.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"{url!r}: a PostgreSQL store URL starts with postgresql://")
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in OPTIONS:
            ours[name] = value
        else:
            rest.append((name, value))
    prefix = ours.get("prefix", "")
    if prefix and not _PREFIX.fullmatch(prefix):
        raise ValueError(f"prefix {prefix!r}: lowercase letters, digits and _, at most 30 "
                         "characters, not starting with a digit")
    for name in ("pool_size", "writers"):
        if name in ours and (not ours[name].isdigit() or not 1 <= int(ours[name]) <= 64):
            raise ValueError(f"{name} must be a whole number from 1 to 64")
    if "synchronous_commit" in ours and ours["synchronous_commit"] not in _SYNCHRONOUS:
        raise ValueError(f"synchronous_commit must be one of {', '.join(_SYNCHRONOUS)}")
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path,
                           urlencode(rest, quote_via=quote), parts.fragment))
    return conninfo, ours


def _shown(conninfo: str) -> str:
    """The URL without its password (for messages)."""
    parts = urlsplit(conninfo)
    if parts.password is None:
        return conninfo
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _lock_key(prefix: str) -> int:
    """The advisory lock serialising migrations of one prefix (a signed 64-bit number)."""
    digest = hashlib.sha256(f"webhook_workflow:{prefix}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# -- SQL -----------------------------------------------------------------------------------------
class _Sql:
    """Every statement, written once for a table prefix."""

    def __init__(self, p: str) -> None:
        self.channel = f"{p}webhook_workflow"
        jobs = ("(SELECT json_agg(json_build_array(j.id, j.node_key, j.status, j.result, j.log, "
                "j.meta, extract(epoch FROM j.started_at), extract(epoch FROM j.finished_at)) "
                f"ORDER BY j.seq) FROM {p}jobs j WHERE j.execution_id = e.id)")
        columns = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
        self.select = f"SELECT {columns}, {jobs} FROM {p}executions e"
        self.insert = (
            f"INSERT INTO {p}executions ({_COLUMNS}, lease_until) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            f"{_NOW} + %s::float8 * interval '1 second')")
        self._jobs_head = (f"INSERT INTO {p}jobs (id, execution_id, node_key, status, result, "
                           "log, meta, started_at, finished_at) VALUES ")
        self._jobs_tail = (
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
            "result = excluded.result, log = excluded.log, meta = excluded.meta, "
            "started_at = excluded.started_at, finished_at = excluded.finished_at")
        self._jobs: dict[tuple[str, int], str] = {}
        self.remember_key = (
            f"INSERT INTO {p}idempotency AS i (workflow_key, key, execution_id, answer, "
            f"expires_at) VALUES (%s, %s, %s, %s, {_NOW} + %s::float8 * interval '1 second') "
            "ON CONFLICT (workflow_key, key) DO UPDATE SET execution_id = excluded.execution_id, "
            "answer = excluded.answer, expires_at = excluded.expires_at "
            f"WHERE i.expires_at <= {_NOW} OR %s RETURNING 1")
        self.find_key = (
            "SELECT execution_id, answer, extract(epoch FROM expires_at)::float8 "
            f"FROM {p}idempotency WHERE workflow_key = %s AND key = %s")
        self.forget_keys = (
            f"DELETE FROM {p}idempotency WHERE (workflow_key, key) IN (SELECT workflow_key, key "
            f"FROM {p}idempotency WHERE expires_at < {_NOW} LIMIT {PRUNE_CHUNK})")
        self.remember = (f"UPDATE {p}idempotency SET answer = %s WHERE workflow_key = %s "
                         "AND key = %s")
        self.count_queued = (f"SELECT count(*) FROM (SELECT 1 FROM {p}executions "
                             "WHERE status IS NULL LIMIT %s) q")
        self.save = (
            f"UPDATE {p}executions SET status = %s, output = %s, response = %s, "
            "started_at = %s, finished_at = %s, owner = CASE WHEN %s THEN NULL ELSE owner END, "
            "lease_until = CASE WHEN %s THEN NULL ELSE lease_until END WHERE id = %s")
        self.release = (
            f"UPDATE {p}executions SET status = 0, owner = NULL, lease_until = NULL, "
            "wake_at = to_timestamp(%s::float8), output = %s, started_at = %s WHERE id = %s")
        # Due timers and expired leases first (each found through its own partial index),
        # then the oldest queued execution; SKIP LOCKED lets every worker of every host
        # take a different one without waiting.
        self.claim = (
            f"WITH due AS (SELECT seq FROM {p}executions WHERE status = 0 AND NOT sync "
            f"AND {_KEY} = ANY(%(keys)s) AND {DUE_AT} <= {_NOW} ORDER BY {DUE_AT} "
            "LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED), "
            f"queued AS (SELECT seq FROM {p}executions WHERE status IS NULL "
            f"AND {_KEY} = ANY(%(keys)s) ORDER BY seq LIMIT 1 "
            "FOR NO KEY UPDATE SKIP LOCKED) "
            f"UPDATE {p}executions AS e SET owner = %(owner)s, "
            f"lease_until = {_NOW} + %(lease)s::float8 * interval '1 second', status = 0, "
            "wake_at = NULL WHERE e.seq = (SELECT seq FROM due UNION ALL "
            "SELECT seq FROM queued LIMIT 1) "
            f"RETURNING {columns}, {jobs}")
        self.detach = (
            f"UPDATE {p}executions SET sync = false, owner = %s, "
            f"lease_until = {_NOW} + %s::float8 * interval '1 second' WHERE id = %s")
        self.wake = (
            f"UPDATE {p}executions SET wake_at = {_NOW} WHERE id = %s AND status = 0 "
            "AND NOT sync AND owner IS NULL AND wake_at IS NOT NULL")
        self.job_result = f"UPDATE {p}jobs SET result = %s WHERE id = %s AND execution_id = %s"
        self.renew = (
            f"UPDATE {p}executions SET lease_until = {_NOW} + %s::float8 * interval '1 second' "
            "WHERE id = ANY(%s) AND status = 0 AND (owner = %s OR sync)")
        self.cancel = (
            f"UPDATE {p}executions SET status = %s, finished_at = {_NOW}, wake_at = NULL "
            "WHERE id = %s AND (status IS NULL OR (status = 0 AND NOT sync "
            "AND owner IS NULL AND wake_at IS NOT NULL)) RETURNING id")
        self.cancel_jobs = (f"UPDATE {p}jobs SET status = %s, finished_at = {_NOW} "
                            "WHERE execution_id = %s AND status = 0")
        self.delete = f"DELETE FROM {p}executions WHERE id = %s"
        self.abort_sync = (
            f"UPDATE {p}executions SET status = %s, finished_at = {_NOW}, owner = NULL "
            f"WHERE sync AND status = 0 AND (lease_until IS NULL OR lease_until < {_NOW})")
        self.prune_age = (
            f"DELETE FROM {p}executions WHERE seq IN (SELECT seq FROM {p}executions "
            f"WHERE finished_at IS NOT NULL AND finished_at < {_NOW} - %s::float8 * "
            f"interval '1 second' LIMIT {PRUNE_CHUNK})")
        self.prune_boundary = (f"SELECT seq FROM {p}executions WHERE finished_at IS NOT NULL "
                               "ORDER BY seq DESC OFFSET %s LIMIT 1")
        self.prune_count = (
            f"DELETE FROM {p}executions WHERE seq IN (SELECT seq FROM {p}executions "
            f"WHERE finished_at IS NOT NULL AND seq <= %s LIMIT {PRUNE_CHUNK})")
        self.latest = (f"SELECT version, digest FROM {p}workflow_versions "
                       "WHERE workflow_key = %s ORDER BY version DESC LIMIT 1")
        self.add_version = (f"INSERT INTO {p}workflow_versions (workflow_key, version, digest, "
                            "definition) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING")
        self.max_version = f"SELECT max(version) FROM {p}workflow_versions WHERE workflow_key = %s"
        self.load_version = (f"SELECT definition FROM {p}workflow_versions "
                             "WHERE workflow_key = %s AND version = %s")
        self.timers = (
            f"SELECT extract(epoch FROM {DUE_AT})::float8 FROM {p}executions "
            f"WHERE status = 0 AND NOT sync AND owner IS NULL AND {DUE_AT} > {_NOW} "
            f"AND {DUE_AT} < 'infinity'::timestamptz ORDER BY {DUE_AT} LIMIT {MAX_TIMERS // 10}")
        self.queued = f"SELECT count(*) FROM {p}executions WHERE status IS NULL"
        self.queued_of = self.queued + " AND workflow_key = ANY(%s)"

    def jobs(self, count: int, after: str = "") -> str:
        """Insert or update ``count`` jobs in one statement; ``after`` (an UPDATE of the
        execution) runs first in the same statement: one round trip for both."""
        key = (after, count)
        query = self._jobs.get(key)
        if query is None:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * count)
            query = self._jobs_head + values + self._jobs_tail
            if after:
                query = f"WITH done AS ({after}) {query}"
            if len(self._jobs) < 512:
                self._jobs[key] = query
        return query


def _write_jobs(cur: Cur, sql: _Sql, rows: Sequence[tuple[Any, ...]], after: str = "",
                args: Sequence[Any] = ()) -> None:
    """``after`` with ``args`` (an UPDATE of the execution), then the job rows, in as few
    statements as the parameter limit allows (usually one)."""
    if not rows:
        if after:
            cur.execute(after, args)
        return
    for start in range(0, len(rows), JOBS_PER_STATEMENT):
        chunk = rows[start:start + JOBS_PER_STATEMENT]
        cur.execute(sql.jobs(len(chunk), after),
                    [*args, *(value for row in chunk for value in row)])
        after, args = "", ()


def _execution(row: Sequence[Any]) -> Execution:
    jobs = [Job(status=Status(j[2]), result=j[3], log=j[4], node_key=j[1], id=j[0],
                started_at=_from_epoch(j[6]), finished_at=_from_epoch(j[7]), meta=j[5] or {})
            for j in row[14] or ()]
    return Execution(
        id=row[0], workflow_key=row[1], version=row[2],
        status=None if row[3] is None else Status(row[3]), sync=bool(row[4]), context=row[5],
        output=row[6], response=row[7], replay_of=row[8], parent_id=row[9],
        stack=row[10] or [], created_at=_utc(row[11]) or datetime.now(UTC),
        started_at=_utc(row[12]), finished_at=_utc(row[13]), jobs=jobs)


def _job_rows(execution_id: str, jobs: Collection[Job]) -> list[tuple[Any, ...]]:
    return [(job.id, execution_id, job.node_key, int(job.status), _json(job.result), job.log,
             _json(job.meta), job.started_at, job.finished_at) for job in jobs]


# -- writing in batches --------------------------------------------------------------------------
class _Refused(StoreUnavailable):
    """A write refused before it changed anything (queue full): the batch goes on."""


class _Batch:
    """What one transaction announces once committed: new work and timers."""

    __slots__ = ("queued", "timers", "work")

    def __init__(self) -> None:
        self.work = 0
        self.queued = 0
        self.timers: list[float] = []


WriteFn = Callable[[Cur, _Batch], Any]


class _Write:
    __slots__ = ("fn", "future", "pipelined")

    def __init__(self, fn: WriteFn, pipelined: bool) -> None:
        self.fn = fn
        self.pipelined = pipelined
        self.future: Future[Any] = Future()


class _Failed(Exception):
    """A write of a batch failed (``write``: which one, if known); the transaction was rolled
    back."""

    def __init__(self, write: _Write | None, error: BaseException, transient: bool) -> None:
        super().__init__(str(error))
        self.write = write
        self.error = error
        self.transient = transient


class _Lost(Exception):
    """The connection broke; ``committing``: while committing (the outcome is unknown)."""

    def __init__(self, error: BaseException, committing: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.committing = committing


class _Writers:
    """Writer threads sharing one queue of writes; each batches what is pending into one
    transaction on its own connection. Started lazily in the process that writes."""

    def __init__(self, store: PostgresStore, count: int) -> None:
        self._store = store
        self._count = count
        self._pending: deque[_Write] = deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._pid = 0
        self._closed = False

    def submit(self, fn: WriteFn, *, pipelined: bool = False) -> Future[Any]:
        """Queue a write; ``pipelined``: it reads no result (its statements may go out
        without waiting for each answer)."""
        write = _Write(fn, pipelined)
        with self._ready:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if not self._threads or self._pid != os.getpid():
                # A forked child never inherits the threads (nor may it use the connections).
                self._pid = os.getpid()
                self._pending.clear()
                self._threads = [threading.Thread(target=self._loop, daemon=True,
                                                  name=f"webhook-workflow-pg-writer-{i}")
                                 for i in range(self._count)]
                for thread in self._threads:
                    thread.start()
            self._pending.append(write)
            self._ready.notify()
        return write.future

    def run(self, fn: WriteFn, *, pipelined: bool = False) -> Any:
        return self.submit(fn, pipelined=pipelined).result()

    def close(self, timeout: float = 10.0) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            threads = self._threads if self._pid == os.getpid() else []
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        conn: Conn | None = None
        try:
            while True:
                with self._ready:
                    while not self._pending and not self._closed:
                        self._ready.wait()
                    if not self._pending:
                        return
                    batch = [self._pending.popleft()
                             for _ in range(min(MAX_BATCH, len(self._pending)))]
                conn = self._store._run_batch(conn, batch)
        finally:
            if conn is not None:
                with suppress(Exception):
                    conn.close()


# -- waking workers -------------------------------------------------------------------------------
class _Listener:
    """``LISTEN`` on the store's channel on a connection of its own; calls the subscribers
    when another process committed work, and when a timer announced by any process is due."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._lock = threading.Condition()
        self._callbacks: list[Callable[[], None]] = []
        self._timers: list[float] = []
        self._woken = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="webhook-workflow-pg-listener")
        self._thread.start()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock, suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def wait(self, timeout: float) -> bool:
        with self._lock:
            seen = self._woken
            return self._lock.wait_for(lambda: self._woken != seen, timeout)

    def stop(self, timeout: float = 2.0, *, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _fire(self, times: int) -> None:
        with self._lock:
            self._woken += 1
            self._lock.notify_all()
            callbacks = list(self._callbacks)
        for _ in range(min(times, 16)):
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    logger.exception("a work subscriber failed")

    def _handle(self, payload: str) -> None:
        origin, _, rest = payload.partition(" ")
        work, _, timers = rest.partition(" ")
        with self._lock:
            for text in timers.split():
                with suppress(ValueError):
                    if len(self._timers) < MAX_TIMERS:
                        heapq.heappush(self._timers, float(text))
        if origin != self._store.origin and work.isdigit() and int(work) > 0:
            self._fire(int(work))

    def _due(self) -> float:
        """Fire the timers that are due; the seconds until the next one (at most 1)."""
        now = time.time()
        due = 0
        with self._lock:
            while self._timers and self._timers[0] <= now:
                heapq.heappop(self._timers)
                due += 1
            following = self._timers[0] - now if self._timers else 1.0
        if due:
            self._fire(due)
        return max(0.0, min(1.0, following))

    def _loop(self) -> None:
        conn: Conn | None = None
        while not self._stop.is_set():
            if conn is None:
                try:
                    conn = self._store._connect(autocommit=True)
                    conn.execute(f"LISTEN {self._store.sql.channel}")
                    # Timers set before this listener listened (by any host, any time).
                    upcoming = conn.execute(self._store.sql.timers).fetchall()
                except (psycopg.Error, StoreUnavailable):
                    if conn is not None:
                        with suppress(Exception):
                            conn.close()
                    conn = None
                    self._stop.wait(min(1.0, self._due()) or RETRY_DELAY)
                    continue
                with self._lock:
                    self._timers = sorted({*self._timers, *(row[0] for row in upcoming)})
                self._fire(1)  # work may have been announced while nobody listened
            try:
                for notice in conn.notifies(timeout=min(0.5, self._due()) or 0.01,
                                            stop_after=1):
                    self._handle(notice.payload)
            except psycopg.Error:
                with suppress(Exception):
                    conn.close()
                conn = None
        if conn is not None:
            with suppress(Exception):
                conn.close()


# -- the store -------------------------------------------------------------------------------------
class PostgresStore:
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
    def _write(self, fn: WriteFn, *, pipelined: bool = False) -> Any:
        """Run a write on a writer thread (batched with concurrent ones) and wait."""
        return self._writers.run(fn, pipelined=pipelined)

    def _run_batch(self, conn: Conn | None, batch: list[_Write]) -> Conn | None:
        """Commit ``batch`` in one transaction; answer every write; return the connection.

        A write whose statement fails is answered with its error and the others run again
        without it (nothing of a failed transaction is committed); deadlocks and
        serialization failures are retried. A connection the database closed (a restart)
        is replaced once; a connection lost while committing fails every write of the batch
        (the outcome is unknown, so none is acknowledged)."""
        writes = [w for w in batch if w.future.set_running_or_notify_cancel()]
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

    # -- writing ---------------------------------------------------------------------------------
    def add(self, execution: Execution,
            idempotency: Idempotency | None = None) -> IdempotencyRecord | None:
        result: IdempotencyRecord | None = self.add_later(execution, idempotency).result()
        return result

    def add_later(self, execution: Execution, idempotency: Idempotency | None = None
                  ) -> Future[IdempotencyRecord | None]:
        """Queue the insert of ``execution``; the future completes once it is committed (what
        an ASGI door awaits before acknowledging). With ``idempotency`` the future's result
        is the earlier delivery's record when the key was seen (nothing inserted)."""
        status = execution.status
        queued = status is None
        row = (execution.id, execution.workflow_key, execution.version,
               None if status is None else int(status),
               execution.sync, _dump(execution.context), _json(execution.output),
               _json(execution.response), execution.replay_of, execution.parent_id,
               _dump(execution.stack), execution.created_at, execution.started_at,
               execution.finished_at, self.lease if execution.sync else None)
        jobs = _job_rows(execution.id, execution.jobs)
        key = None if idempotency is None else (
            idempotency.workflow_key, idempotency.key, execution.id,
            _json(idempotency.answer), float(idempotency.ttl), idempotency.replace)

        def insert(cur: Cur, batch: _Batch) -> IdempotencyRecord | None:
            if queued and self.max_queue:
                self._check_queue(cur, batch)
            if key is not None:
                found = self._remembered(cur, key)
                if found is not None:
                    return found
            _write_jobs(cur, self.sql, jobs, self.sql.insert, row)
            if queued:
                batch.queued += 1
                batch.work += 1
            return None

        try:
            future: Future[IdempotencyRecord | None] = self._writers.submit(
                insert, pipelined=key is None)
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
        workflow_key, name, execution_id, answer, ttl, replace = key
        for _ in range(3):
            taken = cur.execute(self.sql.remember_key, (workflow_key, name, execution_id,
                                                        answer, ttl, replace)).fetchone()
            if taken is not None:
                return None
            row = cur.execute(self.sql.find_key, (workflow_key, name)).fetchone()
            if row is not None:
                return IdempotencyRecord(row[0], row[1], float(row[2]))
        raise StoreUnavailable("postgresql: the idempotency key kept changing")

    def remember(self, workflow_key: str, key: str, answer: dict[str, Any]) -> None:
        args = (_dump(answer), workflow_key, key)
        self._write(lambda cur, batch: cur.execute(self.sql.remember, args), pipelined=True)

    def save_jobs(self, execution: Execution, jobs: Sequence[Job]) -> None:
        rows = _job_rows(execution.id, jobs)
        if rows:
            self._write(lambda cur, batch: _write_jobs(cur, self.sql, rows), pipelined=True)

    def save(self, execution: Execution) -> None:
        finished = execution.finished
        args = (None if execution.status is None else int(execution.status),
                _json(execution.output), _json(execution.response), execution.started_at,
                execution.finished_at, finished, finished, execution.id)
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

    def claim(self, owner: str, workflow_keys: Collection[str],
              lease: float = 30.0) -> Execution | None:
        if not workflow_keys:
            return None
        args = {"owner": owner, "lease": float(lease), "keys": list(workflow_keys)}

        # One statement on a pooled connection: a claim never waits behind the writers'
        # commits (nor makes them wait), and commits without waiting for the disk.
        row = self._read(lambda conn: conn.execute(self.sql.claim, args).fetchone())
        return None if row is None else _execution(row)

    def detach(self, execution: Execution, owner: str, lease: float) -> None:
        rows = _job_rows(execution.id, execution.jobs)
        execution.sync = False

        def detach(cur: Cur, batch: _Batch) -> None:
            _write_jobs(cur, self.sql, rows, self.sql.detach, (owner, float(lease), execution.id))

        self._write(detach, pipelined=True)

    def wake(self, execution_id: str, job: Job | None = None) -> bool:
        result = None if job is None else (_json(job.result), job.id, execution_id)

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

    def cancel(self, execution_id: str) -> Execution | None:
        def cancel(cur: Cur, batch: _Batch) -> Execution | None:
            if cur.execute(self.sql.cancel, (int(Status.CANCELED), execution_id)).fetchone() \
                    is None:
                return None
            cur.execute(self.sql.cancel_jobs, (int(Status.CANCELED), execution_id))
            row = cur.execute(self.sql.select + " WHERE e.id = %s", (execution_id,)).fetchone()
            return None if row is None else _execution(row)

        result: Execution | None = self._write(cancel)
        return result

    def delete(self, execution_id: str) -> bool:
        return bool(self._write(lambda cur, batch: cur.execute(
            self.sql.delete, (execution_id,)).rowcount > 0))

    def prune(self, max_age: float | None = None, max_count: int | None = None) -> int:
        """Delete finished executions older than ``max_age`` seconds and beyond the newest
        ``max_count``; return how many were deleted (retention). Runs on a pooled connection
        in chunks of :data:`PRUNE_CHUNK` rows, each its own transaction, so it never holds
        up the writers."""
        def prune(conn: Conn) -> int:
            deleted = 0
            if max_age is not None:
                while True:
                    count = conn.execute(self.sql.prune_age, (float(max_age),)).rowcount
                    deleted += count
                    if count < PRUNE_CHUNK:
                        break
            if max_count is not None:
                row = conn.execute(self.sql.prune_boundary, (int(max_count),)).fetchone()
                while row is not None:
                    count = conn.execute(self.sql.prune_count, (row[0],)).rowcount
                    deleted += count
                    if count < PRUNE_CHUNK:
                        break
            return deleted

        return self._read(prune)

    # -- versions -----------------------------------------------------------------------------
    def save_version(self, key: str, digest: str, definition: dict[str, Any]) -> int:
        text = _dump(definition)

        def save(cur: Cur, batch: _Batch) -> int:
            # Hosts starting at once may add the same version: the loser reads the winner's.
            for _ in range(10):
                row = cur.execute(self.sql.latest, (key,)).fetchone()
                if row is not None and row[1] == digest:
                    return int(row[0])
                version = 1 if row is None else int(row[0]) + 1
                if cur.execute(self.sql.add_version, (key, version, digest, text)).rowcount:
                    return version
            raise StoreUnavailable(f"postgresql: could not record a version of {key!r}")

        return int(self._write(save))

    def latest_version(self, key: str) -> int | None:
        row = self._read(lambda conn: conn.execute(self.sql.max_version, (key,)).fetchone())
        return None if row is None or row[0] is None else int(row[0])

    def load_version(self, key: str, version: int) -> dict[str, Any] | None:
        row = self._read(lambda conn: conn.execute(self.sql.load_version,
                                                   (key, version)).fetchone())
        return None if row is None else dict(row[0])

    # -- reading ----------------------------------------------------------------------------------
    def get(self, execution_id: str) -> Execution | None:
        row = self._read(lambda conn: conn.execute(self.sql.select + " WHERE e.id = %s",
                                                   (execution_id,)).fetchone())
        return None if row is None else _execution(row)

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50) -> list[Execution]:
        where: list[str] = []
        args: list[Any] = []
        if workflow_key is not None:
            where.append("e.workflow_key = %s")
            args.append(workflow_key)
        if status == "queued":
            where.append("e.status IS NULL")
        elif status is not None:
            where.append("e.status = %s")
            args.append(int(status))
        query = self.sql.select
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY e.seq DESC LIMIT %s"
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


def drop_tables(url: str) -> None:
    """Drop every table of the store a URL names, with all its executions (tests,
    uninstalling). Irreversible."""
    conninfo, options = parse_url(url)
    prefix = options.get("prefix", "")
    names = ", ".join(f"{prefix}{table}" for table in TABLES)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
