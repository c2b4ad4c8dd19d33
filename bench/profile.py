"""Where the ASGI door's time goes: ``python -m bench.profile [requests] [--body KIB]``.

Runs the paid seed request through ``webhook_workflow.asgi.WebhookMiddleware`` under
cProfile (after a warm-up) and prints the top 15 entries by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats

from . import contenders_asgi, job
from .timing import asgi_runner


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("requests", type=int, nargs="?", default=20_000)
    parser.add_argument("--body", type=int, default=0, help="pad the body to KIB KiB")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--all", action="store_true",
                        help="also list the harness and event-loop frames")
    args = parser.parse_args()
    request = job.Request(body=job.padded(args.body * 1024)) if args.body else job.PAID
    loop = asyncio.new_event_loop()
    run = asgi_runner(loop, contenders_asgi.door(), request)
    run(1000)
    profiler = cProfile.Profile()
    profiler.enable()
    run(args.requests)
    profiler.disable()
    loop.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).sort_stats(args.sort)
    restrictions: list[str | int] = [] if args.all else ["webhook_workflow"]
    stats.print_stats(*restrictions, args.top)
    print(text.getvalue())


if __name__ == "__main__":
    main()
