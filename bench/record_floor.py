"""What recording an execution costs alone: ``python -m bench.record_floor``.

The seed request leaves one execution with two jobs in the store (the condition's and the
Response node's). This times exactly that bookkeeping, with nothing else of the request
(no HTTP, no JSON, no templates, no node logic): an :class:`Execution` with its context, two
:class:`Job` records, the memory store's ``add`` at the start and ``save`` at the end. It is
printed as a ratio to the bare ASGI callable doing the whole job (in each JSON variant the
bench knows: the stdlib and, when installed, orjson), measured in the same run, round-robin,
in CPU time. The in-process target (door <= 1.3x bare) leaves 0.3x of a bare
request for everything the library does beyond the hand-written endpoint; this shows how
much of that the record alone takes.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from webhook_workflow.records import Execution, Job
from webhook_workflow.status import Status
from webhook_workflow.store.memory import MemoryStore

from . import contenders_asgi, job, variants
from .timing import Runner, asgi_runner, clock, measure

CONTEXT = {"headers": {"X-Request-Id": job.REQUEST_ID}, "query": {"source": "shop"},
           "body": {"order": {"id": "A1", "status": "paid"}}}


def record_runner() -> Runner:
    """A runner recording ``n`` seed executions the way a sync run does."""
    store = MemoryStore()

    def many(n: int) -> float:
        started = clock()
        for _ in range(n):
            now = time.time()
            execution = Execution("payment-callback", 1, CONTEXT, Status.STARTED, True,
                                  created_at=now, started_at=now)
            store.add(execution)
            execution.jobs.append(Job(Status.RESOLVED, True, None, "paid", None, now, now,
                                      {"seq": 1, "branch": 1}))
            execution.jobs.append(Job(Status.RESOLVED, {"statusCode": 200}, None, "ok", None,
                                      now, now, {"seq": 2}))
            execution.status = Status.RESOLVED
            execution.finished_at = now
            store.save(execution)
        return clock() - started

    return many


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.record_floor")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=0.2)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    names = [v for v in variants.VARIANTS if v == "stdlib" or variants.have_orjson()]
    runners: dict[str, Runner] = {
        name: asgi_runner(loop, contenders_asgi._bare_app(name), job.PAID)
        for name in names}
    runners["record"] = record_runner()
    times = measure(runners, repeats=args.repeats, seconds=args.seconds)
    loop.close()
    record = times.pop("record")
    print(f"execution record alone (1 execution, 2 jobs, store add + save): {record:.2f} µs")
    for name, bare in times.items():
        print(f"bare ASGI callable, whole seed request, {name} JSON: {bare:.2f} µs; "
              f"the record alone = {record / bare:.2f}x of it")


if __name__ == "__main__":
    main()
