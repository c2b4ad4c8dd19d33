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
)

SCHEMA_VERSION = len(MIGRATIONS)

#: Every table the migrations create, dependents first (the order to drop them in).
TABLES: tuple[str, ...] = ("jobs", "executions", "idempotency", "workflow_versions",
                           "schema_version")
