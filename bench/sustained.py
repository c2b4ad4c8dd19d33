"""Sustained load: can the durable workers keep up with the door at a fixed offered rate?

``python -m bench.sustained [--seconds 30] [--fraction 0.8] [--postgres URL] [--processes 1]``
serves the workflow of :mod:`bench.stores` under uvicorn (one process, or ``--processes`` on
one store) on SQLite and on PostgreSQL in turn. For each
store it first measures the highest acknowledgement rate (wrk, or the Python client, for 3 s,
then waits until the queue is empty), then offers ``fraction`` of that rate for ``--seconds``
with an open-loop client: each request leaves at its scheduled time whether or not the
previous answers came back (a client that is late sends at once and counts it). Every second
it reads the server's status: executions ended, queue depth, age of the oldest queued
execution. The report gives, per store:

* **offered/s** and **acks/s** (answered 200, each committed before its answer);
* **executions/s** over the load window, and its ratio to acks/s (the target is ≥ 0.95);
* **queue depth** at the start, middle and end of the window (flat when the workers keep up)
  and the **oldest queued age** at its worst;
* the **drain** after the load: seconds until nothing is queued or running.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from .loopback import free_port, load, server, server_flavour, uvicorn_command
from .stores import BODY, _idle, _status, stores

_PATH = "/api/webhook:trigger/hook"


@dataclass
class Paced:
    """What the open-loop client saw."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    late: int = 0
    latencies: list[float] = field(default_factory=list)


def _request(port: int) -> bytes:
    head = (f"POST {_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n")
    return head.encode() + BODY


def _answer(sock: socket.socket, pending: bytearray) -> int:
    """Read one HTTP/1.1 answer (Content-Length framed) from ``sock``; its status code.
    Bytes after it stay in ``pending``."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        pending += chunk
    head, _, _ = bytes(pending).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = len(head) + 4 + length
    while len(pending) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        pending += chunk
    del pending[:total]
    return int(head.split(b" ", 2)[1])


def paced_load(port: int, rate: float, seconds: float, connections: int = 32) -> Paced:
    """Offer ``rate`` requests per second for ``seconds`` over ``connections`` keep-alive
    connections, each sending at ``rate / connections`` on its own schedule."""
    result = Paced()
    lock = threading.Lock()
    request = _request(port)
    interval = connections / rate
    began = time.monotonic() + 0.2

    def client(index: int) -> None:
        mine = Paced()
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        pending = bytearray()
        due = began + index * interval / connections
        end = began + seconds
        while due < end:
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            elif now - due > interval:
                mine.late += 1
            started = time.monotonic()
            mine.sent += 1
            try:
                sock.sendall(request)
                if _answer(sock, pending) == 200:
                    mine.acked += 1
                else:
                    mine.errors += 1
            except OSError:
                mine.errors += 1
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                pending.clear()
            mine.latencies.append(time.monotonic() - started)
            due += interval
        sock.close()
        with lock:
            result.sent += mine.sent
            result.acked += mine.acked
            result.errors += mine.errors
            result.late += mine.late
            result.latencies.extend(mine.latencies)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.latencies.sort()
    return result


@dataclass
class Sustained:
    """One store's figures."""

    max_acks: float
    offered: float
    acks: float
    executions: float
    depth: list[int]
    oldest_age: float
    drain: float
    load: Paced


def measure_store(url: str, seconds: float, fraction: float, processes: int = 1) -> Sustained:
    port = free_port()
    target = f"http://127.0.0.1:{port}{_PATH}"
    env = {"BENCH_STORE": url, **({"BENCH_SHARED": "1"} if processes > 1 else {})}
    with server(uvicorn_command("bench.stores:app", port, processes), port, env):
        load(target, BODY, {}, seconds=1, connections=16)  # warm up
        _idle(port)
        top = load(target, BODY, {}, seconds=3, connections=16).rps
        _idle(port)
        offered = fraction * top
        samples: list[tuple[float, dict[str, float]]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), _status(port)))
                stop.wait(1.0)

        before = _status(port)
        sampler = threading.Thread(target=sample)
        started = time.monotonic()
        sampler.start()
        paced = paced_load(port, offered, seconds)
        loaded = time.monotonic()
        stop.set()
        sampler.join()
        at_end = _status(port)
        after = _idle(port)
        drained = time.monotonic()
    window = loaded - started
    depths = [int(state["queued"]) for _, state in samples] + [int(at_end["queued"])]
    middle = depths[len(depths) // 2]
    return Sustained(
        max_acks=top, offered=offered, acks=paced.acked / window,
        executions=(at_end["done"] - before["done"]) / window,
        depth=[depths[0], middle, depths[-1]],
        oldest_age=max([float(state["oldest_age"]) for _, state in samples]
                       + [float(at_end["oldest_age"])]),
        drain=drained - loaded if after["done"] else 0.0, load=paced)


def report(results: dict[str, Sustained], seconds: float, fraction: float,
           processes: int = 1) -> str:
    lines = ["| store | max acks/s | offered/s | acks/s | executions/s | executions / acks "
             "| queue depth start / middle / end | oldest queued s | p99 ack ms | late "
             "| drain s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lat = r.load.latencies
        p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else 0.0
        lines.append(
            f"| {name} | {r.max_acks:,.0f} | {r.offered:,.0f} | {r.acks:,.0f} | "
            f"{r.executions:,.0f} | {r.executions / r.acks if r.acks else 0:.2f} | "
            f"{' / '.join(f'{d:,}' for d in r.depth)} | {r.oldest_age:.1f} | {p99:.1f} | "
            f"{r.load.late} | {r.drain:.1f} |")
    served = "1 worker" if processes == 1 else f"{processes} worker processes on one store"
    lines += ["", f"uvicorn ({served}, 4 engine workers each), async workflow of bench.stores, "
              f"{seconds:g} s at {fraction:.0%} of the store's highest ack rate, open-loop "
              f"client with 32 connections; {os.cpu_count()} CPUs shared by the server, the "
              f"load and the database. {server_flavour()}."]
    if not any(name.startswith("postgresql") for name in results):
        lines.append("PostgreSQL not measured: pass --postgres URL or set "
                     "WEBHOOK_WORKFLOW_TEST_POSTGRES.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sustained")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fraction", type=float, default=0.8,
                        help="share of the highest ack rate offered (default 0.8)")
    parser.add_argument("--postgres", default=os.environ.get("WEBHOOK_WORKFLOW_TEST_POSTGRES"),
                        help="postgresql://user@host/database (default: "
                        "$WEBHOOK_WORKFLOW_TEST_POSTGRES)")
    parser.add_argument("--processes", type=int, default=1,
                        help="uvicorn worker processes sharing the store (default 1)")
    args = parser.parse_args()
    results: dict[str, Sustained] = {}
    with stores(args.postgres) as urls:
        for name, url in urls.items():
            if name == "memory" or "synchronous_commit" in name:
                continue
            results[name] = measure_store(url, args.seconds, args.fraction, args.processes)
    print(report(results, args.seconds, args.fraction, args.processes))


if __name__ == "__main__":
    main()
