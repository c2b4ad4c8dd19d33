"""The PostgreSQL store's pages of the execution log (:class:`~.pages.Pages`), by keyset."""

from __future__ import annotations

from typing import Any

from ..status import Status
from .pages import ROW_COLUMNS, ExecutionRow, page_filter, row_from_values, status_key
from .postgres_conn import PostgresConnections

__all__ = ["PostgresPages"]

_COLUMNS = ", ".join(f"e.{c.strip()}" for c in ROW_COLUMNS.split(","))


class PostgresPages(PostgresConnections):
    """Part of :class:`~webhook_workflow.store.postgres.PostgresStore` (a base class of it).

    Its queries are planned for their values, with sorts and bitmap scans allowed again (the
    store's connections turn them off for the run's own statements): a page of a replayed
    execution's replays, or a day's counts, would otherwise walk a whole index where a
    handful of rows, found by another index and sorted, answer it. Never prepared, so that
    a generic plan does not forget how few rows a value matches.
    """

    def _planned(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        def run(conn: Any) -> list[Any]:
            with conn.transaction():
                conn.execute("SET LOCAL enable_sort = on; SET LOCAL enable_bitmapscan = on")
                return list(conn.execute(sql, args, prepare=False).fetchall())

        return self._read(run)

    def page(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             since: float | None = None, until: float | None = None,
             before: str | None = None, replay_of: str | None = None,
             limit: int = 50) -> list[ExecutionRow]:
        p = self.prefix
        where, args = page_filter(workflow_key, status, since, until, replay_of, "%s",
                                  "to_timestamp({}::float8)")
        if before is not None:
            # A row-value comparison against the cursor row: one index range scan of
            # (…, created_at, seq) from the cursor down, whatever page it is.
            where.append(f"(e.created_at, e.seq) < (SELECT c.created_at, c.seq FROM "
                         f"{p}executions c WHERE c.id = %s)")
            args.append(before)
        sql = (f"SELECT {_COLUMNS}, (SELECT count(*) FROM {p}jobs j WHERE j.execution_id = e.id) "
               f"FROM {p}executions e" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY e.created_at DESC, e.seq DESC LIMIT %s")
        rows = self._planned(sql, (*args, int(limit)))
        return [row_from_values(row[:-1], row[-1]) for row in rows]

    def status_counts(self, since: float) -> dict[str, dict[str, int]]:
        p = self.prefix
        rows = self._planned(
            f"SELECT workflow_key, status, count(*) FROM {p}executions "
            "WHERE created_at >= to_timestamp(%s::float8) GROUP BY workflow_key, status",
            (float(since),))
        out: dict[str, dict[str, int]] = {}
        for key, status, count in rows:
            by = out.setdefault(key, {})
            name = status_key(status)
            by[name] = by.get(name, 0) + int(count)
        return out

    def idempotency_ids(self, key: str) -> list[str]:
        p = self.prefix
        rows = self._read(lambda conn: conn.execute(
            f"SELECT execution_id FROM {p}idempotency WHERE key = %s "
            "ORDER BY expires_at DESC LIMIT 20", (key,)).fetchall())
        return [row[0] for row in rows]
