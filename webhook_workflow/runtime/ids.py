"""Time-ordered unique ids (snowflake style), for executions, jobs and ``$system``.

An id is ``milliseconds since 2020-11-10 (NocoBase's epoch) << 38 | instance << 16 |
counter``: 22 random bits tell processes apart (several may share one store), 16 bits of a
counter keep ids apart within a millisecond. The instance bits are drawn again in a forked
child (``gunicorn --preload`` forks workers after import), so two workers never share them.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time

__all__ = ["INSTANCE_ID", "instance_id", "new_id", "snowflake"]

_EPOCH_MS = 1605024000_000

_instance = secrets.randbits(22)
_counter = itertools.count()
#: The id of this process at import (see :func:`instance_id` for the current one).
INSTANCE_ID = _instance


def _after_fork() -> None:
    global _instance, _counter
    _instance = secrets.randbits(22)
    _counter = itertools.count()


os.register_at_fork(after_in_child=_after_fork)


def instance_id() -> int:
    """This process's random instance bits."""
    return _instance


def snowflake() -> int:
    """Return a new id: unique across processes, ordered by time to the millisecond.

    No lock: ``next()`` on a counter is atomic in CPython, and 16 bits of it per millisecond
    cannot wrap (that would take 65 536 ids in one millisecond).
    """
    return ((time.time_ns() // 1_000_000 - _EPOCH_MS) << 38) | (_instance << 16) | (
        next(_counter) & 0xFFFF)


def new_id() -> str:
    """Return a new id as a string (executions and jobs use these)."""
    return str(snowflake())
