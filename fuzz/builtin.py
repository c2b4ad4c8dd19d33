"""A small coverage-guided mutation fuzzer, used where atheris is not installed.

It keeps a corpus (the seeds first), mutates a chosen input (bit flips, byte and block edits,
splices, HTTP-aware tokens from a dictionary), runs it under a line tracer restricted to the
library, and keeps every input that reaches a line pair (an edge) not seen before. Runs are
deterministic for a given seed and number of runs; with a time bound they stop at the deadline.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["DICTIONARY", "Campaign", "fuzz"]

#: Tokens that matter to the request path; inserted whole by the mutator.
DICTIONARY: tuple[bytes, ...] = (
    b"\r\n", b"\r\n\r\n", b": ", b"POST", b"GET", b"HTTP/1.1", b"Content-Length: ",
    b"Content-Type: application/json", b"Transfer-Encoding: chunked", b"Authorization: Basic ",
    b"c2hvcDpzM2NyZXQ=", b"application/", b"+json", b"; charset=", b"[", b"]", b"[]", b"[0]",
    b"{", b"}", b'"', b"\\u", b"\\ud800", b"1e999", b"NaN", b"-", b"9" * 40, b"%", b"%5B",
    b"%ff", b"&", b"=", b"?", b"/api/webhook:trigger/", b"payment-callback", b"echo-hook",
    b"strict-hook", b"async-hook", b"\xe2\x82\xac", b"\xff", b"\x00", b"0\r\n\r\n",
    b'{"order":{"id":', b'"status":"paid"}}', b"X-Request-Id: ",
)

PACKAGE = str(Path(__file__).resolve().parent.parent / "webhook_workflow")


@dataclass
class Campaign:
    """What a run found and how far it got."""

    runs: int = 0
    corpus: list[bytes] = field(default_factory=list)
    edges: set[tuple[str, int, int]] = field(default_factory=set)
    failures: list[tuple[bytes, BaseException]] = field(default_factory=list)


class _Coverage:
    """Line-pair coverage of the library for one run (this thread only: the engine's worker
    threads run executions, not the request path)."""

    def __init__(self) -> None:
        self.edges: set[tuple[str, int, int]] = set()
        self._previous: Any = None

    def __enter__(self) -> _Coverage:
        edges = self.edges

        def frame_tracer() -> Callable[[FrameType, str, Any], Any]:
            last = 0

            def local(frame: FrameType, event: str, arg: Any) -> Any:
                nonlocal last
                if event == "line":
                    edges.add((frame.f_code.co_filename, last, frame.f_lineno))
                    last = frame.f_lineno
                return local

            return local

        def outer(frame: FrameType, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename.startswith(PACKAGE):
                return frame_tracer()
            return None

        self._previous = sys.gettrace()
        sys.settrace(outer)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to four random edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(9)
        pos = rng.randint(0, len(out))
        if choice == 0 and out:  # flip a bit
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and out:  # set a byte
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif choice == 2:  # insert a dictionary token
            out[pos:pos] = rng.choice(DICTIONARY)
        elif choice == 3 and out:  # delete a block
            end = min(len(out), pos + rng.randint(1, 32))
            del out[pos:end]
        elif choice == 4 and out:  # duplicate a block, maybe many times
            start = rng.randrange(len(out))
            block = out[start:start + rng.randint(1, 16)]
            out[pos:pos] = block * rng.choice((1, 2, 8, 64, 512))
        elif choice == 5 and corpus:  # splice another input
            other = rng.choice(corpus)
            cut = rng.randint(0, len(other))
            out = out[:pos] + bytearray(other[cut:])
        elif choice == 6:  # an ASCII digit run (sizes, lengths, indices)
            out[pos:pos] = str(rng.choice((0, 1, 100, 1024, 1025, 10**6, 10**30))).encode()
        elif choice == 7 and out:  # swap case of a letter run
            i = rng.randrange(len(out))
            out[i:i + 8] = bytes(out[i:i + 8]).swapcase()
        else:  # insert random bytes
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        if len(out) > 200_000:
            del out[200_000:]
    return bytes(out)


def fuzz(run_one: Callable[[bytes], None], seeds: list[bytes], *, seconds: float,
         max_runs: int | None = None, seed: int = 0,
         on_failure: Callable[[bytes, BaseException], None] | None = None) -> Campaign:
    """Run the campaign until ``seconds`` pass (or ``max_runs``); failures are collected."""
    rng = random.Random(seed)
    campaign = Campaign()
    deadline = time.monotonic() + seconds
    queue = list(seeds) or [b""]
    while time.monotonic() < deadline and (max_runs is None or campaign.runs < max_runs):
        if queue:
            data = queue.pop(0)
        else:
            data = mutate(rng, rng.choice(campaign.corpus or seeds or [b""]), campaign.corpus)
        coverage = _Coverage()
        try:
            with coverage:
                run_one(data)
        except Exception as exc:
            campaign.failures.append((data, exc))
            if on_failure is not None:
                on_failure(data, exc)
        campaign.runs += 1
        new = coverage.edges - campaign.edges
        if new:
            campaign.edges |= new
            campaign.corpus.append(data)
    return campaign
