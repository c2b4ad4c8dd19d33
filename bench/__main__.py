"""``python -m bench``: run the benchmarks and write ``bench/results.md``.

Every figure is a ratio to a contender measured in the same run on the same machine; the
absolute numbers are context only (the machine is shared and noisy).

Sections: ``inprocess`` (µs per request, callables called directly), ``loopback`` (RPS under
uvicorn / gunicorn with wrk), ``scaling`` (curves of the ASGI door and its memory), and
``durability`` (async acknowledgements, SQLite vs memory). ``--quick`` shortens every one;
``--only NAME`` runs one and writes ``bench/results-NAME.md`` unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from . import durability, inprocess, scaling, servers

HERE = Path(__file__).resolve().parent
SECTIONS = ("inprocess", "loopback", "scaling", "durability")
TITLES = {
    "inprocess": "In process: µs per request, ratios to the bare same-job callable",
    "loopback": "Over loopback: requests per second, ratios to the bare same-job callable",
    "scaling": "Scaling of the ASGI door (in process)",
    "durability": "Durability: async acknowledgements per second, SQLite vs memory",
}


def machine() -> str:
    """One line that says where the figures come from."""
    cpu = platform.processor() or platform.machine()
    return (f"{datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu})")


def load_average() -> str:
    """The 1-minute load average (other processes competing for the CPUs)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def library() -> str:
    """Which webhook_workflow the figures are of: the git commit, and whether the working
    tree changes the library."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "webhook_workflow"],
                                 cwd=HERE.parent, capture_output=True, text=True,
                                 timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "webhook_workflow (no git)"
    if not commit:
        return "webhook_workflow (no git)"
    return f"webhook_workflow at {commit}" + (" with uncommitted changes" if changed else "")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of load per round over loopback (default 2, 3 rounds) "
                        "and per store for durability (default 5); --quick: 1 and 2")
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or HERE / (f"results-{args.only}.md" if args.only else "results.md")
    quick = bool(args.quick)
    runs: dict[str, Callable[[], str]] = {
        "inprocess": lambda: inprocess.run(quick=quick),
        "loopback": lambda: servers.run(quick=quick, seconds=args.seconds),
        "scaling": lambda: scaling.run(quick=quick),
        "durability": lambda: durability.report(durability.measure(
            seconds=args.seconds or (2.0 if quick else 5.0))),
    }
    began = time.monotonic()
    load_before = load_average()
    sections = ["# Benchmark results", "", f"Machine: {machine()}.", "",
                f"Library: {library()}.", "",
                f"Run: `python -m bench{' --quick' if quick else ''}"
                f"{f' --only {args.only}' if args.only else ''}`.", ""]
    for name in SECTIONS:
        if args.only and name != args.only:
            continue
        started = time.monotonic()
        body = runs[name]()
        sys.stderr.write(f"bench: {name} took {time.monotonic() - started:.0f} s\n")
        sections += [f"## {TITLES[name]}", "", body, ""]
    sections += [f"Whole run: {time.monotonic() - began:.0f} s; load average {load_before} at "
                 f"the start, {load_average()} at the end (other work on the machine shows "
                 "here: ratios hold up better than absolute numbers).", ""]
    text = "\n".join(sections)
    out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
