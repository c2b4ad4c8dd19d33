"""Over-loopback measurements: a server in a subprocess, wrk (or a Python client) as load."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Load:
    """The result of one load run."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str
    p999_ms: float = 0.0
    max_ms: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(command: list[str], port: int, env: Mapping[str, str]) -> Iterator[None]:
    """Run a server command until the block ends; wait (bounded) for its port.

    When the server does not start, the error names the last line it wrote to stderr (a
    contender's factory that refuses to build, such as a door on the wrong JSON codec).
    """
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=errors)
        try:
            deadline = time.monotonic() + 20
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    errors.seek(0)
                    lines = [line for line in errors.read().splitlines() if line.strip()]
                    last = f" ({lines[-1].strip()})" if lines else ""
                    raise RuntimeError(f"server did not start: {' '.join(command)}{last}")
                time.sleep(0.05)
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %f %f %f %f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def load(url: str, body: bytes, headers: Mapping[str, str], *, seconds: float = 5.0,
         connections: int = 16, threads: int = 2) -> Load:
    """POST ``body`` to ``url`` for ``seconds`` with ``connections`` concurrent clients."""
    if shutil.which("wrk"):
        return _wrk(url, body, headers, seconds, connections, threads)
    return _python_load(url, body, headers, seconds, connections)


def _wrk(url: str, body: bytes, headers: Mapping[str, str], seconds: float, connections: int,
         threads: int) -> Load:
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}"
                      for k, v in headers.items())
    script = _WRK_SCRIPT.format(body=json.dumps(body.decode()), headers=lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s",
             handle.name, url],
            capture_output=True, text=True, timeout=seconds + 30, check=True)
    finally:
        os.unlink(handle.name)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)",
                      done.stdout)
    if match is None:
        raise RuntimeError(f"unexpected wrk output: {done.stdout}")
    requests, errors, micros, p50, p99, p999, most = match.groups()
    return Load(int(requests) / (int(micros) / 1e6), float(p50) / 1000, float(p99) / 1000,
                int(errors), "wrk", float(p999) / 1000, float(most) / 1000)


def _python_load(url: str, body: bytes, headers: Mapping[str, str], seconds: float,
                 connections: int) -> Load:
    """A keep-alive client per thread; used when wrk is not installed."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = HTTPConnection(host, int(port), timeout=10)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json",
                                                  **headers})
                answer = conn.getresponse()
                answer.read()
                if answer.status >= 300:
                    bad += 1
            except OSError:
                bad += 1
                conn = HTTPConnection(host, int(port), timeout=10)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    workers = [threading.Thread(target=client) for _ in range(connections)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    took = time.monotonic() - began
    latencies.sort()
    if not latencies:
        return Load(0.0, 0.0, 0.0, errors[0], "python")
    return Load(len(latencies) / took, latencies[len(latencies) // 2] * 1000,
                latencies[int(len(latencies) * 0.99)] * 1000, errors[0], "python",
                latencies[int(len(latencies) * 0.999)] * 1000, latencies[-1] * 1000)


def uvicorn_command(app: str, port: int, workers: int = 1) -> list[str]:
    """uvicorn with ``workers`` worker processes (default one) serving the factory ``app``."""
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-access-log"]


def gunicorn_command(app: str, port: int, *, threads: int = 1) -> list[str]:
    """gunicorn with one worker serving ``app`` (``module:factory()``): the sync worker, or
    the gthread worker when ``threads`` > 1."""
    worker = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
    return [sys.executable, "-m", "gunicorn", "--workers", "1", *worker, "--bind",
            f"127.0.0.1:{port}", "--log-level", "warning", app]


def server_flavour() -> str:
    """Which uvicorn HTTP parser and event loop ``auto`` picks here, and the versions."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    def have(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return (f"uvicorn {have('uvicorn')} ({http}, {loop} loop), gunicorn {have('gunicorn')}, "
            f"wrk {'installed' if shutil.which('wrk') else 'missing: Python client'}")
