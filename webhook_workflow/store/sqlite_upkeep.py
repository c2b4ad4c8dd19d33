"""What the SQLite store keeps beside the run: versions, retention, cancels, callbacks."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any

from ..errors import StoreUnavailable
from .rows import dump as _dump
from .rows import load as _load

__all__ = ["SQLiteUpkeep"]


class SQLiteUpkeep:
    """Part of :class:`~webhook_workflow.store.sqlite.SQLiteStore` (a mixin of it)."""

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        return bool(self._write(lambda conn: conn.execute(
            "UPDATE executions SET cancel_reason = ? WHERE id = ? AND status = 0 "
            "AND (owner IS NOT NULL OR sync = 1)", (reason, execution_id)).rowcount > 0))

    def cancel_requests(self, execution_ids: Collection[str]) -> dict[str, str]:
        if not execution_ids:
            return {}
        conn = self._conn()
        try:
            rows = conn.execute(
                "SELECT id, cancel_reason FROM executions WHERE cancel_reason IS NOT NULL "
                "AND status = 0 AND id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(execution_ids)),)).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        return {row[0]: row[1] for row in rows}

    def oldest_queued_at(self, workflow_keys: Collection[str] | None = None) -> float | None:
        """When the oldest execution (of ``workflow_keys``) still queued came in (epoch
        seconds), or None when none is queued."""
        sql = "SELECT min(created_at) FROM executions WHERE status IS NULL"
        args: tuple[Any, ...] = ()
        if workflow_keys is not None:
            sql += " AND workflow_key IN (SELECT value FROM json_each(?))"
            args = (json.dumps(list(workflow_keys)),)
        try:
            row = self._conn().execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        return None if row is None or row[0] is None else float(row[0])

    def prune(self, max_age: float | None = None, max_count: int | None = None) -> int:
        """Delete finished executions older than ``max_age`` seconds and beyond the newest
        ``max_count``; return how many were deleted (retention)."""
        def prune(conn: sqlite3.Connection) -> int:
            deleted = 0
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

        return int(self._write(prune))

    # -- versions ---------------------------------------------------------------------------------
    def save_version(self, key: str, digest: str, definition: dict[str, Any]) -> int:
        def save(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT version, digest FROM workflow_versions WHERE "
                               "workflow_key = ? ORDER BY version DESC LIMIT 1",
                               (key,)).fetchone()
            if row is not None and row[1] == digest:
                return int(row[0])
            version = 1 if row is None else int(row[0]) + 1
            conn.execute("INSERT INTO workflow_versions VALUES (?, ?, ?, ?, ?)",
                         (key, version, digest, _dump(definition), time.time()))
            return version

        return int(self._write(save))

    def latest_version(self, key: str) -> int | None:
        row = self._conn().execute("SELECT max(version) FROM workflow_versions WHERE "
                                   "workflow_key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def load_version(self, key: str, version: int) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT definition FROM workflow_versions WHERE "
                                   "workflow_key = ? AND version = ?", (key, version)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # -- callbacks (nodes.callback) ---------------------------------------------------------
    def record_callback(self, execution_id: str, node_key: str, payload: Any) -> bool:
        """Record the one callback of a waiting node; False when one was recorded before."""
        return bool(self._write(lambda conn: conn.execute(
            "INSERT INTO callbacks (execution_id, node_key, payload, received_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (execution_id, node_key, _dump(payload), time.time())).rowcount > 0))

    def callbacks_of(self, execution_id: str) -> dict[str, Any]:
        """The callbacks recorded for an execution, by node key. A node whose job is no
        longer PENDING has used its callback: reading them again changes nothing."""
        rows = self._conn().execute("SELECT node_key, payload FROM callbacks WHERE "
                                    "execution_id = ?", (execution_id,)).fetchall()
        return {row[0]: _load(row[1]) for row in rows}

    def shared_secret(self) -> bytes:
        """The key every process on this store signs resume URLs with (made once)."""
        def secret(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO settings VALUES ('resume_secret', ?) ON CONFLICT DO "
                         "NOTHING", (secrets.token_hex(32),))
            return str(conn.execute("SELECT value FROM settings WHERE name = "
                                    "'resume_secret'").fetchone()[0])

        return bytes.fromhex(self._write(secret))

