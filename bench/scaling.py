"""Scaling curves of the ASGI door, in process: microseconds per request against the nodes in
the chain, the JSON body size, the configured body fields and the registered workflows; and
resident memory after many requests (in a subprocess, :mod:`bench.rss`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import contenders_asgi, job
from .report import X, micros, ratio, table, target
from .timing import Runner, asgi_runner, clock, measure

ROOT = Path(__file__).resolve().parent.parent
SEED: dict[str, Any] = json.loads((ROOT / job.EXAMPLE).read_text())
OK_RESPONSE = SEED["nodes"][0]["branches"]["1"][0]
NODE_GOAL, BODY_GOAL, FLAT_GOAL, RSS_GOAL = 0.2, 1.2, 1.1, 1.1


def door(*definitions: dict[str, Any]) -> Any:
    """An ASGI door on ``Engine()`` with these definitions registered."""
    from webhook_workflow import Engine
    from webhook_workflow.asgi import WebhookMiddleware

    engine = Engine()
    for definition in definitions:
        engine.add_workflow(definition)
    return WebhookMiddleware(engine=engine)


def chain(nodes: int) -> dict[str, Any]:
    """The seed's trigger with ``nodes`` output nodes, then its 200 response node."""
    outputs = [{"key": f"o{i}", "type": "output",
                "config": {"value": "{{$context.body.order.id}}"}} for i in range(nodes)]
    return {**copy.deepcopy(SEED), "nodes": [*outputs, copy.deepcopy(OK_RESPONSE)]}


def with_fields(count: int) -> dict[str, Any]:
    """The seed keeping ``order`` and ``count - 1`` more body fields."""
    definition = copy.deepcopy(SEED)
    definition["config"]["request"]["body"] = [{"key": "order"}] + [
        {"key": f"extra.f{i}"} for i in range(count - 1)]
    return definition


def _answers(loop: asyncio.AbstractEventLoop, app: Any, request: job.Request) -> Any:
    from .timing import asgi_answer

    problem = job.check("paid", asgi_answer(loop, app, request))
    if problem:
        raise RuntimeError(f"the door answers differently: {problem}")
    return app


def _loads_runner(body: bytes) -> Runner:
    def many(n: int) -> float:
        loads = json.loads
        started = clock()
        for _ in range(n):
            loads(body)
        return clock() - started
    return many


def run(*, quick: bool = False) -> str:
    repeats, seconds = (3, 0.05) if quick else (9, 0.08)
    loop = asyncio.new_event_loop()
    parts: list[str] = []
    curves: list[tuple[str, Callable[[], str]]] = [
        ("Nodes in the chain", lambda: _nodes(loop, repeats, seconds)),
        ("JSON body size", lambda: _body(loop, repeats, seconds)),
        ("Configured body fields", lambda: _fields(loop, repeats, seconds)),
        ("Registered workflows", lambda: _workflows(loop, repeats, seconds)),
        ("Resident memory", lambda: _rss(quick))]
    try:
        for title, curve in curves:
            try:
                parts.append(curve())
            except Exception as exc:  # one broken curve is reported, the others still run
                parts.append(f"### {title}\n\nnot measured: {type(exc).__name__}: {exc}")
    finally:
        loop.close()
    return "\n\n".join(parts)


def _nodes(loop: asyncio.AbstractEventLoop, repeats: int, seconds: float) -> str:
    counts = (1, 10, 100)
    runners = {str(n): asgi_runner(loop, _answers(loop, door(chain(n)), job.PAID), job.PAID)
               for n in counts}
    runners["bare"] = asgi_runner(loop, contenders_asgi.bare(), job.PAID)
    times = measure(runners, repeats=repeats, seconds=seconds)
    per_node = (times["100"] - times["1"]) / 99
    share = per_node / times["bare"]
    rows = [[str(n), micros(times[str(n)]), "", ""] for n in counts]
    rows.append(["per added node", f"{per_node:.2f}", ratio(share),
                 target(f"≤ {NODE_GOAL}{X} bare request", share <= NODE_GOAL)])
    return "\n".join([
        "### Nodes in the chain", "",
        table(["output nodes", "µs/request", f"{X} bare ASGI request", "targets"], rows, (1, 2)),
        "", f"Seed trigger, N `output` nodes then the seed's 200 `response` node, sync. The "
        f"bare ASGI callable took {micros(times['bare'])} µs for the whole seed request."])


def _body(loop: asyncio.AbstractEventLoop, repeats: int, seconds: float) -> str:
    sizes = (1, 64, 512)
    app = _answers(loop, contenders_asgi.door(), job.PAID)
    runners: dict[str, Runner] = {}
    actual: dict[int, int] = {}
    for kib in sizes:
        request = job.Request(body=job.padded(kib * 1024))
        actual[kib] = len(request.body)
        runners[f"door {kib}"] = asgi_runner(loop, _answers(loop, app, request), request)
        runners[f"bare {kib}"] = asgi_runner(loop, contenders_asgi.bare(), request)
        runners[f"loads {kib}"] = _loads_runner(request.body)
    times = measure(runners, repeats=repeats, seconds=seconds)
    span = (actual[sizes[-1]] - actual[sizes[0]]) / 1024

    def slope(who: str) -> float:
        return (times[f"{who} {sizes[-1]}"] - times[f"{who} {sizes[0]}"]) / span

    rows = [[f"{kib} KiB", micros(times[f"door {kib}"]), micros(times[f"bare {kib}"]),
             micros(times[f"loads {kib}"]), ""] for kib in sizes]
    door_ratio = slope("door") / slope("loads")
    rows.append(["slope µs/KiB", f"{slope('door'):.2f}", f"{slope('bare'):.2f}",
                 f"{slope('loads'):.2f}", ""])
    rows.append([f"slope {X} json.loads", ratio(door_ratio), ratio(slope("bare") / slope("loads")),
                 "1.00", target(f"door ≤ {BODY_GOAL}{X}", door_ratio <= BODY_GOAL)])
    return "\n".join([
        "### JSON body size", "",
        table(["body", "door µs", "bare ASGI µs", "json.loads µs", "targets"], rows, (1, 2, 3)),
        "", "Paid seed body padded with `items` line items (`{\"sku\", \"qty\", \"price\"}`); "
        "`json.loads` parses the same bytes alone. Slopes are between 1 and 512 KiB."])


def _fields(loop: asyncio.AbstractEventLoop, repeats: int, seconds: float) -> str:
    counts = (1, 10, 100)
    body = json.loads(job.PAID.body)
    body["extra"] = {f"f{i}": i for i in range(max(counts))}
    request = job.Request(body=json.dumps(body).encode())
    runners = {str(n): asgi_runner(loop, _answers(loop, door(with_fields(n)), request), request)
               for n in counts}
    times = measure(runners, repeats=repeats, seconds=seconds)
    per_field = (times["100"] - times["1"]) / 99
    rows = [[str(n), micros(times[str(n)]), ratio(times[str(n)] / times["1"])] for n in counts]
    rows.append(["per added field", f"{per_field:.2f}", ""])
    return "\n".join([
        "### Configured body fields", "",
        table(["body fields", "µs/request", f"{X} 1 field"], rows, (1, 2)), "",
        "Seed workflow keeping `order` plus N-1 paths `extra.fI` of the same body (no target)."])


def _workflows(loop: asyncio.AbstractEventLoop, repeats: int, seconds: float) -> str:
    counts = (1, 1000, 10_000)
    runners: dict[str, Runner] = {}
    took: dict[int, float] = {}
    for n in counts:
        others = [{**copy.deepcopy(SEED), "key": f"other-{i}"} for i in range(n - 1)]
        started = time.perf_counter()
        app = door(SEED, *others)
        took[n] = time.perf_counter() - started
        runners[str(n)] = asgi_runner(loop, _answers(loop, app, job.PAID), job.PAID)
    times = measure(runners, repeats=repeats, seconds=seconds)
    rows = []
    for n in counts:
        grow = times[str(n)] / times["1"]
        rows.append([f"{n:,}", micros(times[str(n)]), ratio(grow), f"{took[n]:.2f}",
                     "" if n == 1 else target(f"flat (≤ {FLAT_GOAL}{X} 1)", grow <= FLAT_GOAL)])
    return "\n".join([
        "### Registered workflows", "",
        table(["workflows", "µs/request", f"{X} 1 workflow", "register s", "targets"], rows,
              (1, 2, 3)), "",
        "The seed request while N-1 copies of the seed under other keys are registered too."])


def _rss(quick: bool) -> str:
    points = [1000, 10_000, 30_000] if quick else [1000, 10_000, 20_000, 100_000, 200_000]
    done = subprocess.run([sys.executable, "-m", "bench.rss", *map(str, points)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
    kib = json.loads(done.stdout.strip().splitlines()[-1])
    first, last = kib[str(points[0])], kib[str(points[-1])]
    full = kib[str(points[1])]  # 10,000: the memory store keeps at most max_executions
    each = (full - first) * 1024 / (points[1] - points[0])
    rows = []
    for point in points:
        goal = ""
        if point == points[-1]:
            goal = " · ".join([
                target(f"≤ {RSS_GOAL}{X} after {points[0]:,}", last / first <= RSS_GOAL),
                target(f"≤ {RSS_GOAL}{X} after {points[1]:,}", last / full <= RSS_GOAL)])
        rows.append([f"{point:,}", f"{kib[str(point)] / 1024:.1f}",
                     ratio(kib[str(point)] / first), ratio(kib[str(point)] / full), goal])
    return "\n".join([
        "### Resident memory", "",
        table(["requests", "VmRSS MiB", f"{X} after {points[0]:,}", f"{X} after {points[1]:,}",
               "targets"], rows, (1, 2, 3)), "",
        f"ASGI door, `Engine()` (memory store, default `max_executions` 10,000), paid seed "
        f"requests in a fresh process; VmRSS after `gc.collect()` at each checkpoint; peak "
        f"(VmHWM) {kib['peak'] / 1024:.1f} MiB. Growth {(full - first) / 1024:+.1f} MiB while "
        f"the store fills to 10,000 executions (about {each:,.0f} bytes per execution "
        f"kept), {(last - full) / 1024:+.1f} MiB after. The requests triggered "
        f"{kib['full_gc']:.0f} full (generation-2) garbage collection(s), the longest "
        f"{kib['full_gc_ms']:.1f} ms: a pause every request in flight waits for."])


if __name__ == "__main__":
    began = time.monotonic()
    print(run(quick="--quick" in sys.argv))
    print(f"({time.monotonic() - began:.1f} s)")
