"""Section (2): requests per second over loopback, every contender in one run.

ASGI contenders under uvicorn (1 worker), WSGI contenders under gunicorn (1 sync worker, and
1 gthread worker with 4 threads); ``wrk`` on 127.0.0.1 posts the paid seed request. Each
server is checked on the four cases over HTTP before it is loaded; the contenders of one
server kind are loaded round-robin for a few rounds and each keeps its best round. Ratios are
to the bare same-job contender under the same server.

One run serves one JSON variant (:mod:`bench.variants`): every server starts with it in its
environment, and the door factories refuse to build on another codec.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from . import contenders_asgi, contenders_wsgi, job, variants
from .loopback import (
    Load,
    free_port,
    gunicorn_command,
    load,
    server,
    server_flavour,
    uvicorn_command,
)
from .report import X, ratio, table, target

CONNECTIONS = 16
#: Paid requests of the short warm-up (``warmup`` 0): wrk cannot load for less than 1 s.
WARM_REQUESTS = 100
#: server label -> minimum door RPS as a fraction of the bare contender's (None: no target)
SERVERS: dict[str, float | None] = {"uvicorn": 0.85, "gunicorn sync": None,
                                    f"gunicorn gthread {X}4": 0.85}


@dataclass
class Row:
    server: str
    name: str
    label: str
    result: Load | None = None
    problem: str | None = None
    rounds: list[Load] = field(default_factory=list)


def _command(server_label: str, name: str, port: int) -> list[str]:
    if server_label == "uvicorn":
        return uvicorn_command(f"bench.contenders_asgi:{name}", port)
    threads = 4 if "gthread" in server_label else 1
    return gunicorn_command(f"bench.contenders_wsgi:{name}()", port, threads=threads)


def _load(port: int, seconds: float) -> Load:
    url = f"http://127.0.0.1:{port}{job.ROUTE}?{job.QUERY}"
    heads = {k: v for k, v in job.PAID.headers() if k in ("authorization", "x-request-id")}
    return load(url, job.PAID.body, heads, seconds=seconds, connections=CONNECTIONS, threads=1)


def _group(rows: list[Row], seconds: float, rounds: int, warmup: float,
           variant: str) -> None:
    """Serve every contender of one server kind at once (idle servers cost next to nothing),
    check and warm each (``warmup`` seconds of load, or :data:`WARM_REQUESTS` requests one
    at a time when it is 0), then load them round-robin ``rounds`` times; keep each one's best
    round (other work on a shared machine only ever lowers a round)."""
    with ExitStack() as stack:
        ports: dict[str, int] = {}
        for row in rows:
            port = free_port()
            try:
                stack.enter_context(server(_command(row.server, row.name, port), port,
                                           variants.environ(variant)))
                if row.name != "floor":
                    row.problem = job.check_server(port)
                if not row.problem:
                    if warmup:
                        _load(port, warmup)
                    else:
                        for _ in range(WARM_REQUESTS):
                            job.http_answer(port, job.PAID)
                    ports[row.name] = port
            except Exception as exc:  # a contender that cannot be served is reported
                row.problem = f"{type(exc).__name__}: {exc}"
        for _ in range(rounds):
            for row in rows:
                if row.name in ports:
                    try:
                        row.rounds.append(_load(ports[row.name], seconds))
                    except Exception as exc:
                        row.problem = f"{type(exc).__name__}: {exc}"
    for row in rows:
        if row.rounds and not row.problem:
            row.result = max(row.rounds, key=lambda result: result.rps)


def measure(seconds: float = 2.0, rounds: int = 3, warmup: float = 1.0,
            variant: str = variants.BASELINE) -> list[Row]:
    """Serve, check and load every contender of every server kind with the JSON ``variant``."""
    rows: list[Row] = []
    for server_label in SERVERS:
        kind = contenders_asgi.CONTENDERS if server_label == "uvicorn" else \
            contenders_wsgi.CONTENDERS
        group = [Row(server_label, name, label) for name, (label, _) in kind.items()]
        _group(group, seconds, rounds, warmup, variant)
        rows += group
    return rows


def report(rows: list[Row], seconds: float, rounds: int,
           variant: str = variants.BASELINE, warmup: float = 1.0) -> str:
    """The Markdown table of ``rows`` (one JSON variant) and how they were measured."""
    lines = []
    for row in rows:
        bare = next(r for r in rows if r.server == row.server and r.name == "bare").result
        if row.result is None:
            lines.append([row.label, row.server, "not timed", "", "", "", "",
                          f"answers differ: {row.problem}"])
            continue
        result = row.result
        to_bare = result.rps / bare.rps if bare and bare.rps else None
        goal = SERVERS[row.server]
        goals = ""
        if row.name == "door" and goal is not None:
            goals = target(f"≥ {goal}{X} bare", None if to_bare is None else to_bare >= goal)
        errors = str(result.errors) if result.errors else "0"
        lines.append([row.label, row.server, f"{result.rps:,.0f}", ratio(to_bare),
                      f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}", errors, goals])
    tool = next((r.result.tool for r in rows if r.result), "wrk")
    warm = f"a {warmup:g} s warm-up" if warmup else f"a warm-up of {WARM_REQUESTS} requests"
    return "\n".join([
        table(["contender", "server", "RPS", f"{X} bare", "p50 ms", "p99 ms", "errors",
               "targets"], lines, numeric=(2, 3, 4, 5, 6)),
        "",
        f"Paid seed request, {CONNECTIONS} connections, load by {tool} (1 thread) on "
        f"127.0.0.1: after {warm}, {rounds} round{'s' if rounds > 1 else ''} of "
        f"{seconds:g} s per contender, round-robin over the servers of one kind (all started "
        f"at once, loaded one at a time); the best round is shown. "
        f"{server_flavour()}. The gunicorn sync worker closes the connection after each "
        "answer (no keep-alive), so wrk reconnects for every request there. "
        f"JSON: {variants.describe(variant)} in the library and in every contender (each "
        f"server started with {variants.ENV}={variant}; the doors check their codec).",
    ])


def run(*, quick: bool = False, seconds: float | None = None,
        variant: str = variants.BASELINE) -> str:
    """Serve, check and load every contender with the JSON ``variant``: ``rounds`` loads of
    ``seconds`` each (wrk counts whole seconds)."""
    rounds = 1 if quick else 3
    seconds = seconds or (1.0 if quick else 2.0)
    # A quick run has two variants' servers to get through in its time budget: a 1 s wrk
    # warm-up would double the time of each contender's single 1 s round.
    warmup = 0.0 if quick else 1.0
    return report(measure(seconds, rounds, warmup=warmup, variant=variant), seconds, rounds,
                  variant, warmup)


if __name__ == "__main__":
    began = time.monotonic()
    print(run(quick=True, variant=variants.current()))
    print(f"({time.monotonic() - began:.1f} s)")
