"""Async acknowledgements per second over loopback: SQLite store vs memory store.

Durability (every acknowledged execution committed to an SQLite file in WAL mode before the
answer) should cost less than half of the throughput: the ratio SQLite / memory should stay
above 0.5. Both stores are measured in the same run, one after the other, with the same load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .loopback import Load, free_port, load, server, uvicorn_command

GOAL = 0.5  # SQLite acknowledgements per second over memory's
BODY = b'{"order": {"id": "A1", "status": "paid", "amount": 42.5}}'


def measure(seconds: float = 5.0, connections: int = 16) -> dict[str, Load]:
    """Run the async hook on each store; return the load results by store name."""
    results: dict[str, Load] = {}
    with tempfile.TemporaryDirectory() as folder:
        stores = {"memory": "memory", "sqlite": f"sqlite:///{Path(folder) / 'bench.db'}"}
        for name, url in stores.items():
            port = free_port()
            with server(uvicorn_command("bench.apps:async_app", port), port,
                        {"BENCH_STORE": url}):
                target = f"http://127.0.0.1:{port}/api/webhook:trigger/hook"
                load(target, BODY, {}, seconds=1, connections=connections)  # warm up
                results[name] = load(target, BODY, {}, seconds=seconds,
                                     connections=connections)
    return results


def report(results: dict[str, Load]) -> str:
    """A Markdown table of the results with the ratio to the memory store."""
    base = results["memory"].rps
    lines = ["| store | acks/s | ratio to memory | p50 ms | p99 ms | errors | targets |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, result in results.items():
        share = result.rps / base
        goal = f"≥ {GOAL} of memory: {'pass' if share >= GOAL else '**fail**'}" \
            if name != "memory" else ""
        lines.append(f"| {name} | {result.rps:,.0f} | {share:.3f} | "
                     f"{result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.errors} | {goal} |")
    tool = next(iter(results.values())).tool
    lines.append("")
    lines.append(f"uvicorn (1 worker), async workflow with one output node, load by {tool} "
                 "on 127.0.0.1, 16 connections.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
