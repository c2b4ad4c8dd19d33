"""What the PostgreSQL store keeps beside the run: versions, retention, cancels, callbacks."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from ..errors import StoreUnavailable
from ..records import Execution, FlowMark
from .postgres_batch import _Batch
from .postgres_conn import PostgresConnections
from .postgres_sql import PRUNE_CHUNK, Conn, Cur, _dump, _json, _Sql

__all__ = ["PostgresUpkeep", "flow_values"]


class PostgresUpkeep(PostgresConnections):
    """Part of :class:`~webhook_workflow.store.postgres.PostgresStore` (a base class of it;
    the store sets :attr:`sql`)."""

    sql: _Sql

    def _within_flow(self, execution: Execution, flow: FlowMark) -> bool:
        """Check a queued execution just claimed against its key's limits, one claim of its
        workflow at a time; give it back to the queue when it is over them."""
        lock = f"{self.prefix}flow:{execution.workflow_key}"

        def check(cur: Cur, batch: _Batch) -> bool:
            cur.execute(self.sql.flow_lock, (lock,))
            found = cur.execute(self.sql.flow_counts, (execution.id,)).fetchone()
            running, started = (0, 0) if found is None else (found[0] or 0, found[1] or 0)
            if (flow.concurrency_limit is not None and running > flow.concurrency_limit) or (
                    flow.throttle_limit is not None and started > flow.throttle_limit):
                cur.execute(self.sql.give_back, (execution.id,))
                batch.work += 1
                return False
            return True

        return bool(self._write(check))

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        return bool(self._write(lambda cur, batch: cur.execute(
            self.sql.request_cancel, (reason, execution_id)).rowcount > 0))

    def cancel_requests(self, execution_ids: Collection[str]) -> dict[str, str]:
        if not execution_ids:
            return {}
        ids = list(execution_ids)
        rows = self._read(lambda conn: conn.execute(self.sql.cancel_requests, (ids,)).fetchall())
        return {row[0]: row[1] for row in rows}

    def oldest_queued_at(self, workflow_keys: Collection[str] | None = None) -> float | None:
        """When the oldest execution (of ``workflow_keys``) still queued came in (epoch
        seconds), or None when none is queued."""
        sql = (f"SELECT extract(epoch FROM min(created_at)) FROM {self.prefix}executions "
               "WHERE status IS NULL")
        args: tuple[Any, ...] = ()
        if workflow_keys is not None:
            sql, args = sql + " AND workflow_key = ANY(%s)", (list(workflow_keys),)
        row = self._read(lambda conn: conn.execute(sql, args).fetchone())
        return None if row is None or row[0] is None else float(row[0])

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

    # -- callbacks (nodes.callback) ---------------------------------------------------------
    def record_callback(self, execution_id: str, node_key: str, payload: Any) -> bool:
        """Record the one callback of a waiting node; False when one was recorded before."""
        p = self.prefix
        return bool(self._write(lambda cur, batch: cur.execute(
            f"INSERT INTO {p}callbacks (execution_id, node_key, payload) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING", (execution_id, node_key, _json(payload))).rowcount > 0))

    def callbacks_of(self, execution_id: str) -> dict[str, Any]:
        """The callbacks recorded for an execution, by node key. A node whose job is no
        longer PENDING has used its callback: reading them again changes nothing."""
        p = self.prefix
        rows = self._read(lambda conn: conn.execute(
            f"SELECT node_key, payload FROM {p}callbacks WHERE execution_id = %s",
            (execution_id,)).fetchall())
        return {row[0]: row[1] for row in rows}

    def shared_secret(self) -> bytes:
        """The key every process on this store signs resume URLs with (made once)."""
        p = self.prefix

        def secret(cur: Cur, batch: _Batch) -> str:
            cur.execute(f"INSERT INTO {p}settings VALUES ('resume_secret', %s) ON CONFLICT "
                        "DO NOTHING", (secrets.token_hex(32),))
            row = cur.execute(f"SELECT value FROM {p}settings WHERE name = "
                              "'resume_secret'").fetchone()
            assert row is not None  # inserted just before, or by another host
            return str(row[0])

        return bytes.fromhex(self._write(secret))


def flow_values(flow: FlowMark | None) -> tuple[Any, ...]:
    """The seven flow columns of an execution row (``not_before`` as a timestamp)."""
    if flow is None:
        return (None,) * 7
    not_before = None if flow.not_before is None else datetime.fromtimestamp(
        flow.not_before, UTC)
    return (*flow[:6], not_before)
