"""Time-ordered unique ids (snowflake style), for executions, jobs and ``$system``.

An id is a 63-bit number, so it fits a signed ``BIGINT``: 41 bits of milliseconds since
NocoBase's epoch (2020-11-10T16:00:00Z; they last until 2090), 10 bits of the process's
instance number (0..1023) and a 12-bit sequence within the millisecond. Ids are handed out as
strings (a JavaScript number keeps 53 bits only). Within a process ids strictly increase: 4096
ids in one millisecond wait for the next one, and a clock that steps back is not followed
(the ids go on from the last millisecond used).

Ids are unique across processes when no two of them use one instance number at once. A
durable store hands the numbers out (:mod:`webhook_workflow.store.instances` grants them to
:data:`generator` through a :class:`Keeper`); without one (the memory store serves one
process) the process draws its number at random. A forked child (``gunicorn --preload``) never
goes on with its parent's number: it claims its own before its first id, or draws a new one.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

__all__ = ["EPOCH_MS", "INSTANCE_ID", "MAX_INSTANCE", "MAX_SEQUENCE", "IdGenerator", "Keeper",
           "generator", "give_ids", "id_parts", "instance_id", "new_id", "snowflake"]

#: NocoBase's epoch (2020-11-10T16:00:00Z) in milliseconds since 1970.
EPOCH_MS: Final = 1_605_024_000_000
_INSTANCE_BITS: Final = 10
_SEQUENCE_BITS: Final = 12
_TIME_LIMIT: Final = 1 << 41
#: The highest instance number.
MAX_INSTANCE: Final = (1 << _INSTANCE_BITS) - 1
#: The highest sequence number within one millisecond.
MAX_SEQUENCE: Final = (1 << _SEQUENCE_BITS) - 1


class Keeper(Protocol):
    """Where a generator gets its instance number from (a durable store's claim)."""

    def refresh(self) -> None:
        """Claim or renew the number now and :meth:`IdGenerator.grant` it; raise
        (:class:`~webhook_workflow.errors.StoreUnavailable`) when that cannot be done."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _random_instance(other: int | None = None) -> int:
    number = secrets.randbelow(MAX_INSTANCE + 1)
    while number == other:
        number = secrets.randbelow(MAX_INSTANCE + 1)
    return number


class IdGenerator:
    """Makes ids for one instance number; thread-safe.

    Without a :attr:`keeper` the number is the one given and never lapses. With one, the number
    holds until the time :meth:`grant` says; past it (or after :meth:`revoke`) the next id
    first asks the keeper for a number again, and fails rather than reuse a lapsed one.
    """

    def __init__(self, instance: int, clock: Callable[[], int] = _wall_ms) -> None:
        _check(instance)
        self._lock = threading.Lock()
        #: Milliseconds since 1970 (``time.time_ns() // 1_000_000``); tests put in their own.
        self.clock = clock
        #: Who grants the number (None: the number is this process's own).
        self.keeper: Keeper | None = None
        self._instance: int | None = instance
        self._good_until = math.inf  # time.monotonic() after which the number may be gone
        # The epoch at start: a clock set before 2020 still gives positive ids.
        self._last_ms = EPOCH_MS
        self._sequence = MAX_SEQUENCE

    # -- the instance number -------------------------------------------------------------------
    def grant(self, instance: int, good_until: float, floor_ms: int = 0) -> None:
        """Use ``instance`` until ``good_until`` (a ``time.monotonic()`` value). ``floor_ms``:
        the last millisecond a previous holder of the number may have used; later ids start
        after it."""
        _check(instance)
        with self._lock:
            self._instance = instance
            self._good_until = good_until
            if floor_ms >= self._last_ms:
                self._last_ms = floor_ms
                self._sequence = MAX_SEQUENCE  # the next id moves past that millisecond

    def revoke(self) -> None:
        """Forget the number: the next id waits for the keeper to grant one."""
        with self._lock:
            self._instance = None
            self._good_until = -math.inf

    def release_to(self, instance: int) -> None:
        """Go on without a keeper, with ``instance`` as this process's own number."""
        _check(instance)
        with self._lock:
            self.keeper = None
            self._instance = instance
            self._good_until = math.inf

    def holds(self) -> bool:
        """True while ids may use the current number without asking the keeper."""
        with self._lock:
            return self._instance is not None and (self.keeper is None
                                                   or time.monotonic() < self._good_until)

    @property
    def last_ms(self) -> int:
        """The millisecond (since 1970) of the latest id made."""
        return self._last_ms

    def instance(self) -> int:
        """The instance number ids get now (claimed first if it lapsed)."""
        while True:
            with self._lock:
                keeper = self.keeper
                if self._instance is not None and (
                        keeper is None or time.monotonic() < self._good_until):
                    return self._instance
            self._refresh(keeper)

    def _refresh(self, keeper: Keeper | None) -> None:
        # Outside the lock: the keeper talks to the store, and other threads' ids wait only
        # if they too find the number lapsed.
        if keeper is None:
            raise RuntimeError("no instance number and no keeper to claim one")
        keeper.refresh()

    # -- ids -----------------------------------------------------------------------------------
    def next(self) -> int:
        """A new id."""
        return self.many(1)[0]

    def many(self, count: int) -> list[int]:
        """``count`` new ids, in order, drawn under one lock (the jobs of an execution)."""
        while True:
            with self._lock:
                instance = self._instance
                if instance is not None and (self.keeper is None
                                             or time.monotonic() < self._good_until):
                    now = self.clock()
                    if now > self._last_ms:  # the usual case: a new millisecond
                        self._last_ms, self._sequence = now, -1
                    # One reading of the clock for the block: its ids share a millisecond
                    # and follow each other in sequence, until the sequence runs out.
                    made: list[int] = []
                    node = instance << 12
                    for _ in range(count):
                        if self._sequence < MAX_SEQUENCE:
                            self._sequence += 1
                        else:
                            self._next_millisecond(self.clock())
                        made.append(((self._last_ms - EPOCH_MS) << 22) | node | self._sequence)
                    if self._last_ms - EPOCH_MS >= _TIME_LIMIT:
                        raise OverflowError("ids ran out of time bits (2090-07-18)")
                    return made
                keeper = self.keeper
            self._refresh(keeper)

    def _next_millisecond(self, now: int) -> None:
        """The 4096 ids of the last millisecond are used: move on to a later one."""
        last = self._last_ms
        while now == last:  # the clock is at it: wait for the next (at most a millisecond)
            now = self.clock()
        # A clock behind (it stepped back) is not followed: go on from the last millisecond.
        self._last_ms, self._sequence = max(now, last + 1), 0

    # -- fork ----------------------------------------------------------------------------------
    def _before_fork(self) -> None:
        self._lock.acquire()

    def _after_fork_parent(self) -> None:
        self._lock.release()

    def _after_fork_child(self) -> None:
        # The lock was held across the fork by the forking thread: a fresh one is free.
        self._lock = threading.Lock()
        if self.keeper is not None:
            # The parent still holds the claimed number: claim another before the next id.
            self._instance = None
            self._good_until = -math.inf
        else:
            self._instance = _random_instance(self._instance)


def _check(instance: int) -> None:
    if not 0 <= instance <= MAX_INSTANCE:
        raise ValueError(f"an instance number is 0..{MAX_INSTANCE}, not {instance}")


def id_parts(value: int | str) -> tuple[int, int, int]:
    """An id's (milliseconds since 1970, instance number, sequence)."""
    number = int(value)
    if not 0 <= number < 1 << 63:
        raise ValueError(f"{value!r} is not a 63-bit id")
    return ((number >> 22) + EPOCH_MS, (number >> 12) & MAX_INSTANCE, number & MAX_SEQUENCE)


#: This process's generator (every id of the library comes from it).
generator = IdGenerator(_random_instance())
#: The instance number this process drew at import (:func:`instance_id` is the current one).
INSTANCE_ID = generator.instance()

os.register_at_fork(before=generator._before_fork,
                    after_in_parent=generator._after_fork_parent,
                    after_in_child=generator._after_fork_child)


def instance_id() -> int:
    """The instance number of this process now (0..1023)."""
    return generator.instance()


def snowflake() -> int:
    """A new id: unique across the processes sharing a store, ordered by time."""
    return generator.next()


def new_id() -> str:
    """A new id as a string (executions and jobs use these)."""
    return str(generator.next())


def give_ids(jobs: Iterable[Any]) -> None:
    """Give each job of ``jobs`` without an id yet its id, all drawn at once: a store that
    records an execution's jobs pays one lock for them, not one each."""
    missing = [job for job in jobs if job._id is None]
    if missing:
        for job, number in zip(missing, generator.many(len(missing)), strict=True):
            job._id = str(number)
