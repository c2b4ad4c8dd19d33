"""The memory store's cost to the process: GC pauses and latency with 10,000 kept executions,
and resident memory under a flood of 1 MiB deliveries.

Run: ``python -m bench.memory_store`` (about two minutes). Two stores are compared in one run:

- ``objects``: finished executions kept as the Python objects the run made, as the memory
  store kept them before it packed them (a subclass here, for the comparison only);
- ``packed``: the memory store as shipped (:mod:`webhook_workflow.store.compact`).

Collections (a fresh process per store): the tracked objects each kept execution adds and the
pause of a full collection (median of 5 ``gc.collect()``) before and after the ASGI door has
filled the store with 10,000 paid seed requests. Loopback: the bare same-job callable and the
door on each store under uvicorn, each warmed with load until its store is full, then loaded
by wrk round-robin; a full collection pauses every request in flight, which is what p99 shows.
Flood (a fresh process per store): async deliveries of a 1 MiB JSON body through the ASGI door
with the default settings, drained; VmRSS growth after ``gc.collect()`` and the bytes the
store reports it keeps.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import Any

from . import job, variants
from .loopback import Load, free_port, load, server, uvicorn_command
from .rss import vm_kib

FILL = 10_000
CONNECTIONS = 16
FLOOD = 400
MIB = 1024 * 1024


def _store(kind: str) -> Any:
    from webhook_workflow.records import Execution
    from webhook_workflow.store.memory import MemoryStore

    if kind == "packed":
        return MemoryStore()

    class ObjectStore(MemoryStore):
        """Keeps finished executions as the objects the run made (the store before)."""

        def save(self, execution: Execution) -> None:
            if not execution.finished:
                super().save(execution)
                return
            with self._lock:
                self._waiting.pop(execution.id, None)
                self._keep_finished(execution.id, execution)  # type: ignore[arg-type]

    return ObjectStore()


def _engine(kind: str) -> Any:
    from webhook_workflow import Engine

    engine = Engine(store=_store(kind))
    engine.add_workflow(job.EXAMPLE)
    return engine


def _megabyte() -> bytes:
    """About 1 MiB of JSON records (5 values each, under the default max_json_items)."""
    rows: list[dict[str, Any]] = []
    size = 30
    while size < MIB - 100:
        row = {"id": len(rows), "name": f"user{len(rows)}", "email": f"u{len(rows)}@ex.com",
               "score": len(rows) / 7}
        size += len(json.dumps(row)) + 2
        rows.append(row)
    return json.dumps({"id": "flood", "rows": rows}).encode()


def objects_app() -> Any:
    """uvicorn factory: the ASGI door on the ``objects`` store."""
    from webhook_workflow.asgi import WebhookMiddleware

    return WebhookMiddleware(engine=_engine("objects"))


def packed_app() -> Any:
    """uvicorn factory: the ASGI door on the ``packed`` (shipped) store."""
    from webhook_workflow.asgi import WebhookMiddleware

    return WebhookMiddleware(engine=_engine("packed"))


def collections(kind: str) -> dict[str, float]:
    """Tracked objects each kept execution adds, and the full collection's pause (ms, median
    of 5) before and after the store holds ``FILL`` executions (in process)."""
    from webhook_workflow.asgi import WebhookMiddleware

    app = WebhookMiddleware(engine=_engine(kind))
    scope, message = job.PAID.scope(), job.PAID.message()

    async def receive() -> dict[str, Any]:
        return message

    async def send(_: Any) -> None:
        return None

    async def requests(n: int) -> None:
        for _ in range(n):
            await app(scope.copy(), receive, send)

    def pause() -> float:
        taken = []
        for _ in range(5):
            started = time.perf_counter()
            gc.collect()
            taken.append(time.perf_counter() - started)
        return round(statistics.median(taken) * 1000, 1)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(requests(50))
    empty, tracked = pause(), len(gc.get_objects())
    loop.run_until_complete(requests(FILL))
    full, grown = pause(), len(gc.get_objects()) - tracked
    return {"tracked_per_exec": round(max(grown, 0) / FILL, 2), "gc_ms_empty": empty,
            "gc_ms_full": full}


def loopback(seconds: float, rounds: int) -> dict[str, list[Load]]:
    """The bare callable and both doors under uvicorn, each warmed until its store is full,
    then loaded round-robin; every round of each."""
    apps = {"bare ASGI callable": "bench.contenders_asgi:bare",
            "door, objects store": "bench.memory_store:objects_app",
            "door, packed store": "bench.memory_store:packed_app"}
    url_path = f"{job.ROUTE}?{job.QUERY}"
    heads = {k: v for k, v in job.PAID.headers() if k in ("authorization", "x-request-id")}
    got: dict[str, list[Load]] = {name: [] for name in apps}
    with ExitStack() as stack:
        ports = {}
        for name, factory in apps.items():
            port = free_port()
            stack.enter_context(server(uvicorn_command(factory, port), port,
                                       variants.environ(variants.BASELINE)))
            ports[name] = port
        for port in ports.values():
            done = 0
            while done < FILL + 1000:  # fill the store: the GC walks what it keeps
                warm = load(f"http://127.0.0.1:{port}{url_path}", job.PAID.body, heads,
                            seconds=2, connections=CONNECTIONS, threads=1)
                done += int(warm.rps * 2)
        for _ in range(rounds):
            for name, port in ports.items():
                got[name].append(load(f"http://127.0.0.1:{port}{url_path}", job.PAID.body,
                                      heads, seconds=seconds, connections=CONNECTIONS,
                                      threads=1))
    return got


def flood(kind: str) -> dict[str, float]:
    """RSS growth (MiB) after ``FLOOD`` async deliveries of a 1 MiB body, drained."""
    from webhook_workflow.asgi import WebhookMiddleware

    engine = _engine(kind)
    engine.add_workflow({"key": "big", "nodes": [
        {"key": "size", "type": "output", "config": {"value": "{{$context.body.id}}"}}]})
    app = WebhookMiddleware(engine=engine)
    body = _megabyte()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/webhook:trigger/big",
             "raw_path": b"/api/webhook:trigger/big", "root_path": "", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            statuses[event["status"]] = statuses.get(event["status"], 0) + 1

    async def deliver() -> None:
        for _ in range(FLOOD):
            await app(dict(scope), receive, send)

    gc.collect()
    before = vm_kib()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(deliver())
    engine.drain(timeout=120)
    gc.collect()
    grown = (vm_kib() - before) / 1024
    kept = getattr(engine.store, "kept_bytes", 0) / MIB
    engine.close()
    return {"body_mib": round(len(body) / MIB, 2), "accepted": statuses.get(200, 0),
            "refused_503": statuses.get(503, 0), "rss_growth_mib": round(grown, 1),
            "kept_mib": round(kept, 1), "peak_mib": round(vm_kib("VmHWM") / 1024, 1),
            "kept_executions": len(engine.executions("big", limit=FLOOD))}


def _child(section: str, kind: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.memory_store", section, kind],
                         check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(seconds: float = 3.0, rounds: int = 5) -> None:
    """Print the three tables (markdown)."""
    print(f"#### Full garbage collections with {FILL:,} kept executions (in process)")
    print("| store | tracked objects / kept execution | full GC ms, empty store | "
          f"full GC ms, {FILL:,} kept |")
    print("|---|---:|---:|---:|")
    for kind in ("objects", "packed"):
        r = _child("collections", kind)
        print(f"| {kind} | {r['tracked_per_exec']} | {r['gc_ms_empty']} | {r['gc_ms_full']} |")
    print()
    print(f"#### Over loopback with {FILL:,} kept executions (uvicorn, wrk, {CONNECTIONS} "
          f"connections; medians of {rounds} rounds of {seconds:g} s, max of all)")
    print("| contender | RPS | p50 ms | p99 ms | p99.9 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in loopback(seconds, rounds).items():
        def mid(field: str, runs: list[Load] = runs) -> float:
            return float(statistics.median(getattr(r, field) for r in runs))
        print(f"| {name} | {mid('rps'):,.0f} | {mid('p50_ms'):.2f} | {mid('p99_ms'):.2f} | "
              f"{mid('p999_ms'):.2f} | {max(r.max_ms for r in runs):.2f} |")
    print()
    print(f"#### Flood: {FLOOD} async deliveries of a 1 MiB body (default settings)")
    print("| store | body MiB | accepted | 503 | executions kept | store keeps MiB | "
          "RSS growth MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in ("objects", "packed"):
        r = _child("flood", kind)
        print(f"| {kind} | {r['body_mib']} | {r['accepted']} | {r['refused_503']} | "
              f"{r['kept_executions']} | {r['kept_mib']} | {r['rss_growth_mib']} | "
              f"{r['peak_mib']} |")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        section = {"collections": collections, "flood": flood}[sys.argv[1]]
        print(json.dumps(section(sys.argv[2])))
    else:
        main()
