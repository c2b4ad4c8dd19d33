"""Flow control held across processes: two servers on one SQLite file, three on one
PostgreSQL database, each run calling a local counter server that sees how many runs of a
key overlap and when each started."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from store_urls import store_url
from test_durability import Server, wait_until

from webhook_workflow import Status
from webhook_workflow.store.open import open_store

HOSTS = {"sqlite": 2, "postgres": 3}


class Counter(ThreadingHTTPServer):
    """Counts the requests that overlap (per key in the path) and their start times."""

    daemon_threads = True

    def __init__(self, hold: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hold = hold
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.starts: dict[str, list[float]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(BaseHTTPRequestHandler):
    server: Counter

    def log_message(self, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.path.strip("/")
        counter = self.server
        with counter.lock:
            counter.now[key] = counter.now.get(key, 0) + 1
            counter.most[key] = max(counter.most.get(key, 0), counter.now[key])
            counter.starts.setdefault(key, []).append(time.monotonic())
        time.sleep(counter.hold)
        with counter.lock:
            counter.now[key] -= 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def counter() -> Iterator[Counter]:
    server = Counter(0.25)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _hosts(kind: str, tmp_path: Path, request: pytest.FixtureRequest, servers: list[Server],
           counter: Counter, options: dict[str, Any]) -> tuple[str, list[Server]]:
    url = store_url(kind, tmp_path, request)
    definition = tmp_path / "flow.json"
    definition.write_text(json.dumps({"key": "flow", "options": options, "nodes": [
        {"key": "call", "type": "request", "config": {
            "url": f"{counter.url}/{{{{$context.body.customer}}}}", "timeout": 5000}}]}))
    hosts = [Server(tmp_path, definition, url, tmp_path / "record.txt", lease=2, wait=False)
             for _ in range(HOSTS[kind])]
    servers.extend(hosts)
    for host in hosts:
        host.wait()
    return url, hosts


def _send(hosts: list[Server], bodies: list[dict[str, Any]]) -> None:
    cycle = itertools.cycle(hosts)
    with httpx.Client(timeout=10) as client:
        for body in bodies:
            answer = client.post(f"{next(cycle).url}/api/webhook:trigger/flow", json=body)
            assert answer.status_code == 200


def _ended(url: str, count: int) -> list[Any]:
    store = open_store(url)
    try:
        def done() -> bool:
            found = store.list("flow", limit=count + 10)
            return len(found) == count and all(e.finished for e in found)

        wait_until(done, timeout=60)
        return store.list("flow", limit=count + 10)
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrency_across_hosts(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                                  servers: list[Server], counter: Counter) -> None:
    url, hosts = _hosts(kind, tmp_path, request, servers, counter, {
        "concurrency": {"limit": 2, "key": "{{$context.body.customer}}"}})
    _send(hosts, [{"customer": "a"}] * 10 + [{"customer": "b"}] * 4)
    executions = _ended(url, 14)
    assert {e.status for e in executions} == {Status.RESOLVED}
    assert counter.most["a"] == 2 and counter.most["b"] <= 2


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_throttle_across_hosts(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                               servers: list[Server], counter: Counter) -> None:
    counter.hold = 0.01
    url, hosts = _hosts(kind, tmp_path, request, servers, counter, {
        "throttle": {"limit": 2, "period": 800, "key": "{{$context.body.customer}}"}})
    _send(hosts, [{"customer": "a"}] * 6)
    executions = _ended(url, 6)
    assert {e.status for e in executions} == {Status.RESOLVED}
    starts = sorted(counter.starts["a"])
    for i, start in enumerate(starts):
        # The claim times bound the starts; the call starts a few ms after its claim.
        assert sum(start <= t < start + 0.7 for t in starts[i:]) <= 2, starts


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_debounce_across_hosts(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                               servers: list[Server], counter: Counter) -> None:
    counter.hold = 0.01
    url, hosts = _hosts(kind, tmp_path, request, servers, counter, {
        "debounce": {"period": 1500, "key": "{{$context.body.customer}}"}})
    _send(hosts, [{"customer": "a", "n": n} for n in range(5)])
    executions = _ended(url, 5)
    ran = [e for e in executions if e.status == Status.RESOLVED]
    assert [e.context["body"]["n"] for e in ran] == [4]
    assert sum(e.status == Status.CANCELED for e in executions) == 4
    assert len(counter.starts["a"]) == 1
