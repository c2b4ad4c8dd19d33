"""In-process timing: call an ASGI or WSGI callable directly with prebuilt requests.

ASGI: one event loop; each call gets a shallow copy of a prebuilt scope (servers give a fresh
scope per request and frameworks write into it), a ``receive`` that hands the whole body in one
message and a ``send`` that drops the messages. WSGI: a copy of a prebuilt environ with a fresh
``BytesIO`` per call; the body iterable is consumed and closed as a server does.

:func:`measure` calibrates the iteration count per contender, then runs the contenders
round-robin (so drift on a shared machine hits all alike) and keeps the median of the repeats.
Times are CPU time of the process (:data:`clock`), not wall time.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, MutableMapping
from io import BytesIO
from typing import Any

from .job import Answer, Request

Runner = Callable[[int], float]  # runs n requests, returns the CPU seconds they took

#: The clock of every in-process figure: CPU time of this process (all its threads), so the
#: time other processes take from a shared machine does not count; on a quiet machine it is
#: within a few per cent of wall time for this CPU-bound work.
clock = time.process_time


async def _noop_send(message: MutableMapping[str, Any]) -> None:
    return None


def asgi_runner(loop: asyncio.AbstractEventLoop, app: Any, request: Request) -> Runner:
    scope = request.scope()
    message = request.message()

    async def receive() -> dict[str, Any]:
        return message

    async def many(n: int) -> float:
        send = _noop_send
        copy = scope.copy
        started = clock()
        for _ in range(n):
            await app(copy(), receive, send)
        return clock() - started

    return lambda n: loop.run_until_complete(many(n))


def wsgi_runner(app: Any, request: Request) -> Runner:
    environ = request.environ()
    body = request.body

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        return _write

    def many(n: int) -> float:
        copy = environ.copy
        started = clock()
        for _ in range(n):
            env = copy()
            env["wsgi.input"] = BytesIO(body)
            result = app(env, start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return clock() - started

    return many


def _write(data: bytes) -> None:
    return None


def asgi_answer(loop: asyncio.AbstractEventLoop, app: Any, request: Request) -> Answer:
    """Call ``app`` once and collect its answer."""
    sent: list[MutableMapping[str, Any]] = []
    message = request.message()

    async def receive() -> dict[str, Any]:
        return message

    async def send(item: MutableMapping[str, Any]) -> None:
        sent.append(item)

    loop.run_until_complete(app(request.scope(), receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    return Answer(start["status"], headers, body)


def wsgi_answer(app: Any, request: Request) -> Answer:
    """Call ``app`` once and collect its answer."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        seen["status"], seen["headers"] = status, headers
        return _write

    env = request.environ()
    env["wsgi.input"] = BytesIO(request.body)
    result = app(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    headers = {k.lower(): v for k, v in seen["headers"]}
    return Answer(int(seen["status"].split()[0]), headers, body)


def calibrate(run: Runner, seconds: float) -> int:
    """How many calls take about ``seconds`` (after a warm-up)."""
    run(20)
    n = 20
    while True:
        took = run(n)
        if took >= seconds / 5 or n >= 1_000_000:
            return max(10, int(n * seconds / max(took, 1e-9)))
        n *= 4


def measure(runners: dict[str, Runner], *, repeats: int = 5, seconds: float = 0.25,
            deadline: float | None = None) -> dict[str, float]:
    """Median microseconds per call of each runner, run round-robin ``repeats`` times.

    ``deadline`` (a ``time.monotonic`` value) cuts the repeats short, never below one.
    """
    counts = {name: calibrate(run, seconds) for name, run in runners.items()}
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for index in range(repeats):
        if index and deadline is not None and time.monotonic() > deadline:
            break
        for name, run in runners.items():
            samples[name].append(run(counts[name]) / counts[name] * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}
