"""Resume URLs across crashes and processes: a server killed (-9) while an execution waits
for its callback; the call after the restart resumes it once. Two calls of one URL at the same
moment, to two server processes, resume it once. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from store_urls import store_url
from test_durability import Server, wait_until

from webhook_workflow import Status
from webhook_workflow.store.open import open_store


def _definition(tmp_path: Path) -> Path:
    path = tmp_path / "pay.json"
    path.write_text(json.dumps({"key": "pay", "nodes": [
        {"key": "link", "type": "output", "config": {"value": "{{$execution.resumeUrl}}"}},
        {"key": "before", "type": "record"},
        {"key": "wait", "type": "callback", "config": {"timeout": 60000}},
        {"key": "after", "type": "record"}]}))
    return path


def _waiting_path(url: str) -> tuple[str, str]:
    """The execution id and resume path, once the execution waits at its callback node."""
    store = open_store(url)
    try:
        def waits() -> bool:
            found = store.list("pay", limit=1)
            return bool(found) and any(j.node_key == "wait" and j.status == Status.PENDING
                                       for j in found[0].jobs)

        wait_until(waits, timeout=20)
        execution = store.list("pay", limit=1)[0]
        return execution.id, urlsplit(str(execution.jobs[0].result)).path
    finally:
        store.close()


def _ended(url: str, ident: str) -> Status | None:
    store = open_store(url)
    try:
        wait_until(lambda: store.get(ident).finished, timeout=30)  # type: ignore[union-attr]
        found = store.get(ident)
        return None if found is None else found.status
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_callback_after_a_restart_resumes_once(kind: str, tmp_path: Path,
                                                 request: pytest.FixtureRequest,
                                                 servers: list[Server]) -> None:
    url = store_url(kind, tmp_path, request)
    definition, record = _definition(tmp_path), tmp_path / "record.txt"
    first = Server(tmp_path, definition, url, record, lease=1)
    servers.append(first)
    assert httpx.post(f"{first.url}/api/webhook:trigger/pay", json={}, timeout=10
                      ).status_code == 200
    ident, path = _waiting_path(url)
    first.kill()
    second = Server(tmp_path, definition, url, record, lease=1)
    servers.append(second)
    answer = httpx.post(f"{second.url}{path}", json={"state": "paid"}, timeout=10)
    assert answer.status_code == 200
    assert _ended(url, ident) == Status.RESOLVED
    runs = Counter(line.split()[1] for line in record.read_text().splitlines())
    assert runs == {"before": 1, "after": 1}
    assert httpx.post(f"{second.url}{path}", json={}, timeout=10).status_code in (409, 410)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_calls_at_once_resume_once(kind: str, tmp_path: Path,
                                       request: pytest.FixtureRequest,
                                       servers: list[Server]) -> None:
    url = store_url(kind, tmp_path, request)
    definition, record = _definition(tmp_path), tmp_path / "record.txt"
    hosts = [Server(tmp_path, definition, url, record, lease=2, wait=False) for _ in range(2)]
    servers.extend(hosts)
    for host in hosts:
        host.wait()
    assert httpx.post(f"{hosts[0].url}/api/webhook:trigger/pay", json={}, timeout=10
                      ).status_code == 200
    ident, path = _waiting_path(url)
    gate = threading.Barrier(4)
    statuses: list[int] = []
    lock = threading.Lock()

    def call(host: Server, n: int) -> None:
        gate.wait(10)
        answer = httpx.post(f"{host.url}{path}", json={"n": n}, timeout=10)
        with lock:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=call, args=(hosts[i % 2], i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 409, 409, 409], statuses
    assert _ended(url, ident) == Status.RESOLVED
    runs = Counter(line.split()[1] for line in record.read_text().splitlines())
    assert runs == {"before": 1, "after": 1}
