"""Time-ordered unique ids (snowflake style), for executions, jobs and ``$system``.

An id is ``milliseconds since 2020-11-10 (NocoBase's epoch) << 34 | instance << 12 |
sequence``: 22 random bits tell processes apart (several may share one store), 12 bits count
within a millisecond. The instance bits are drawn again in a forked child (``gunicorn
--preload`` forks workers after import), so two workers never share them.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

__all__ = ["INSTANCE_ID", "instance_id", "new_id", "snowflake"]

_EPOCH_MS = 1605024000_000

_lock = threading.Lock()
_last_ms = 0
_sequence = 0
_instance = secrets.randbits(22)
#: The id of this process at import (see :func:`instance_id` for the current one).
INSTANCE_ID = _instance


def _after_fork() -> None:
    global _instance, _last_ms, _sequence, _lock
    _instance = secrets.randbits(22)
    _last_ms = 0
    _sequence = 0
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def instance_id() -> int:
    """This process's random instance bits."""
    return _instance


def snowflake() -> int:
    """Return a new id, increasing within this process."""
    global _last_ms, _sequence
    with _lock:
        now = int(time.time() * 1000) - _EPOCH_MS
        if now <= _last_ms:
            # Same (or an earlier, after a clock step) millisecond: keep ids increasing.
            _sequence = (_sequence + 1) & 0xFFF
            if _sequence == 0:
                _last_ms += 1
            now = _last_ms
        else:
            _sequence = 0
            _last_ms = now
        return (now << 34) | (_instance << 12) | _sequence


def new_id() -> str:
    """Return a new id as a string (executions and jobs use these)."""
    return str(snowflake())
