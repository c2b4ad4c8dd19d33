"""The SQLite store's schema, as numbered migrations applied in order on first use."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

#: Each entry moves the schema from version i to i+1; never edit a released entry, add one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE workflow_versions (
        workflow_key TEXT NOT NULL,
        version      INTEGER NOT NULL,
        digest       TEXT NOT NULL,
        definition   TEXT NOT NULL,
        created_at   REAL NOT NULL,
        PRIMARY KEY (workflow_key, version)
    );
    CREATE TABLE executions (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT NOT NULL UNIQUE,
        workflow_key TEXT NOT NULL,
        version      INTEGER NOT NULL,
        status       INTEGER,
        sync         INTEGER NOT NULL DEFAULT 0,
        context      TEXT NOT NULL,
        output       TEXT,
        response     TEXT,
        replay_of    TEXT,
        parent_id    TEXT,
        stack        TEXT NOT NULL DEFAULT '[]',
        created_at   REAL NOT NULL,
        started_at   REAL,
        finished_at  REAL,
        owner        TEXT,
        lease_until  REAL,
        wake_at      REAL
    );
    CREATE INDEX executions_by_status ON executions (status, workflow_key, seq);
    CREATE INDEX executions_by_key ON executions (workflow_key, seq);
    CREATE INDEX executions_by_finish ON executions (finished_at);
    CREATE TABLE jobs (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT NOT NULL UNIQUE,
        execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        node_key     TEXT NOT NULL,
        status       INTEGER NOT NULL,
        result       TEXT,
        log          TEXT,
        meta         TEXT,
        started_at   REAL,
        finished_at  REAL
    );
    CREATE INDEX jobs_by_execution ON jobs (execution_id, seq);
    """,
    """
    CREATE TABLE idempotency (
        workflow_key TEXT NOT NULL,
        key          TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        answer       TEXT,
        expires_at   REAL NOT NULL,
        PRIMARY KEY (workflow_key, key)
    );
    CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
