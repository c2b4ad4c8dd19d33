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
    # The instance numbers of ids (webhook_workflow.store.instances): a process holds its
    # number until expires_at (epoch seconds) and renews it while it lives.
    """
    CREATE TABLE instances (
        number     INTEGER PRIMARY KEY CHECK (number BETWEEN 0 AND 1023),
        holder     TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # Why an execution ended other than RESOLVED (records.Execution.reason).
    """
    ALTER TABLE executions ADD COLUMN reason TEXT;
    """,
    # A cancel asked of a running execution: its process stops it before the next node.
    """
    ALTER TABLE executions ADD COLUMN cancel_reason TEXT;
    """,
    # Flow control (records.FlowMark), and when a worker first took the execution (throttle).
    """
    ALTER TABLE executions ADD COLUMN concurrency_key TEXT;
    ALTER TABLE executions ADD COLUMN concurrency_limit INTEGER;
    ALTER TABLE executions ADD COLUMN throttle_key TEXT;
    ALTER TABLE executions ADD COLUMN throttle_limit INTEGER;
    ALTER TABLE executions ADD COLUMN throttle_period REAL;
    ALTER TABLE executions ADD COLUMN debounce_key TEXT;
    ALTER TABLE executions ADD COLUMN not_before REAL;
    ALTER TABLE executions ADD COLUMN claimed_at REAL;
    CREATE INDEX executions_by_concurrency ON executions
        (workflow_key, concurrency_key, status) WHERE concurrency_key IS NOT NULL;
    CREATE INDEX executions_by_throttle ON executions
        (workflow_key, throttle_key, claimed_at) WHERE throttle_key IS NOT NULL;
    CREATE INDEX executions_by_debounce ON executions
        (workflow_key, debounce_key) WHERE debounce_key IS NOT NULL AND status IS NULL;
    """,
    # Callbacks to resume URLs (nodes.callback): recorded once each, taken by the run; the
    # store's own settings (the key that signs resume URLs); where a delivery came from.
    """
    CREATE TABLE callbacks (
        execution_id TEXT NOT NULL,
        node_key     TEXT NOT NULL,
        payload      TEXT NOT NULL,
        received_at  REAL NOT NULL,
        taken        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (execution_id, node_key)
    );
    CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ALTER TABLE executions ADD COLUMN origin TEXT;
    """,
    # The trace context an execution continues (records.Execution.trace), as JSON.
    """
    ALTER TABLE executions ADD COLUMN trace TEXT;
    """,
    # Pages of the execution log (store.pages): newest first by (created_at, seq) under each
    # filter of the console's list, found by keyset; replays of an execution; executions by
    # idempotency key. The rowid (seq) is part of every index, so each one orders ties too.
    """
    CREATE INDEX executions_by_created ON executions (created_at);
    CREATE INDEX executions_by_key_created ON executions (workflow_key, created_at);
    CREATE INDEX executions_by_status_created ON executions (status, created_at);
    CREATE INDEX executions_by_key_status_created ON executions
        (workflow_key, status, created_at);
    CREATE INDEX executions_by_replay ON executions (replay_of) WHERE replay_of IS NOT NULL;
    CREATE INDEX idempotency_by_key ON idempotency (key);
    """,
    # The claim's two halves (store.sqlite_claim): what is queued, and what runs in the
    # background (sync = 0), each in seq order. They replace the index on (status,
    # workflow_key, seq), which every claim and every end of a run rewrote: lists by status
    # walk the (status, created_at) indexes instead.
    """
    CREATE INDEX executions_queued ON executions (seq) WHERE status IS NULL;
    CREATE INDEX executions_claimable ON executions (seq) WHERE status = 0 AND sync = 0;
    DROP INDEX executions_by_status;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
