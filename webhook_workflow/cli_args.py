"""The command line's argument types: ports, counts, seconds and moments, each refused in one line.

argparse prints a refusal as ``argument --port: 70000 is out of range 0-65535`` and exits 2.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

__all__ = ["count", "moment", "mount_path", "port", "seconds", "slots"]

_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhdw])\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

N = TypeVar("N", int, float)


def _bounded(text: str, convert: Callable[[str], N], what: str, low: N,
             high: N | None, refusal: str) -> N:
    """``text`` converted, within ``low``..``high``; else an argparse refusal naming it."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not (low <= value and (high is None or value <= high) and math.isfinite(value)):
        raise argparse.ArgumentTypeError(refusal.format(text=text))
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    return _bounded(text, int, "a port number", 0, 65535, "{text} is out of range 0-65535")


def count(text: str) -> int:
    """A whole number, 0 or more."""
    return _bounded(text, int, "a whole number", 0, None, "{text} is negative")


def slots(text: str) -> int:
    """A whole number, 1 or more."""
    return _bounded(text, int, "a whole number", 1, None, "{text} is not 1 or more")


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    return _bounded(text, float, "a number of seconds", 0.0, None,
                    "{text} is not 0 or more seconds")


def moment(text: str) -> float:
    """A moment as epoch seconds: a time ago (``90s``, ``30m``, ``2h``, ``7d``, ``1w``) or an
    ISO 8601 date or time (``2026-12-07``, ``2026-12-07T10:00:00+01:00``; UTC unless it says)."""
    ago = _AGO.match(text.strip())
    if ago is not None:
        return time.time() - float(ago.group(1)) * _UNIT_SECONDS[ago.group(2)]
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time ago (30m, 2h, 7d) or an ISO 8601 date or time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def mount_path(text: str) -> str:
    """Where an app is mounted: ``/`` then path segments, no trailing ``/`` (``/ops``)."""
    if not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a path such as /ops (a leading /, no trailing /, no query)")
    return text
