"""The SQLite store's pages of the execution log (:class:`~.pages.Pages`), by keyset."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import StoreUnavailable
from ..status import Status
from .pages import ROW_COLUMNS, ExecutionRow, page_filter, row_from_values, status_key

__all__ = ["SQLitePages"]

_COLUMNS = ", ".join(f"e.{c.strip()}" for c in ROW_COLUMNS.split(","))
# The job count is read through jobs_by_execution, for the page's rows only.
_SELECT = (f"SELECT {_COLUMNS}, (SELECT count(*) FROM jobs j WHERE j.execution_id = e.id) "
           "FROM executions e")


class SQLitePages:
    """Part of :class:`~webhook_workflow.store.sqlite.SQLiteStore` (a mixin of it)."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def page(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             since: float | None = None, until: float | None = None,
             before: str | None = None, replay_of: str | None = None,
             limit: int = 50) -> list[ExecutionRow]:
        where, args = page_filter(workflow_key, status, since, until, replay_of, "?")
        conn = self._conn()
        try:
            if before is not None:
                # The cursor is read first and bound as values: SQLite walks an index from a
                # row value it is given, not from one a subquery would find.
                cursor = conn.execute("SELECT created_at, seq FROM executions WHERE id = ?",
                                      (before,)).fetchone()
                if cursor is None:
                    return []
                where.append("(e.created_at, e.seq) < (?, ?)")
                args += [cursor[0], cursor[1]]
            sql = (_SELECT + (" WHERE " + " AND ".join(where) if where else "")
                   + " ORDER BY e.created_at DESC, e.seq DESC LIMIT ?")
            rows = conn.execute(sql, (*args, int(limit))).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        return [row_from_values(row[:-1], row[-1]) for row in rows]

    def status_counts(self, since: float) -> dict[str, dict[str, int]]:
        try:
            rows: list[Any] = self._conn().execute(
                "SELECT workflow_key, status, count(*) FROM executions "
                "WHERE created_at >= ? GROUP BY workflow_key, status", (float(since),)).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        out: dict[str, dict[str, int]] = {}
        for key, status, count in rows:
            by = out.setdefault(key, {})
            name = status_key(status)
            by[name] = by.get(name, 0) + int(count)
        return out

    def idempotency_ids(self, key: str) -> list[str]:
        try:
            rows = self._conn().execute(
                "SELECT execution_id FROM idempotency WHERE key = ? ORDER BY expires_at DESC "
                "LIMIT 20", (key,)).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        return [row[0] for row in rows]
