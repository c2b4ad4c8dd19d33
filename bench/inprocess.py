"""Section (1): microseconds per request, calling each ASGI/WSGI callable in process.

Every contender is checked on the four cases of :mod:`bench.job` first; one whose answers
differ is reported and not timed. The paid request is timed. Ratios are to the bare
same-job contender of the same kind, and for the doors also to the framework of their kind.

One run times one JSON variant (:mod:`bench.variants`), the one the process started with: the
library reads it at import. ``python -m bench.inprocess --json VARIANT`` runs the section in
a fresh process and prints its Markdown; ``python -m bench`` runs each variant so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from . import contenders_asgi, contenders_wsgi, job, variants
from .report import X, micros, ratio, table, target
from .timing import Runner, asgi_answer, asgi_runner, measure, wsgi_answer, wsgi_runner

#: kind -> (framework name for the second ratio, door targets: (max x bare, max x framework))
TARGETS = {"ASGI": ("starlette", 1.3, 0.5), "WSGI": ("flask", 1.3, 0.1)}


def build(factories: dict[str, tuple[str, Callable[[], Any]]]) -> dict[str, Any]:
    """name -> app, or the reason it is missing (a string)."""
    apps: dict[str, Any] = {}
    for name, (_, factory) in factories.items():
        try:
            apps[name] = factory()
        except ImportError as exc:
            if (exc.name or "").startswith("webhook_workflow"):
                apps[name] = f"cannot import the library: {exc}"
            else:
                apps[name] = f"not installed ({exc.name}): pip install -e '.[bench]'"
        except Exception as exc:  # reported in the table, the run goes on
            apps[name] = f"cannot build: {type(exc).__name__}: {exc}"
    return apps


def checked(apps: dict[str, Any], answer: Callable[[Any, job.Request], job.Answer],
            ) -> dict[str, str | None]:
    """name -> None when the contender gives the expected answers, else what differs."""
    problems: dict[str, str | None] = {}
    for name, app in apps.items():
        if isinstance(app, str):
            problems[name] = app
            continue
        if name == "floor":
            problems[name] = None  # the floor does not do the job; it only answers "ok"
            continue
        problems[name] = None
        for case, request in job.CASES.items():
            try:
                problem = job.check(case, answer(app, request))
            except Exception as exc:  # a broken contender is reported, not fatal
                problem = f"raised {exc!r}"
            if problem:
                problems[name] = f"{case}: {problem}"
                break
    return problems


def _rows(kind: str, labels: dict[str, str], times: dict[str, float],
          problems: dict[str, str | None]) -> list[list[str]]:
    framework, max_bare, max_framework = TARGETS[kind]
    bare = times.get("bare")
    other = times.get(framework)
    rows = []
    for name, label in labels.items():
        if problems.get(name):
            rows.append([label, "not timed", "", "", f"answers differ: {problems[name]}"])
            continue
        value = times[name]
        to_bare = value / bare if bare else None
        to_framework = value / other if other else None
        goals = ""
        if name == "door":
            fw = labels[framework]
            goals = " · ".join([
                target(f"≤ {max_bare}{X} bare", None if to_bare is None else to_bare <= max_bare),
                target(f"≤ {max_framework}{X} {fw}",
                       None if to_framework is None else to_framework <= max_framework)])
        rows.append([label, micros(value), ratio(to_bare), ratio(to_framework), goals])
    return rows


def run(*, quick: bool = False, deadline: float | None = None,
        variant: str | None = None) -> str:
    """Check, time and report both kinds with the JSON ``variant`` of this process (the
    default); returns Markdown. RuntimeError when the process or the library is on another
    variant."""
    variant = variant or variants.current()
    if variants.current() != variant:
        raise RuntimeError(f"this process runs the {variants.current()} JSON variant, not "
                           f"{variant}: start it with {variants.ENV}={variant}")
    variants.check_library(variant)
    repeats, seconds = (3, 0.08) if quick else (9, 0.15)
    loop = asyncio.new_event_loop()
    out = []
    try:
        kinds: list[tuple[str, dict[str, tuple[str, Callable[[], Any]]],
                          Callable[[Any, job.Request], job.Answer],
                          Callable[[Any, job.Request], Runner]]] = [
            ("ASGI", contenders_asgi.CONTENDERS,
             lambda app, req: asgi_answer(loop, app, req),
             lambda app, req: asgi_runner(loop, app, req)),
            ("WSGI", contenders_wsgi.CONTENDERS,
             wsgi_answer, wsgi_runner)]
        for kind, factories, answer, runner in kinds:
            apps = build(factories)
            problems = checked(apps, answer)
            runners = {name: runner(app, job.PAID) for name, app in apps.items()
                       if not problems[name]}
            times = measure(runners, repeats=repeats, seconds=seconds, deadline=deadline)
            labels = {name: label for name, (label, _) in factories.items()}
            framework = labels[TARGETS[kind][0]]
            out += [f"### {kind}", "", table(
                ["contender", "µs/request", f"{X} bare", f"{X} {framework}", "targets"],
                _rows(kind, labels, times, problems), numeric=(1, 2, 3)), ""]
    finally:
        loop.close()
    out.append(f"Paid seed request, CPU time of the process per request (other work on the "
               f"machine does not count), median of {repeats} round-robin repeats of about "
               f"{seconds:g} s each; every contender answered paid / unpaid / no-auth / GET "
               "as expected before it was timed (the floor only answers `ok`). "
               f"JSON: {variants.describe(variant)} in the library (checked in the timing "
               "process) and in every contender.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the section's Markdown for one JSON variant (the parent collects it)."""
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    parser.add_argument("--json", choices=variants.VARIANTS, default=None,
                        help="the JSON variant (default: the one the environment selects)")
    args = parser.parse_args(argv)
    if args.json:
        try:
            variants.selected(args.json)
        except ValueError as exc:
            parser.error(str(exc))
        # Before anything imports the library: it reads the variable once, at import.
        os.environ[variants.ENV] = args.json
    began = time.monotonic()
    sys.stdout.write(run(quick=args.quick, variant=args.json) + "\n")
    sys.stderr.write(f"bench.inprocess: {variants.current()} JSON took "
                     f"{time.monotonic() - began:.1f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
