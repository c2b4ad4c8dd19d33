"""``python -m fuzz --seconds N [--engine auto|atheris|builtin] [--seed S] [--artifacts DIR]``."""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

from .target import SEEDS, Finding

__all__ = ["main"]


def seeds() -> list[bytes]:
    """The corpus requests, smallest first (big ones are mutated less usefully)."""
    return sorted((p.read_bytes() for p in SEEDS.glob("*.http")), key=len)


class Findings:
    """Inputs that broke an invariant, grouped by what broke (a few inputs kept per kind)."""

    def __init__(self, artifacts: Path, keep: int = 5) -> None:
        self.artifacts = artifacts
        self.keep = keep
        self.kinds: dict[str, int] = {}
        artifacts.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return sum(self.kinds.values())

    def add(self, data: bytes, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        kind = re.sub(r"\d+", "N", message)[:80]
        seen = self.kinds.get(kind, 0)
        self.kinds[kind] = seen + 1
        if seen < self.keep:
            path = self.artifacts / f"finding-{hashlib.sha1(data).hexdigest()[:16]}.http"
            path.write_bytes(data)
            path.with_suffix(".txt").write_text(message + "\n")
            if seen == 0:
                print(f"FINDING {message[:300]} -> {path}", flush=True)

    def summary(self) -> str:
        lines = [f"  {count:6d} x {kind}" for kind, count in
                 sorted(self.kinds.items(), key=lambda item: -item[1])]
        return "\n".join([f"{len(self)} findings of {len(self.kinds)} kinds", *lines])


def run_builtin(args: argparse.Namespace) -> int:
    from .builtin import fuzz
    from .target import Target

    target = Target()
    findings = Findings(args.artifacts)
    try:
        campaign = fuzz(target.run, seeds(), seconds=args.seconds, max_runs=args.runs,
                        seed=args.seed, on_failure=findings.add)
    finally:
        target.close()
    print(f"builtin fuzzer: {campaign.runs} runs, {len(campaign.corpus)} inputs kept, "
          f"{len(campaign.edges)} edges; {findings.summary()}", flush=True)
    return 1 if len(findings) else 0


def run_atheris(args: argparse.Namespace) -> int:
    """libFuzzer stops at its first crash; here a finding is saved and the run goes on, and
    the process ends itself at the deadline with status 1 when anything was found."""
    import os
    import time

    import atheris

    with atheris.instrument_imports(include=["webhook_workflow"]):
        import webhook_workflow.wsgi  # noqa: F401  (instrumented before the target loads it)

    from .target import Target

    target = Target()
    work = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
    for i, data in enumerate(seeds()):
        (work / f"seed-{i:03d}").write_bytes(data)
    findings = Findings(args.artifacts)
    deadline = time.monotonic() + args.seconds

    def finish() -> None:
        print(f"atheris: {target.runs} runs; {findings.summary()}", flush=True)
        target.close()
        shutil.rmtree(work, ignore_errors=True)
        os._exit(1 if len(findings) else 0)

    def one_input(data: bytes) -> None:
        try:
            target.run(data)
        except Finding as error:
            findings.add(data, error)
        if time.monotonic() > deadline or (args.runs is not None and target.runs >= args.runs):
            finish()

    libfuzzer = [sys.argv[0], str(work), f"-max_total_time={int(args.seconds) + 60}",
                 f"-seed={args.seed + 1}", "-timeout=10", "-rss_limit_mb=4096",
                 "-max_len=262144", f"-artifact_prefix={args.artifacts}/"]
    atheris.Setup(libfuzzer, one_input)
    atheris.Fuzz()  # returns only through finish() (or libFuzzer's own exit on a real crash)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    parser.add_argument("--runs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--engine", choices=("auto", "atheris", "builtin"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-findings"),
                        help="where inputs that break an invariant are written")
    args = parser.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "builtin"
        else:
            engine = "atheris"
    print(f"fuzzing the WSGI request path with {engine} for {args.seconds:g} s", flush=True)
    return run_atheris(args) if engine == "atheris" else run_builtin(args)


if __name__ == "__main__":
    sys.exit(main())
