"""The PostgreSQL store's schema, as numbered migrations applied in order on first use.

Every name is written ``{p}name``: ``{p}`` is the table prefix (``?prefix=ww_`` in the store
URL), so several stores can share one database (or one schema). JSON values are kept in
``json`` columns (the exact text, key order included); times are ``timestamptz``.
"""

from __future__ import annotations

__all__ = ["DUE_AT", "MIGRATIONS", "SCHEMA_VERSION", "TABLES"]

#: When a started async execution may be claimed: its timer (``wake_at``) is due and, when
#: someone owns it, that owner's lease expired. Indexed, so a claim finds due executions
#: without looking at the waiting ones; queries must spell it exactly so.
DUE_AT = ("(CASE WHEN owner IS NULL THEN coalesce(wake_at, '-infinity'::timestamptz) "
          "ELSE greatest(coalesce(lease_until, 'infinity'::timestamptz), "
          "coalesce(wake_at, '-infinity'::timestamptz)) END)")

#: Each entry moves the schema from version i to i+1; never edit a released entry, add one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE {p}workflow_versions (
        workflow_key text NOT NULL,
        version      integer NOT NULL,
        digest       text NOT NULL,
        definition   json NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT statement_timestamp(),
        PRIMARY KEY (workflow_key, version)
    );
    CREATE TABLE {p}executions (
        seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id           text NOT NULL UNIQUE,
        workflow_key text NOT NULL,
        version      integer NOT NULL,
        status       smallint,
        sync         boolean NOT NULL DEFAULT false,
        context      json NOT NULL,
        output       json,
        response     json,
        replay_of    text,
        parent_id    text,
        stack        json NOT NULL DEFAULT '[]',
        created_at   timestamptz NOT NULL,
        started_at   timestamptz,
        finished_at  timestamptz,
        owner        text,
        lease_until  timestamptz,
        wake_at      timestamptz
    );
    CREATE INDEX {p}executions_queued ON {p}executions (seq) WHERE status IS NULL;
    CREATE INDEX {p}executions_due ON {p}executions ({due_at})
        WHERE status = 0 AND NOT sync;
    CREATE INDEX {p}executions_by_key ON {p}executions (workflow_key, seq);
    CREATE INDEX {p}executions_by_status ON {p}executions (status, seq);
    CREATE INDEX {p}executions_finished_seq ON {p}executions (seq)
        WHERE finished_at IS NOT NULL;
    CREATE INDEX {p}executions_finished_at ON {p}executions (finished_at)
        WHERE finished_at IS NOT NULL;
    CREATE TABLE {p}jobs (
        seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id           text NOT NULL UNIQUE,
        execution_id text NOT NULL REFERENCES {p}executions (id) ON DELETE CASCADE,
        node_key     text NOT NULL,
        status       smallint NOT NULL,
        result       json,
        log          text,
        meta         json,
        started_at   timestamptz,
        finished_at  timestamptz
    );
    CREATE INDEX {p}jobs_by_execution ON {p}jobs (execution_id, seq);
    CREATE TABLE {p}idempotency (
        workflow_key text NOT NULL,
        key          text NOT NULL,
        execution_id text NOT NULL,
        answer       json,
        expires_at   timestamptz NOT NULL,
        PRIMARY KEY (workflow_key, key)
    );
    CREATE INDEX {p}idempotency_by_expiry ON {p}idempotency (expires_at);
    """,
    # The instance numbers of ids (webhook_workflow.store.instances): a process holds its
    # number until expires_at and renews it while it lives.
    """
    CREATE TABLE {p}instances (
        number     smallint PRIMARY KEY CHECK (number BETWEEN 0 AND 1023),
        holder     text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    """,
    # Why an execution ended other than RESOLVED (records.Execution.reason).
    """
    ALTER TABLE {p}executions ADD COLUMN reason text;
    """,
    # A cancel asked of a running execution: its process stops it before the next node.
    """
    ALTER TABLE {p}executions ADD COLUMN cancel_reason text;
    """,
    # Flow control (records.FlowMark), and when a worker first took the execution (throttle).
    """
    ALTER TABLE {p}executions ADD COLUMN concurrency_key text,
        ADD COLUMN concurrency_limit integer, ADD COLUMN throttle_key text,
        ADD COLUMN throttle_limit integer, ADD COLUMN throttle_period float8,
        ADD COLUMN debounce_key text, ADD COLUMN not_before timestamptz,
        ADD COLUMN claimed_at timestamptz;
    CREATE INDEX {p}executions_by_concurrency ON {p}executions
        (workflow_key, concurrency_key, status) WHERE concurrency_key IS NOT NULL;
    CREATE INDEX {p}executions_by_throttle ON {p}executions
        (workflow_key, throttle_key, claimed_at) WHERE throttle_key IS NOT NULL;
    CREATE INDEX {p}executions_by_debounce ON {p}executions
        (workflow_key, debounce_key) WHERE debounce_key IS NOT NULL AND status IS NULL;
    """,
    # Callbacks to resume URLs (nodes.callback): recorded once each, taken by the run; the
    # store's own settings (the key that signs resume URLs); where a delivery came from.
    """
    CREATE TABLE {p}callbacks (
        execution_id text NOT NULL,
        node_key     text NOT NULL,
        payload      json NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now(),
        taken        boolean NOT NULL DEFAULT false,
        PRIMARY KEY (execution_id, node_key)
    );
    CREATE TABLE {p}settings (
        name  text PRIMARY KEY,
        value text NOT NULL
    );
    ALTER TABLE {p}executions ADD COLUMN origin text;
    """,
    # The trace context an execution continues (records.Execution.trace).
    """
    ALTER TABLE {p}executions ADD COLUMN trace json;
    """,
    # Pages of the execution log (store.pages): newest first by (created_at, seq) under each
    # filter of the console's list, found by keyset; replays of an execution; executions by
    # idempotency key.
    """
    CREATE INDEX {p}executions_by_created ON {p}executions (created_at, seq);
    CREATE INDEX {p}executions_by_key_created ON {p}executions (workflow_key, created_at, seq);
    CREATE INDEX {p}executions_by_status_created ON {p}executions (status, created_at, seq);
    CREATE INDEX {p}executions_by_key_status_created ON {p}executions
        (workflow_key, status, created_at, seq);
    CREATE INDEX {p}executions_by_replay ON {p}executions (replay_of)
        WHERE replay_of IS NOT NULL;
    CREATE INDEX {p}idempotency_by_key ON {p}idempotency (key);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: Every table the migrations create, dependents first (the order to drop them in).
TABLES: tuple[str, ...] = ("jobs", "executions", "idempotency", "workflow_versions",
                           "instances", "callbacks", "settings", "schema_version")
