"""``python -m bench``: run the benchmarks and write ``bench/results.md``.

Every figure is a ratio to a contender measured in the same run on the same machine; the
absolute numbers are context only (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import durability

HERE = Path(__file__).resolve().parent


def machine() -> str:
    """One line that says where the figures come from."""
    cpu = platform.processor() or platform.machine()
    return (f"{datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu})")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=5.0, help="load per measurement")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    args = parser.parse_args()
    sections = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        "",
        "## Durability: async acknowledgements per second, SQLite vs memory",
        "",
        durability.report(durability.measure(seconds=args.seconds)),
        "",
    ]
    text = "\n".join(sections)
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
