"""The clock an engine reads: wall time, monotonic time, and the waits of a run (``Clock``).

Every moment a run depends on is read through one :class:`Clock`: when a job starts and
ends (and so when a ``delay`` or a ``callback`` is due), retry times, a sync run's budget
(``options.timeout``, ``syncWait``), throttle and debounce windows, idempotency keys' ages.
The engine's default, :data:`SYSTEM_CLOCK`, is the ``time`` module itself (its methods are
the very functions, so reading it costs what ``time.time()`` costs); tests give a fake one
(:class:`webhook_workflow.testing.FakeClock`) under which waits elapse when told to.
"""

from __future__ import annotations

import asyncio
import threading
import time as _time
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]

_T = TypeVar("_T")


@runtime_checkable
class Clock(Protocol):
    """What an engine needs of a clock."""

    def time(self) -> float:
        """The wall time, in epoch seconds (as :func:`time.time`)."""

    def monotonic(self) -> float:
        """Seconds of a clock that never goes back (as :func:`time.monotonic`)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a sync run's wait between two attempts of a node)."""

    def join(self, start: Callable[[], threading.Thread], seconds: float,
             then: Callable[[], _T]) -> _T:
        """Start a thread (``start()``), wait until it ends or ``seconds`` pass, whichever is
        first, then return ``then()`` (a sync run's ``syncWait``: ``then`` decides its
        answer). The wait counts from before the thread starts."""


class SystemClock:
    """The real clock: the functions of the :mod:`time` module."""

    __slots__ = ()

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)
    sleep = staticmethod(asyncio.sleep)

    @staticmethod
    def join(start: Callable[[], threading.Thread], seconds: float,
             then: Callable[[], _T]) -> _T:
        """``start().join(seconds)``, then ``then()``."""
        start().join(seconds)
        return then()

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


#: The clock of every engine not given another one.
SYSTEM_CLOCK = SystemClock()
