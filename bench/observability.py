"""What observing the door costs: ``python -m bench.observability [--quick]``.

The seed request (paid, sync, memory store) through the ASGI and the WSGI door of engines
that differ only in what observes them: nothing (the default: no instruments, so the doors
skip the hooks and the run loop gets no watch), no-op hooks installed (every hook is called
and does nothing: the price of the calls themselves), OpenTelemetry tracing with the API's
no-op provider, with the SDK recording spans that nothing exports, Prometheus metrics, and
tracing with metrics. Every engine is checked on the four cases of :mod:`bench.job` first.
Ratios are to the engine with nothing installed, measured in the same run, round-robin, in
CPU time; the absolute numbers are context only.

A fresh interpreter also checks that the default path imports neither extra: without them
installed the request path is the one timed as "nothing".
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from webhook_workflow import Engine
from webhook_workflow.instruments import Instruments

from . import job
from .report import X, micros, ratio, table
from .timing import Runner, asgi_answer, asgi_runner, measure, wsgi_answer, wsgi_runner


class _Quiet(Instruments):
    """Installed, so every hook is called, and each does nothing."""

    __slots__ = ()


def _provider(sdk: bool) -> Any:
    if sdk:
        from opentelemetry.sdk.trace import TracerProvider

        return TracerProvider()  # records spans; no processor exports them
    from opentelemetry.trace import NoOpTracerProvider

    return NoOpTracerProvider()


#: name -> (label, the engine's observability keyword arguments)
ENGINES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "none": ("nothing installed (default)", dict),
    "hooks": ("no-op hooks installed", lambda: {"instruments": _Quiet()}),
    "otel-api": ("tracing, API no-op provider", lambda: {"tracing": _provider(False)}),
    "otel-sdk": ("tracing, SDK, no exporter", lambda: {"tracing": _provider(True)}),
    "metrics": ("Prometheus metrics", lambda: {"metrics": True}),
    "both": ("tracing (SDK) + metrics", lambda: {"tracing": _provider(True), "metrics": True}),
}

_IMPORTS = ("import sys\nfrom webhook_workflow import Engine\n"
            "from webhook_workflow.asgi import WebhookMiddleware\n"
            "engine = Engine()\nengine.add_workflow(sys.argv[1])\n"
            "WebhookMiddleware(engine=engine)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'opentelemetry', 'prometheus_client'}))\n")


def _engine(options: Callable[[], dict[str, Any]]) -> Engine:
    engine = Engine(**options())
    engine.add_workflow(job.EXAMPLE)
    return engine


def _apps(kind: str) -> dict[str, Any]:
    """name -> door app, or why it is missing (a string)."""
    from webhook_workflow.asgi import WebhookMiddleware as ASGIDoor
    from webhook_workflow.wsgi import WebhookMiddleware as WSGIDoor

    door = ASGIDoor if kind == "ASGI" else WSGIDoor
    apps: dict[str, Any] = {}
    for name, (_, options) in ENGINES.items():
        try:
            apps[name] = door(engine=_engine(options))
        except ImportError as exc:
            apps[name] = f"not installed ({exc.name or exc}): pip install -e '.[dev]'"
    return apps


def default_imports() -> str:
    """The extras a fresh interpreter imports for a default engine and door."""
    done = subprocess.run([sys.executable, "-c", _IMPORTS, job.EXAMPLE], capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip()


def run(*, quick: bool = False) -> str:
    """Check, time and report both door kinds; returns Markdown."""
    repeats, seconds = (3, 0.08) if quick else (9, 0.15)
    loop = asyncio.new_event_loop()
    out = []
    try:
        kinds: list[tuple[str, Callable[[Any, job.Request], job.Answer],
                          Callable[[Any, job.Request], Runner]]] = [
            ("ASGI", lambda app, req: asgi_answer(loop, app, req),
             lambda app, req: asgi_runner(loop, app, req)),
            ("WSGI", wsgi_answer, wsgi_runner)]
        for kind, answer, runner in kinds:
            apps = _apps(kind)
            problems: dict[str, str | None] = {}
            for name, app in apps.items():
                problems[name] = app if isinstance(app, str) else next(
                    (f"{case}: {p}" for case, request in job.CASES.items()
                     if (p := job.check(case, answer(app, request)))), None)
            runners = {name: runner(app, job.PAID) for name, app in apps.items()
                       if not problems[name]}
            times = measure(runners, repeats=repeats, seconds=seconds)
            base = times.get("none")
            rows = []
            for name, (label, _) in ENGINES.items():
                if problems[name]:
                    rows.append([label, "not timed", "", problems[name]])
                    continue
                value = times[name]
                rows.append([label, micros(value), ratio(value / base if base else None),
                             micros(value - base if base else None)])
            out += [f"### {kind} door", "", table(
                ["installed", "µs/request", f"{X} nothing", "µs more"], rows,
                numeric=(1, 2, 3)), ""]
    finally:
        loop.close()
    out.append(f"Paid seed request (sync, memory store), CPU time of the process per request, "
               f"median of {repeats} round-robin repeats of about {seconds:g} s each; every "
               "engine answered paid / unpaid / no-auth / GET as expected before it was timed. "
               f"Extras a default engine and door import in a fresh interpreter: "
               f"{default_imports()}.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observability")
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    args = parser.parse_args(argv)
    print(run(quick=args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
