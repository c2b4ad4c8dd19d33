"""The stores side by side: async acknowledgements and end-to-end executions per second.

``python -m bench.stores [--seconds 5] [--postgres URL] [--processes 1]`` serves one async
workflow (an output node and a counter) under uvicorn (one worker process, or
``--processes`` of them on one store, each with the engine's 4 worker threads) on each
store in turn: memory, SQLite (a file in a temporary folder, WAL, ``synchronous=NORMAL``)
and PostgreSQL (the URL given, else ``WEBHOOK_WORKFLOW_TEST_POSTGRES``; under a table
prefix of its own, dropped after), once as configured and once with
``?synchronous_commit=off``. For each store wrk loads the webhook for ``--seconds``:

* **acks/s**: acknowledged webhooks per second (each committed before its answer on the
  durable stores);
* **executions/s**: executions run to their end per second, from the start of the load
  until the queue is empty again (the workers run while the load goes on and drain what
  is left after it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from webhook_workflow import Engine
from webhook_workflow.asgi import WebhookMiddleware

from .loopback import Load, free_port, load, server, server_flavour, uvicorn_command

BODY = b'{"order": {"id": "A1", "status": "paid", "amount": 42.5}}'
HOOK = {"key": "hook", "nodes": [
    {"key": "o", "type": "output", "config": {"value": "{{$context.body.order.id}}"}},
    {"key": "n", "type": "tally"}]}

#: The published figure of the closest peer, printed beside ours.
N8N = ("For comparison, n8n publishes up to 220 workflow executions/s on a single instance "
       "(ECS c5a.large: 2 vCPUs, 4 GB; "
       "https://docs.n8n.io/hosting/scaling/performance-benchmarking/).")

_done = itertools.count()
_finished = [0]


def _tally(config: dict[str, Any], ctx: Any) -> int:
    _finished[0] = next(_done) + 1
    return _finished[0]


def app() -> Callable[..., Any]:
    """The benchmark app on the store ``BENCH_STORE`` names; ``GET /bench/status`` answers
    how many executions ended, whether any is queued or running, how many are queued and
    the age of the oldest queued one (seconds)."""
    engine = Engine(os.environ.get("BENCH_STORE", "memory"), max_queue=1_000_000,
                    max_executions=1000)
    engine.register_node("tally", _tally)
    engine.add_workflow(HOOK)

    async def status(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = json.dumps(await asyncio.to_thread(_state, engine)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return WebhookMiddleware(status, engine=engine)


def _state(engine: Engine) -> dict[str, Any]:
    """What ``/bench/status`` answers. With several processes on one store (``BENCH_SHARED``)
    the counts are the store's, whichever process answers; else this process's."""
    store = engine.store
    oldest = getattr(store, "oldest_queued_at", None)
    since = oldest() if oldest is not None else None
    depth = store.queued_count()
    state = {"done": _finished[0], "busy": engine.dispatcher.busy(), "queued": depth,
             "oldest_age": 0.0 if since is None else max(0.0, time.time() - since)}
    if os.environ.get("BENCH_SHARED"):
        counts = store.status_counts(0.0)  # type: ignore[attr-defined]
        totals: dict[str, int] = {}
        for by_status in counts.values():
            for name, count in by_status.items():
                totals[name] = totals.get(name, 0) + count
        state["done"] = totals.get("RESOLVED", 0)
        state["busy"] = depth > 0 or totals.get("STARTED", 0) > 0
    return state


@dataclass
class Result:
    """One store's figures."""

    acks: Load
    executions_per_second: float
    drain_seconds: float


def _status(port: int) -> dict[str, Any]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/bench/status")
        answer: dict[str, Any] = json.loads(conn.getresponse().read())
        return answer
    finally:
        conn.close()


def _idle(port: int, timeout: float = 300.0) -> dict[str, Any]:
    """Wait until nothing is queued or running; the last status."""
    deadline = time.monotonic() + timeout
    while True:
        state = _status(port)
        if not state["busy"] or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def measure_store(url: str, seconds: float, connections: int, processes: int = 1) -> Result:
    port = free_port()
    env = {"BENCH_STORE": url, **({"BENCH_SHARED": "1"} if processes > 1 else {})}
    with server(uvicorn_command("bench.stores:app", port, processes), port, env):
        target = f"http://127.0.0.1:{port}/api/webhook:trigger/hook"
        load(target, BODY, {}, seconds=1, connections=connections)  # warm up
        before = _idle(port)
        started = time.monotonic()
        acks = load(target, BODY, {}, seconds=seconds, connections=connections)
        loaded = time.monotonic()
        after = _idle(port)
        ended = time.monotonic()
    ran = after["done"] - before["done"]
    return Result(acks, ran / (ended - started), ended - loaded)


@contextmanager
def stores(postgres: str | None) -> Iterator[dict[str, str]]:
    """The store URLs to measure; temporary files and tables are removed after."""
    with tempfile.TemporaryDirectory() as folder:
        urls = {"memory": "memory", "sqlite": f"sqlite:///{Path(folder) / 'bench.db'}"}
        tables: list[str] = []
        if postgres:
            sep = "&" if "?" in postgres else "?"
            for name, extra in (("postgresql", ""),
                                ("postgresql, synchronous_commit=off",
                                 "&synchronous_commit=off")):
                tables.append(f"{postgres}{sep}prefix=bench{uuid.uuid4().hex[:8]}_{extra}")
                urls[name] = tables[-1]
        try:
            yield urls
        finally:
            if tables:
                from webhook_workflow.store.postgres import drop_tables

                for url in tables:
                    drop_tables(url)


def measure(seconds: float = 5.0, connections: int = 16,
            postgres: str | None = None, processes: int = 1) -> dict[str, Result]:
    results: dict[str, Result] = {}
    with stores(postgres) as urls:
        for name, url in urls.items():
            if processes > 1 and name == "memory":
                continue  # a memory store is one process's own
            results[name] = measure_store(url, seconds, connections, processes)
    return results


def report(results: dict[str, Result], seconds: float, connections: int,
           processes: int = 1) -> str:
    lines = ["| store | acks/s | p50 ms | p99 ms | errors | executions/s | drain after "
             "load s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r.acks.rps:,.0f} | {r.acks.p50_ms:.2f} | "
                     f"{r.acks.p99_ms:.2f} | {r.acks.errors} | {r.executions_per_second:,.0f} "
                     f"| {r.drain_seconds:.1f} |")
    tool = next(iter(results.values())).acks.tool
    served = "1 worker" if processes == 1 else f"{processes} worker processes on one store"
    lines += ["", f"uvicorn ({served}, 4 engine workers each), async workflow (output node "
              f"+ counter), {seconds:g} s of load by {tool} with {connections} connections on "
              f"127.0.0.1; {os.cpu_count()} CPUs shared by the server, the load and the "
              f"database. {server_flavour()}.", "", N8N]
    if "postgresql" not in results:
        lines.append("PostgreSQL not measured: pass --postgres URL or set "
                     "WEBHOOK_WORKFLOW_TEST_POSTGRES.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stores")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES"),
                        help="postgresql://user@host/database (default: "
                        "$WEBHOOK_WORKFLOW_TEST_POSTGRES)")
    parser.add_argument("--processes", type=int, default=1,
                        help="uvicorn worker processes sharing the store (default 1; "
                        "above 1 the memory store is left out)")
    args = parser.parse_args()
    results = measure(args.seconds, args.connections, args.postgres, args.processes)
    print(report(results, args.seconds, args.connections, args.processes))


if __name__ == "__main__":
    main()
