"""Memory a 1 MiB JSON body takes once parsed, and what ``max_json_items`` refuses.

Run: ``python -m bench.json_items``. For each body it prints the values it holds, the peak
memory ``json.loads`` allocates for it (tracemalloc), the status the engine answers with
the default ``max_json_items``, and the peak resident memory one delivery of it adds to a
fresh process that sends it through the ASGI door (``VmHWM`` after minus before, MiB): the
cost of a refused body is its bytes, of an accepted one its parsed objects and execution.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from webhook_workflow.http.request import _text_items_exceed
from webhook_workflow.settings import SETTINGS

MIB = 1024 * 1024


def _records() -> bytes:
    rng = random.Random(1)
    rows, size = [], 2
    while size < MIB - 200:
        row = {"id": rng.randrange(10**6), "name": f"user{rng.randrange(10**4)}",
               "email": f"u{rng.randrange(10**6)}@example.com", "active": True,
               "score": round(rng.random() * 100, 2)}
        size += len(json.dumps(row, separators=(",", ":"))) + 1
        rows.append(row)
    return json.dumps(rows, separators=(",", ":")).encode()


BODIES = {
    "[{},{},...]": b"[" + b",".join([b"{}"] * (MIB // 3 - 1)) + b"]",
    "[0,0,...]": b"[" + b",".join([b"0"] * (MIB // 2 - 1)) + b"]",
    '{"a":[[[]]],...}': b"{" + b",".join(b'"%d":[[[]]]' % i for i in range(MIB // 16)) + b"}",
    "records (5 fields)": _records(),
    # The costliest body the default limit lets through: 100,000 values, all containers.
    "[{},...] at the limit": b"[" + b",".join([b"{}"] * 99_999) + b"]",
}


def door_peak(name: str) -> tuple[int, float]:
    """In this process: the status and the ``VmHWM`` growth (MiB) of one async delivery of
    body ``name`` through the ASGI door of a default ``Engine()``, drained."""
    from webhook_workflow import Engine
    from webhook_workflow.asgi import WebhookMiddleware

    from .rss import vm_kib

    body = BODIES[name]
    engine = Engine()
    engine.add_workflow({"key": "hook", "nodes": [
        {"key": "o", "type": "output", "config": {"value": 1}}]})
    app = WebhookMiddleware(engine=engine)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/webhook:trigger/hook",
             "raw_path": b"/api/webhook:trigger/hook", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            status.append(event["status"])

    # Start the peak from here: building BODIES at import made a higher one already.
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = vm_kib("VmHWM")
    asyncio.run(app(scope, receive, send))
    engine.drain(timeout=30)
    grown = (vm_kib("VmHWM") - before) / 1024
    engine.close()
    return status[0], grown


def _door_peak_child(name: str) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-m", "bench.json_items", name], check=True,
                         capture_output=True, text=True)
    status, grown = json.loads(out.stdout)
    return int(status), float(grown)


def main() -> None:
    """Print one line per body."""
    limit = int(SETTINGS["max_json_items"])
    print(f"{'body':22} {'bytes':>8} {'values':>8} {'peak MiB':>9} {'x size':>7} "
          f"{'count ms':>9} {'> ' + str(limit):>9} {'door':>5} {'RSS MiB':>8}")
    for name, body in BODIES.items():
        tracemalloc.start()
        value = json.loads(body)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del value
        started = time.perf_counter()
        refused = _text_items_exceed(body, limit, b"\\" in body)
        took = (time.perf_counter() - started) * 1000
        values = 1 + body.count(b",") + body.count(b"[") + body.count(b"{") - \
            body.count(b"[]") - body.count(b"{}")
        print(f"{name:22} {len(body):8} {values:8} {peak / MIB:9.1f} {peak / len(body):7.1f} "
              f"{took:9.2f} {'413' if refused else 'passes':>9} ", end="")
        status, grown = _door_peak_child(name)
        print(f"{status:5} {grown:8.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 2:
        print(json.dumps(door_peak(sys.argv[1])))
    else:
        main()
