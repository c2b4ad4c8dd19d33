"""Resident memory of the ASGI door after N seed requests, measured in a fresh process.

``python -m bench.rss 1000 200000`` prints one JSON object: checkpoint -> VmRSS in KiB (after
a ``gc.collect()``), plus ``"peak"`` (``VmHWM``) and the count and longest pause of the
full (generation-2) collections the requests triggered. The parent runs it in a subprocess so
its own allocations do not count.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from pathlib import Path

from . import contenders_asgi, job
from .timing import asgi_runner


def vm_kib(field: str = "VmRSS") -> int:
    """``VmRSS`` (current) or ``VmHWM`` (peak) from ``/proc/self/status``; ``ru_maxrss``
    where there is no ``/proc`` (it may count the parent's peak before ``exec``)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class FullCollections:
    """Counts the generation-2 (full) garbage collections and their longest pause."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


def main(checkpoints: list[int]) -> dict[str, float]:
    loop = asyncio.new_event_loop()
    run = asgi_runner(loop, contenders_asgi.door(), job.PAID)
    out: dict[str, float] = {}
    done = 0
    full = FullCollections()
    gc.callbacks.append(full)
    for point in sorted(checkpoints):
        while done < point:
            step = min(10_000, point - done)
            run(step)
            done += step
        gc.callbacks.remove(full)
        gc.collect()
        gc.callbacks.append(full)
        out[str(point)] = vm_kib()
    out["peak"] = vm_kib("VmHWM")
    out["full_gc"], out["full_gc_ms"] = full.count, round(full.longest * 1000, 1)
    loop.close()
    return out


if __name__ == "__main__":
    print(json.dumps(main([int(arg) for arg in sys.argv[1:]] or [1000, 200_000])))
