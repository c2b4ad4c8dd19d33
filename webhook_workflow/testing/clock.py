"""A fake clock for tests: time stands still until :meth:`FakeClock.advance` moves it.

Give it to an engine (``Engine(clock=FakeClock())``, or use the ``webhook_clock`` fixture with
``webhook_engine``) and every wait of its runs elapses when the test says so, at once:
``advance(seconds)`` moves the clock to each due time in turn (a ``delay``, a retry's next
attempt, a ``callback``'s timeout) and runs what is due in the calling thread, so the test
sees the outcome as soon as ``advance`` returns. A sync run's own waits (the pause between
two attempts of a node) move the clock forward by themselves, instantly; so its
``options.timeout`` and ``options.syncWait`` budgets run out exactly when those waits add up
to them.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ..clock import Clock

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["FakeClock"]

_T = TypeVar("_T")

#: How precisely stored times are kept (seconds).
_SLACK = 1e-6

#: How often (real seconds) a ``join`` looks whether the thread it waits for has ended.
_POLL = 0.005


class FakeClock:
    """A :class:`~webhook_workflow.clock.Clock` that moves only when told to.

    ``start`` is its wall time at first (epoch seconds; default: now, to the second).
    :meth:`time` and :meth:`monotonic` then move together, by :meth:`advance` and by the
    sync waits of runs, never by themselves. Engines made with it are woken by
    :meth:`advance`.
    """

    def __init__(self, start: float | None = None) -> None:
        # Whole seconds by default: times are stored to the microsecond, and a whole start
        # keeps the moments a test advances to exact.
        self._wall = float(int(time.time())) if start is None else float(start)
        self._mono = time.monotonic()
        #: Seconds the clock has moved since it was made.
        self._moved = 0.0
        self._cond = threading.Condition()
        # The moments (as ``_moved``) at which a join in progress stops waiting.
        self._joins: list[float] = []
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"<FakeClock at {self.time():.3f}, moved {self._moved:g} s>"

    # -- the Clock protocol -----------------------------------------------------------------
    def time(self) -> float:
        """The fake wall time, in epoch seconds."""
        return self._wall + self._moved

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self._mono + self._moved

    async def sleep(self, seconds: float) -> None:
        """A run's own wait: the clock moves by ``seconds`` at once (stopping at each join's
        budget on the way, until that join has decided its answer)."""
        self._move_by(max(0.0, float(seconds)))

    def join(self, start: Callable[[], threading.Thread], seconds: float,
             then: Callable[[], _T]) -> _T:
        """Start a thread, wait until it ends or the clock moves ``seconds`` on, then return
        ``then()``; a wait that would move the clock past that moment holds there until
        ``then`` has returned, so the answer depends on fake time alone."""
        with self._cond:
            until = self._moved + max(0.0, float(seconds))
            self._joins.append(until)
        try:
            thread = start()
            while thread.is_alive():
                with self._cond:
                    if self._moved >= until:
                        break
                    self._cond.wait(_POLL)
            return then()
        finally:
            with self._cond:
                self._joins.remove(until)
                self._cond.notify_all()

    # -- what tests call ------------------------------------------------------------------
    @property
    def moved(self) -> float:
        """Seconds the clock has moved since it was made."""
        return self._moved

    def attach(self, engine: Engine) -> None:
        """Wake ``engine``'s due executions on :meth:`advance` (done by ``Engine(clock=...)``)."""
        self._engines.add(engine)

    def advance(self, seconds: float, *, timeout: float = 10.0) -> None:
        """Move the clock ``seconds`` forward and run what falls due on the way.

        The clock stops at each moment a waiting execution of an engine made with it is due
        (a ``delay``'s end, a retry's next attempt, a ``callback``'s timeout) and runs those
        executions in this thread; then it moves to the end and runs what is due there (and
        what is queued), and waits (up to ``timeout`` real seconds) for runs the engines'
        workers took meanwhile. Throttle and debounce windows are judged at those moments.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"advance: give seconds >= 0, not {seconds!r}")
        end = self._moved + float(seconds)
        while True:
            self._run_due()
            due = self._next_due()
            # Stored times are exact to the microsecond: a due time that far past the end
            # is due at the end, and the clock moves a microsecond past each due time.
            if due is None or due > end + _SLACK or due + _SLACK <= self._moved:
                break
            self._move_to(due + _SLACK)
        self._move_to(end)
        self._run_due()
        for engine in list(self._engines):
            # Not drain: an execution a throttle holds in the queue waits for the clock.
            if engine.dispatcher.started and not engine.dispatcher.settle(timeout):
                raise TimeoutError(f"advance: executions still running after {timeout} s")

    # -- inside ---------------------------------------------------------------------------
    def _move_to(self, moment: float) -> None:
        with self._cond:
            if moment > self._moved:
                self._moved = moment
                self._cond.notify_all()

    def _move_by(self, seconds: float) -> None:
        with self._cond:
            end = self._moved + seconds
            while True:
                # A join whose budget ends on the way decides its answer at that moment.
                passed = [until for until in self._joins if until <= end]
                if not passed:
                    break
                stop = min(passed)
                if stop > self._moved:
                    self._moved = stop
                self._cond.notify_all()
                while stop in self._joins:
                    self._cond.wait()
            if end > self._moved:
                self._moved = end
            self._cond.notify_all()

    def _run_due(self) -> None:
        for engine in list(self._engines):
            engine.run_due()

    def _next_due(self) -> float | None:
        """The earliest due time of a waiting execution of the engines (as ``_moved``)."""
        dues = []
        for engine in list(self._engines):
            next_wake = getattr(engine.store, "next_wake", None)
            if next_wake is not None:
                due = next_wake(engine.catalog.keys())
                if due is not None:
                    dues.append(due - self._wall)
        return min(dues) if dues else None



if TYPE_CHECKING:
    _CHECKED: Clock = FakeClock()  # FakeClock satisfies the Clock protocol
