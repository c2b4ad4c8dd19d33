"""The PostgreSQL store's building blocks: column values, the store URL and its SQL statements.

Every table name is under the store's prefix.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow
from psycopg_pool import PoolTimeout

from ..errors import StoreUnavailable
from ..jsoncodec import dumps
from ..records import Execution, FlowMark, Job
from ..status import execution_status, job_status
from .postgres_schema import DUE_AT, TABLES

__all__ = ["drop_tables", "parse_url"]


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
            "parent_id, stack, created_at, started_at, finished_at, reason, concurrency_key, "
            "concurrency_limit, throttle_key, throttle_limit, throttle_period, debounce_key, "
            "not_before, origin, trace")
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
            f"({', '.join(['%s'] * (_COLUMNS.count(',') + 1))}, "
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
            # A takeover (the key's execution died unanswered) succeeds only while the key
            # still names that execution and has no answer: one redelivery of many wins.
            f"WHERE i.expires_at <= {_NOW} OR (i.execution_id = %s AND i.answer IS NULL) "
            "RETURNING 1")
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
            "started_at = %s, finished_at = %s, reason = %s, "
            "owner = CASE WHEN %s THEN NULL ELSE owner END, "
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
            f"queued AS (SELECT seq FROM {p}executions q WHERE status IS NULL "
            f"AND {_KEY} = ANY(%(keys)s) AND {_may_start(p)} ORDER BY seq LIMIT 1 "
            "FOR NO KEY UPDATE SKIP LOCKED) "
            f"UPDATE {p}executions AS e SET owner = %(owner)s, "
            f"lease_until = {_NOW} + %(lease)s::float8 * interval '1 second', status = 0, "
            f"wake_at = NULL, claimed_at = coalesce(claimed_at, {_NOW}) "
            "WHERE e.seq = (SELECT seq FROM due UNION ALL "
            "SELECT seq FROM queued LIMIT 1) "
            f"RETURNING {columns}, {jobs}")
        # A claim's statement counts what its snapshot saw: two hosts may both take the last
        # slot of a key. Each checks again once it holds its workflow's advisory lock (so the
        # checks go one at a time, each seeing the others' claims) and gives back what is
        # over the limit.
        self.flow_lock = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
        self.flow_counts = (
            f"SELECT (SELECT count(*) FROM {p}executions r WHERE r.workflow_key = e.workflow_key "
            "AND r.concurrency_key = e.concurrency_key AND r.status = 0 AND r.owner IS NOT NULL "
            f"AND r.lease_until >= {_NOW}), "
            f"(SELECT count(*) FROM {p}executions r WHERE r.workflow_key = e.workflow_key "
            "AND r.throttle_key = e.throttle_key AND r.claimed_at > "
            f"{_NOW} - e.throttle_period * interval '1 second') FROM {p}executions e "
            "WHERE e.id = %s")
        self.give_back = (
            f"UPDATE {p}executions SET status = NULL, owner = NULL, lease_until = NULL, "
            "claimed_at = NULL WHERE id = %s")
        self.debounce = (
            f"UPDATE {p}executions SET status = %s, finished_at = {_NOW}, reason = %s "
            "WHERE workflow_key = %s AND debounce_key = %s AND status IS NULL")
        self.detach = (
            f"UPDATE {p}executions SET sync = false, owner = %s, "
            f"lease_until = {_NOW} + %s::float8 * interval '1 second' WHERE id = %s")
        self.wake = (
            f"UPDATE {p}executions SET wake_at = {_NOW} WHERE id = %s AND status = 0 "
            f"AND NOT sync AND owner IS NULL AND wake_at > {_NOW}")
        self.reopen = (
            f"UPDATE {p}executions SET status = 0, owner = NULL, lease_until = NULL, "
            "wake_at = to_timestamp(%s::float8), started_at = %s, finished_at = NULL, "
            "reason = NULL, sync = false WHERE id = %s AND status = %s RETURNING id")
        self.job_result = (f"UPDATE {p}jobs SET result = %s, meta = %s WHERE id = %s AND "
                           "execution_id = %s")
        self.renew = (
            f"UPDATE {p}executions SET lease_until = {_NOW} + %s::float8 * interval '1 second' "
            "WHERE id = ANY(%s) AND status = 0 AND (owner = %s OR sync)")
        self.cancel = (
            f"UPDATE {p}executions SET status = %s, finished_at = {_NOW}, wake_at = NULL, "
            "reason = %s WHERE id = %s AND (status IS NULL OR (status = 0 AND NOT sync "
            "AND owner IS NULL AND wake_at IS NOT NULL)) RETURNING id")
        self.request_cancel = (
            f"UPDATE {p}executions SET cancel_reason = %s WHERE id = %s AND status = 0 "
            "AND (owner IS NOT NULL OR sync)")
        self.cancel_requests = (
            f"SELECT id, cancel_reason FROM {p}executions WHERE cancel_reason IS NOT NULL "
            "AND status = 0 AND id = ANY(%s)")
        self.cancel_jobs = (f"UPDATE {p}jobs SET status = %s, finished_at = {_NOW} "
                            "WHERE execution_id = %s AND status = 0")
        self.delete = f"DELETE FROM {p}executions WHERE id = %s"
        self.abort_sync = (
            f"UPDATE {p}executions SET status = %s, finished_at = {_NOW}, owner = NULL, "
            "reason = 'process_lost' WHERE sync AND status = 0 "
            f"AND (lease_until IS NULL OR lease_until < {_NOW})")
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


def _may_start(p: str) -> str:
    """When a queued execution ``q`` may start: its flow control (records.FlowMark)."""
    return (
        f"(q.not_before IS NULL OR q.not_before <= {_NOW}) "
        f"AND (q.concurrency_limit IS NULL OR (SELECT count(*) FROM {p}executions r "
        "WHERE r.workflow_key = q.workflow_key AND r.concurrency_key = q.concurrency_key "
        f"AND r.status = 0 AND r.owner IS NOT NULL AND r.lease_until >= {_NOW}) "
        "< q.concurrency_limit) "
        f"AND (q.throttle_limit IS NULL OR (SELECT count(*) FROM {p}executions r "
        "WHERE r.workflow_key = q.workflow_key AND r.throttle_key = q.throttle_key "
        f"AND r.claimed_at > {_NOW} - q.throttle_period * interval '1 second') "
        "< q.throttle_limit)")


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
    jobs = [Job(status=job_status(j[2]), result=j[3], log=j[4], node_key=j[1], id=j[0],
                started_at=_from_epoch(j[6]), finished_at=_from_epoch(j[7]), meta=j[5] or {})
            for j in row[24] or ()]
    return Execution(
        id=row[0], workflow_key=row[1], version=row[2],
        status=execution_status(row[3]), sync=bool(row[4]), context=row[5],
        output=row[6], response=row[7], replay_of=row[8], parent_id=row[9],
        stack=row[10] or [], created_at=_utc(row[11]) or datetime.now(UTC),
        started_at=_utc(row[12]), finished_at=_utc(row[13]), reason=row[14],
        flow=_flow(row[15:22]), origin=row[22], trace=row[23],
        jobs=jobs)


def _flow(values: Sequence[Any]) -> FlowMark | None:
    if all(value is None for value in values):
        return None
    not_before = values[6]
    return FlowMark(values[0], values[1], values[2], values[3], values[4], values[5],
                    None if not_before is None else not_before.timestamp())


def _job_rows(execution_id: str, jobs: Collection[Job]) -> list[tuple[Any, ...]]:
    return [(job.id, execution_id, job.node_key, int(job.status), _json(job.result), job.log,
             _json(job.meta), job.started_at, job.finished_at) for job in jobs]


def drop_tables(url: str) -> None:
    """Drop every table of the store a URL names, with all its executions (tests,
    uninstalling). Irreversible."""
    conninfo, options = parse_url(url)
    prefix = options.get("prefix", "")
    names = ", ".join(f"{prefix}{table}" for table in TABLES)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
