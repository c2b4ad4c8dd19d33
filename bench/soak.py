"""A bounded soak on loopback: good and bad requests mixed, every answer checked.

``python -m bench.soak [--requests 200000] [--threaded-requests N] [--concurrency 16]``

Starts ``webhook-workflow serve`` twice on 127.0.0.1 (``--server uvicorn``, then the threaded
stdlib server), with the seed example and the corpus workflows of ``tests/corpus/workflows``,
and sends a fixed rotation of corpus requests (``tests/corpus/*.http``) from an asyncio client:
about half of them good (sync, async, echo), the rest refused at every row of the HTTP
contract (401, 404, 405, 411/413, 414, 415, 431, 400s). Each answer is checked against the
corpus expectation for that server (status, error body, strict JSON, no traceback); a mismatch,
a timeout or a dropped connection counts as an unexpected answer.

While it runs, the server's RSS is read from ``/proc/<pid>/status`` twice a second. The report
gives the unexpected-answer count, requests per second, p50/p99 latency (client side: from the
first byte sent to the last byte read), RSS at start (after warm-up) and end, and the RSS trend
over the second half of the run. Everything is bounded: a request count, a per-request timeout
and a wall-clock limit. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from corpus.expect import EXPECTED, check_answer, expectation, raw  # noqa: E402
from corpus.rawhttp import free_port, wait_for_port  # noqa: E402

WORKFLOWS = ROOT / "tests" / "corpus" / "workflows"
EXAMPLE = ROOT / "examples" / "payment-callback.json"

#: (corpus case name, weight): the rotation is these names repeated by weight, interleaved.
MIX: tuple[tuple[str, int], ...] = (
    ("good-seed", 14), ("good-async", 8), ("good-echo", 8), ("good-strict", 6),
    ("auth-lowercase-scheme", 4), ("json-utf8-bom", 2), ("query-params-4000", 1),
    ("query-deep-nesting", 1), ("json-depth-100", 1), ("json-type-text-plain", 2),
    ("chunked-seed", 3),
    ("auth-missing", 4), ("auth-wrong-password", 4), ("auth-garbage", 2),
    ("method-get", 3), ("method-lowercase-post", 1), ("path-unknown-key", 3),
    ("path-disabled-key", 1), ("path-outside", 1), ("length-over-limit", 3),
    ("strict-size-over", 2), ("query-url-8193", 2), ("query-params-5000", 1),
    ("header-count-101", 1), ("header-size-17k", 2), ("json-truncated", 3),
    ("json-nan", 1), ("json-depth-101-arrays", 2), ("json-scalar-number", 1),
    ("json-invalid-utf8", 1), ("json-int-5000-digits", 1), ("strict-text-plain", 2),
    ("strict-form", 1), ("length-garbage", 2), ("length-negative", 1),
    ("chunked-over-limit", 2),
)
REQUEST_TIMEOUT = 10.0


def corpus_file(name: str) -> str:
    matches = [f for f in EXPECTED if f.split("-", 1)[1] == f"{name}.http"]
    if len(matches) != 1:
        raise SystemExit(f"no single corpus request named {name!r}")
    return matches[0]


def rotation() -> list[str]:
    """The files in an interleaved order (weighted round robin)."""
    files = [(corpus_file(name), weight) for name, weight in MIX]
    out: list[str] = []
    for step in range(max(weight for _, weight in files)):
        out.extend(file for file, weight in files if step < weight)
    return out


@dataclass
class Result:
    tier: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    unexpected: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int | None] = field(default_factory=Counter)
    rss: list[tuple[float, int, int]] = field(default_factory=list)  # (t, requests, kB)


def rss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


async def exchange(port: int, data: bytes, head: bool) -> tuple[int | None, list[tuple[str, str]],
                                                                bytes]:
    """One request on a fresh connection; the answer (status None: closed without one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        with contextlib.suppress(OSError):  # answered and closed before reading it all (413)
            await writer.drain()
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                chunk = await reader.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return None, [], received
            received += chunk
        head_bytes, _, body = received.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(":")
                                                           for line in lines[1:])]
        length = next((int(v) for n, v in headers if n.lower() == "content-length"), None)
        if head:
            return status, headers, b""
        while length is None or len(body) < length:
            try:
                chunk = await reader.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            body += chunk
        return status, headers, body if length is None else body[:length]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def drive(tier: str, port: int, total: int, concurrency: int, deadline: float,
                result: Result) -> None:
    order = rotation()
    payloads = {f: raw(f) for f in set(order)}
    specs = {f: expectation(f, tier) for f in set(order)}
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            if time.monotonic() > deadline:
                result.unexpected["wall-clock limit reached"] += 1
                return
            file = order[index % len(order)]
            spec = specs[file]
            started = time.perf_counter()
            try:
                status, headers, body = await asyncio.wait_for(
                    exchange(port, payloads[file], bool(spec.get("head"))), REQUEST_TIMEOUT)
            except (TimeoutError, OSError) as exc:
                result.unexpected[f"{file}: {type(exc).__name__}"] += 1
                continue
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] += 1
            result.requests += 1
            problems = check_answer(spec, status, headers, body)
            if problems:
                result.unexpected[f"{file}: {problems[0][:160]}"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def sample_rss(pid: int, result: Result, stop: threading.Event, started: float) -> None:
    while not stop.is_set():
        result.rss.append((time.monotonic() - started, result.requests, rss_kb(pid)))
        stop.wait(0.5)


def soak(tier: str, total: int, concurrency: int, limit: float, warmup: int) -> Result:
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    command = [sys.executable, "-m", "webhook_workflow", "serve", str(EXAMPLE), str(WORKFLOWS),
               "--port", str(port), "--store", "memory"]
    if tier == "uvicorn":
        command += ["--server", "uvicorn"]
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    result = Result(tier)
    try:
        wait_for_port(port, alive=lambda: proc.poll() is None)
        # Warm-up: fill the memory store to its cap (10 000 executions) before measuring.
        warm = Result(tier)
        asyncio.run(drive(tier, port, warmup, concurrency, time.monotonic() + limit / 4, warm))
        stop = threading.Event()
        started = time.monotonic()
        sampler = threading.Thread(target=sample_rss, args=(proc.pid, result, stop, started),
                                   daemon=True)
        sampler.start()
        asyncio.run(drive(tier, port, total, concurrency, started + limit, result))
        result.seconds = time.monotonic() - started
        stop.set()
        sampler.join(5)
        result.rss.append((result.seconds, result.requests, rss_kb(proc.pid)))
        if warm.unexpected:
            result.unexpected.update({f"warm-up {k}": v for k, v in warm.unexpected.items()})
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    return result


def trend_kb_per_100k(result: Result) -> float:
    """Least-squares slope of RSS over requests, second half of the run, per 100k requests."""
    half = [(n, kb) for _, n, kb in result.rss if n >= result.requests / 2 and kb]
    if len(half) < 3:
        return 0.0
    xs, ys = [n for n, _ in half], [kb for _, kb in half]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return slope * 100_000


def _rss_at(result: Result, fraction: float) -> int:
    """The RSS sample taken when ``fraction`` of the requests had been answered."""
    wanted = fraction * result.requests
    samples = [(n, kb) for _, n, kb in result.rss if kb]
    return min(samples, key=lambda s: abs(s[0] - wanted))[1] if samples else 0


def report(result: Result) -> str:
    latencies = sorted(result.latencies)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 \
            if latencies else float("nan")

    rss = [kb for _, _, kb in result.rss if kb]
    unexpected = sum(result.unexpected.values())
    lines = [
        f"## {result.tier}",
        f"- requests: {result.requests} in {result.seconds:.1f} s "
        f"({result.requests / max(result.seconds, 1e-9):.0f}/s)",
        f"- unexpected answers: {unexpected} "
        f"({unexpected / max(result.requests, 1) * 100:.4f} %)",
        f"- latency: p50 {pct(0.50):.2f} ms, p99 {pct(0.99):.2f} ms, max {pct(1.0):.1f} ms",
        f"- RSS: start {rss[0] / 1024:.1f} MiB, end {rss[-1] / 1024:.1f} MiB, "
        f"max {max(rss) / 1024:.1f} MiB; trend over the second half "
        f"{trend_kb_per_100k(result) / 1024:+.2f} MiB per 100k requests" if rss else "- RSS: -",
        "- RSS by tenths of the run (MiB): " + " ".join(
            f"{_rss_at(result, tenth / 10) / 1024:.1f}" for tenth in range(11)),
        "- statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(
            result.statuses.items(), key=lambda item: (item[0] is None, item[0] or 0))),
    ]
    for what, n in result.unexpected.most_common(10):
        lines.append(f"  - {n} x {what}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--threaded-requests", type=int, default=None,
                        help="requests for the threaded server (default: --requests)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit", type=float, default=900.0,
                        help="wall-clock limit per server, seconds")
    parser.add_argument("--servers", default="uvicorn,threaded")
    parser.add_argument("--warmup", type=int, default=25_000,
                        help="requests sent before measuring (fills the memory store's cap)")
    args = parser.parse_args(argv)
    failed = False
    print(f"# Soak: {args.requests} requests after {args.warmup} warm-up requests, "
          f"{args.concurrency} connections, {len(rotation())}-request rotation "
          f"({len(MIX)} kinds)\n", flush=True)
    for tier in args.servers.split(","):
        total = args.requests if tier == "uvicorn" else (args.threaded_requests
                                                         or args.requests)
        result = soak(tier, total, args.concurrency, args.limit, args.warmup)
        print(report(result) + "\n", flush=True)
        failed = failed or bool(result.unexpected) or result.requests < total
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
