"""Store URLs for tests that run over every store: memory, an SQLite file, and PostgreSQL
(the server named by ``WEBHOOK_WORKFLOW_TEST_POSTGRES``; skipped without it, as in
tests/test_store.py), each PostgreSQL test under a table prefix of its own."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

POSTGRES = os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES", "")


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh store of ``kind``; PostgreSQL tables are migrated now and dropped after the
    test."""
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if not POSTGRES:
        pytest.skip("set WEBHOOK_WORKFLOW_TEST_POSTGRES=postgresql://user@host/db to run this "
                    "on PostgreSQL")
    pytest.importorskip("psycopg_pool", reason="pip install 'webhook-workflow[postgres]'")
    from webhook_workflow.store.postgres import drop_tables, migrate

    url = f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}prefix=t{uuid.uuid4().hex[:12]}_"
    migrate(url)
    request.addfinalizer(lambda: drop_tables(url))
    return url
