"""Time-ordered unique ids (snowflake style), for executions, jobs and ``$system``."""

from __future__ import annotations

import os
import secrets
import threading
import time

__all__ = ["INSTANCE_ID", "new_id", "snowflake"]

# 41 bits of milliseconds since 2020-11-10 (NocoBase's epoch), 10 bits of instance, 12 of sequence.
_EPOCH_MS = 1605024000_000
#: A random id of this process; distinguishes processes that share one store.
INSTANCE_ID = (os.getpid() ^ secrets.randbits(10)) & 0x3FF

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def snowflake() -> int:
    """Return a new 63-bit id, increasing within this process."""
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
        return (now << 22) | (INSTANCE_ID << 12) | _sequence


def new_id() -> str:
    """Return a new id as a string (executions and jobs use these)."""
    return str(snowflake())
