"""``python -m bench``: run the benchmarks and write ``bench/results.md``.

Every figure is a ratio to a contender measured in the same run on the same machine; the
absolute numbers are context only (the machine is shared and noisy).

Sections: ``inprocess`` (µs per request, callables called directly), ``loopback`` (RPS under
uvicorn / gunicorn with wrk), ``scaling`` (curves of the ASGI door and its memory), and
``durability`` (async acknowledgements, SQLite vs memory). ``--quick`` shortens every one;
``--only NAME`` runs one and writes ``bench/results-NAME.md`` unless ``--out`` is given.

``--json stdlib|orjson|both`` picks the JSON variants (:mod:`bench.variants`; default ``both``
when orjson is installed): in each, the library and every contender use the same JSON
library. The in-process and loopback sections run once per variant, each in fresh processes
started with the variant in their environment, with ratios only within a variant; scaling,
memory and durability run with the stdlib only.
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

from . import durability, scaling, servers, variants

HERE = Path(__file__).resolve().parent
SECTIONS = ("inprocess", "loopback", "scaling", "durability")
TITLES = {
    "inprocess": "In process: µs per request, ratios to the bare same-job callable",
    "loopback": "Over loopback: requests per second, ratios to the bare same-job callable",
    "scaling": "Scaling of the ASGI door (in process)",
    "durability": "Durability: async acknowledgements per second, SQLite vs memory",
}
#: The sections that compare contenders: run once per JSON variant.
PER_VARIANT = ("inprocess", "loopback")
STDLIB_ONLY = (f"With the stdlib JSON variant only (`{variants.ENV}={variants.BASELINE}`), "
               "whatever `--json` selects.")


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; ``json`` is the effective choice and ``variants`` what it runs."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of load per round over loopback (default 2, 3 rounds) "
                        "and per store for durability (default 5); --quick: 1 and 2")
    parser.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--json", choices=variants.CHOICES, default=None,
                        help="JSON variants of the in-process and loopback sections: the "
                        "library and every contender on the stdlib, on orjson, or one run "
                        "of each (default: both when orjson is installed, else stdlib; "
                        f"here {variants.default_choice()})")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.json = args.json or variants.default_choice()
    try:
        args.variants = variants.selected(args.json)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def json_line(chosen: tuple[str, ...]) -> str:
    """What the JSON variants of this run are, for the head of the report."""
    names = " and ".join(variants.describe(variant) for variant in chosen)
    missing = "" if variants.have_orjson() else (
        " (orjson is not installed; `pip install -e '.[speed]'` adds its variant)")
    each = ("the in-process and loopback sections run once per variant and ratios compare "
            "within a variant only" if len(chosen) > 1 else
            "the in-process and loopback sections run with it")
    label = "JSON variants" if len(chosen) > 1 else "JSON variant"
    return (f"{label}: {names}{missing}; in a variant the library and every contender use the "
            f"same JSON library; {each}; scaling, memory and durability run with the stdlib "
            "only.")


def inprocess_section(variant: str, quick: bool) -> str:
    """The in-process section for ``variant``, timed in a fresh process started with it: the
    library reads the variant once, at import, and this process stays on the stdlib."""
    return variants.run_module(
        ["bench.inprocess", "--json", variant, *(["--quick"] if quick else [])],
        variant).strip()


def main(argv: list[str] | None = None) -> int:
    """Run the sections, write the report and print it."""
    args = parse_args(argv)
    # The scaling section times the door in this process, and the memory and durability
    # servers inherit this environment: all on the stdlib. Nothing has imported the library
    # yet (the section modules import it lazily), so it takes this value.
    os.environ[variants.ENV] = variants.BASELINE
    out = args.out or HERE / (f"results-{args.only}.md" if args.only else "results.md")
    quick = bool(args.quick)

    def stdlib_scaling() -> str:
        variants.check_library(variants.BASELINE)
        return scaling.run(quick=quick)

    per_variant: dict[str, Callable[[str], str]] = {
        "inprocess": lambda variant: inprocess_section(variant, quick),
        "loopback": lambda variant: servers.run(quick=quick, seconds=args.seconds,
                                                variant=variant),
    }
    stdlib_only: dict[str, Callable[[], str]] = {
        "scaling": stdlib_scaling,
        "durability": lambda: durability.report(durability.measure(
            seconds=args.seconds or (2.0 if quick else 5.0))),
    }
    began = time.monotonic()
    load_before = load_average()
    sections = ["# Benchmark results", "", f"Machine: {machine()}.", "",
                f"Library: {library()}.", "", json_line(args.variants), "",
                f"Run: `python -m bench{' --quick' if quick else ''}"
                f"{f' --only {args.only}' if args.only else ''} --json {args.json}`.", ""]
    for name in SECTIONS:
        if args.only and name != args.only:
            continue
        if name in PER_VARIANT:
            for variant in args.variants:
                started = time.monotonic()
                body = per_variant[name](variant)
                sys.stderr.write(f"bench: {name} ({variant} JSON) took "
                                 f"{time.monotonic() - started:.0f} s\n")
                sections += [f"## {TITLES[name]} (JSON: {variant})", "", body, ""]
        else:
            started = time.monotonic()
            body = stdlib_only[name]()
            sys.stderr.write(f"bench: {name} took {time.monotonic() - started:.0f} s\n")
            sections += [f"## {TITLES[name]}", "", STDLIB_ONLY, "", body, ""]
    sections += [f"Whole run: {time.monotonic() - began:.0f} s; load average {load_before} at "
                 f"the start, {load_average()} at the end (other work on the machine shows "
                 "here: ratios hold up better than absolute numbers).", ""]
    text = "\n".join(sections)
    out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
