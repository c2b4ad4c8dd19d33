"""A retry wait is durable: a server killed (-9) while a node waits for its next attempt
resumes, after restart, once the remaining delay has passed; nothing that had RESOLVED runs
again. On an SQLite file and on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from store_urls import store_url
from test_durability import Server, wait_until

from webhook_workflow import Status
from webhook_workflow.store.open import open_store

DELAY_MS = 2000


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_killed_server_attempts_again_after_the_remaining_delay(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest,
        servers: list[Server]) -> None:
    url = store_url(kind, tmp_path, request)
    definition = tmp_path / "pay.json"
    definition.write_text(json.dumps({"key": "pay", "nodes": [
        {"key": "before", "type": "record"},
        {"key": "charge", "type": "flaky", "config": {"fails": 1}, "retry": {
            "maxAttempts": 3, "backoff": "fixed", "delay": DELAY_MS, "jitter": False}},
        {"key": "after", "type": "record"}]}))
    record = tmp_path / "record.txt"
    first = Server(tmp_path, definition, url, record, lease=1)
    servers.append(first)
    answer = httpx.post(f"{first.url}/api/webhook:trigger/pay", json={}, timeout=10)
    assert answer.status_code == 200
    store = open_store(url)
    try:
        def waiting() -> bool:  # attempt 1 failed and the wait for attempt 2 is stored
            found = store.list("pay", limit=1)
            return bool(found) and [(j.node_key, int(j.status)) for j in found[0].jobs] == [
                ("before", 1), ("charge", -2), ("charge", 0)]

        wait_until(waiting, timeout=20)
        failed_at = time.time()
        first.kill()
        execution = store.list("pay", limit=1)[0]
        retry_at = execution.jobs[-1].meta["retryAt"]
        assert execution.jobs[-1].meta["attempt"] == 2
        second = Server(tmp_path, definition, url, record, lease=1)
        servers.append(second)
        wait_until(lambda: store.get(execution.id).status == Status.RESOLVED, timeout=30)
        done = store.get(execution.id)
    finally:
        store.close()
    assert done is not None
    attempts = [(int(j.status), j.meta.get("attempt")) for j in done.jobs
                if j.node_key == "charge"]
    assert attempts == [(-2, 1), (1, 2)]
    second_attempt = next(j for j in done.jobs if j.node_key == "charge"
                          and j.meta.get("attempt") == 2)
    assert second_attempt.started_at is not None
    # Not before the remaining delay (the stored retry time), though the server restarted.
    assert second_attempt.started_at.timestamp() >= retry_at - 0.05
    assert retry_at - failed_at <= DELAY_MS / 1000
    runs = Counter(line.split()[1] for line in record.read_text().splitlines())
    assert runs == {"before": 1, "charge": 2, "after": 1}
