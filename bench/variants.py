"""The JSON variant of a run: which JSON library the library and every contender use.

``stdlib``: the library is forced to the stdlib (``WEBHOOK_WORKFLOW_JSON=stdlib``) and the
contenders use :mod:`json`. ``orjson`` (the ``speed`` extra): the library uses orjson
(``WEBHOOK_WORKFLOW_JSON=orjson``) and so do the contenders.

The environment variable is the one switch, for the library and the contenders alike. The
library reads it once, when :mod:`webhook_workflow.jsoncodec` is first imported, so a process
keeps the variant it started with: the bench sets it before anything imports the library,
runs each in-process variant in a fresh subprocess and passes it to every server it starts.
Every process that times or serves a door checks that the library really took the variant
(:func:`check_library`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The library's switch (read by :mod:`webhook_workflow.jsoncodec` at import).
ENV = "WEBHOOK_WORKFLOW_JSON"
VARIANTS = ("stdlib", "orjson")
CHOICES = (*VARIANTS, "both")
#: The variant of the sections that do not compare contenders (scaling, memory, durability).
BASELINE = "stdlib"

Loads = Callable[[bytes], Any]
DumpsBytes = Callable[[Any], bytes]


def have_orjson() -> bool:
    """Whether orjson can be imported here (the ``speed`` extra)."""
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


def default_choice() -> str:
    """``both`` when orjson is importable, else ``stdlib``."""
    return "both" if have_orjson() else "stdlib"


def selected(choice: str) -> tuple[str, ...]:
    """The variants a ``--json`` choice runs; ValueError when it needs a missing orjson."""
    if choice not in CHOICES:
        raise ValueError(f"unknown JSON variant {choice!r}; choose one of {', '.join(CHOICES)}")
    wanted = VARIANTS if choice == "both" else (choice,)
    if "orjson" in wanted and not have_orjson():
        raise ValueError(f"--json {choice} needs orjson, which is not installed here: "
                         "pip install -e '.[speed]' (or use --json stdlib)")
    return wanted


def current() -> str:
    """The variant of this process, read from the environment as the library reads it: the
    stdlib when ``WEBHOOK_WORKFLOW_JSON`` is ``stdlib`` or orjson is missing, else orjson."""
    if os.environ.get(ENV, "").lower() == "stdlib" or not have_orjson():
        return "stdlib"
    return "orjson"


def environ(variant: str) -> dict[str, str]:
    """The environment entries that make a new process run ``variant``."""
    return {ENV: variant}


def check_library(variant: str) -> None:
    """Raise RuntimeError unless the library in this process uses ``variant``'s codec."""
    from webhook_workflow import jsoncodec

    backend = jsoncodec.BACKEND
    if backend != variant:
        raise RuntimeError(f"the library uses {backend} JSON, not {variant} "
                           f"({ENV}={os.environ.get(ENV)!r} when it was imported)")


def _stdlib_dumps_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def codec(variant: str) -> tuple[Loads, DumpsBytes]:
    """``(loads, dumps_bytes)`` of ``variant`` for the hand-written contenders: compact UTF-8
    JSON either way (orjson writes it so by default)."""
    if variant == "orjson":
        import orjson

        return orjson.loads, orjson.dumps
    return json.loads, _stdlib_dumps_bytes


def describe(variant: str) -> str:
    """The library behind ``variant``, with its version."""
    if variant == "orjson":
        from importlib.metadata import version

        return f"orjson {version('orjson')}"
    return "stdlib `json`"


def run_module(args: Sequence[str], variant: str) -> str:
    """Run ``python -m ARGS`` in a fresh process set to ``variant``; its standard output.

    The child's standard error passes through (progress and errors stay visible).
    """
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT,
                          env={**os.environ, **environ(variant)}, stdout=subprocess.PIPE,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"`python -m {' '.join(args)}` ({ENV}={variant}) failed with "
                           f"exit status {done.returncode}")
    return done.stdout
