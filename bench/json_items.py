"""Memory a 1 MiB JSON body takes once parsed, and what ``max_json_items`` refuses.

Run: ``python -m bench.json_items``. For each body it prints the values it holds, the peak
memory ``json.loads`` allocates for it (tracemalloc) and the status the engine answers with
the default ``max_json_items``.
"""

from __future__ import annotations

import json
import random
import time
import tracemalloc

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
}


def main() -> None:
    """Print one line per body."""
    limit = int(SETTINGS["max_json_items"])
    print(f"{'body':22} {'bytes':>8} {'values':>8} {'peak MiB':>9} {'x size':>7} "
          f"{'count ms':>9} {'> ' + str(limit):>9}")
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
              f"{took:9.2f} {'413' if refused else 'passes':>9}")


if __name__ == "__main__":
    main()
