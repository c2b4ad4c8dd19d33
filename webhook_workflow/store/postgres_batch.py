"""The PostgreSQL store's writer threads and its listener, and the writes they carry.

The writer threads batch many writes into one transaction and one commit; the listener turns
``LISTEN``/``NOTIFY`` announcements and due timers into wake-ups for idle workers. Both work
against small Protocols of what they need of the store (:class:`_RunsBatches`,
:class:`_Connects`), so this module never imports the store's modules above it.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Any, Protocol

import psycopg
import psycopg.errors

from ..errors import StoreUnavailable
from .postgres_sql import (
    MAX_BATCH,
    MAX_TIMERS,
    RETRY_DELAY,
    Conn,
    Cur,
    _Sql,
    logger,
)

__all__: list[str] = []

# -- writing in batches --------------------------------------------------------------------------
class _Refused(StoreUnavailable):
    """A write refused before it changed anything (queue full): the batch goes on."""


class _Batch:
    """What one transaction announces once committed: new work and timers."""

    __slots__ = ("queued", "timers", "work")

    def __init__(self) -> None:
        self.work = 0
        self.queued = 0
        self.timers: list[float] = []


WriteFn = Callable[[Cur, _Batch], Any]


class _Write:
    __slots__ = ("fn", "future", "lock", "pipelined")

    def __init__(self, fn: WriteFn, pipelined: bool, lock: tuple[str, str] | None) -> None:
        self.fn = fn
        self.pipelined = pipelined
        #: The idempotency key whose row the write locks until its transaction commits.
        self.lock = lock
        self.future: Future[Any] = Future()

    def order(self) -> tuple[bool, tuple[str, str]]:
        """Where the write goes in its batch: the ones locking a key last, by key. Every
        transaction then locks keys in the same order, so two writers (of one process or of
        two hosts) taking the same keys wait for each other instead of deadlocking."""
        return (self.lock is not None, self.lock or ("", ""))


class _Failed(Exception):
    """A write of a batch failed (``write``: which one, if known); the transaction was rolled
    back."""

    def __init__(self, write: _Write | None, error: BaseException, transient: bool) -> None:
        super().__init__(str(error))
        self.write = write
        self.error = error
        self.transient = transient


class _Lost(Exception):
    """The connection broke; ``committing``: while committing (the outcome is unknown)."""

    def __init__(self, error: BaseException, committing: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.committing = committing


class _RunsBatches(Protocol):
    """What the writer threads need of the store: a way to commit one batch of writes
    (:class:`~webhook_workflow.store.postgres_conn.PostgresConnections` provides it)."""

    def _run_batch(self, conn: Conn | None, batch: list[_Write]) -> Conn | None:
        """Commit ``batch`` on ``conn`` (a new connection if None); the connection to keep."""
        ...


class _Writers:
    """Writer threads sharing one queue of writes; each batches what is pending into one
    transaction on its own connection. Started lazily in the process that writes."""

    def __init__(self, store: _RunsBatches, count: int) -> None:
        self._store = store
        self._count = count
        self._pending: deque[_Write] = deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._pid = 0
        self._closed = False

    def submit(self, fn: WriteFn, *, pipelined: bool = False,
               lock: tuple[str, str] | None = None) -> Future[Any]:
        """Queue a write; ``pipelined``: it reads no result (its statements may go out
        without waiting for each answer); ``lock``: the idempotency key it takes."""
        write = _Write(fn, pipelined, lock)
        with self._ready:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if not self._threads or self._pid != os.getpid():
                # A forked child never inherits the threads (nor may it use the connections).
                self._pid = os.getpid()
                self._pending.clear()
                self._threads = [threading.Thread(target=self._loop, daemon=True,
                                                  name=f"webhook-workflow-pg-writer-{i}")
                                 for i in range(self._count)]
                for thread in self._threads:
                    thread.start()
            self._pending.append(write)
            self._ready.notify()
        return write.future

    def run(self, fn: WriteFn, *, pipelined: bool = False,
            lock: tuple[str, str] | None = None) -> Any:
        return self.submit(fn, pipelined=pipelined, lock=lock).result()

    def close(self, timeout: float = 10.0) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            threads = self._threads if self._pid == os.getpid() else []
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        conn: Conn | None = None
        try:
            while True:
                with self._ready:
                    while not self._pending and not self._closed:
                        self._ready.wait()
                    if not self._pending:
                        return
                    batch = [self._pending.popleft()
                             for _ in range(min(MAX_BATCH, len(self._pending)))]
                conn = self._store._run_batch(conn, batch)
        finally:
            if conn is not None:
                with suppress(Exception):
                    conn.close()


# -- waking workers -------------------------------------------------------------------------------
class _Connects(Protocol):
    """What the listener needs of the store: its own connections, its channel and timers,
    and the mark of its own announcements (the store's connection base class provides them)."""

    @property
    def origin(self) -> str:
        """The mark of this store's announcements (its own listener skips them)."""
        ...

    @property
    def sql(self) -> _Sql:
        """The store's statements (the channel name and the query of pending timers)."""
        ...

    def _connect(self, *, autocommit: bool = False) -> Conn:
        """A new connection of the listener's own."""
        ...


class _Listener:
    """``LISTEN`` on the store's channel on a connection of its own; calls the subscribers
    when another process committed work, and when a timer announced by any process is due."""

    def __init__(self, store: _Connects) -> None:
        self._store = store
        self._lock = threading.Condition()
        self._callbacks: list[Callable[[], None]] = []
        self._timers: list[float] = []
        self._woken = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="webhook-workflow-pg-listener")
        self._thread.start()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock, suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def wait(self, timeout: float) -> bool:
        with self._lock:
            seen = self._woken
            return self._lock.wait_for(lambda: self._woken != seen, timeout)

    def stop(self, timeout: float = 2.0, *, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _fire(self, times: int) -> None:
        with self._lock:
            self._woken += 1
            self._lock.notify_all()
            callbacks = list(self._callbacks)
        for _ in range(min(times, 16)):
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    logger.exception("a work subscriber failed")

    def _handle(self, payload: str) -> None:
        origin, _, rest = payload.partition(" ")
        work, _, timers = rest.partition(" ")
        with self._lock:
            for text in timers.split():
                with suppress(ValueError):
                    if len(self._timers) < MAX_TIMERS:
                        heapq.heappush(self._timers, float(text))
        if origin != self._store.origin and work.isdigit() and int(work) > 0:
            self._fire(int(work))

    def _due(self) -> float:
        """Fire the timers that are due; the seconds until the next one (at most 1)."""
        now = time.time()
        due = 0
        with self._lock:
            while self._timers and self._timers[0] <= now:
                heapq.heappop(self._timers)
                due += 1
            following = self._timers[0] - now if self._timers else 1.0
        if due:
            self._fire(due)
        return max(0.0, min(1.0, following))

    def _loop(self) -> None:
        conn: Conn | None = None
        while not self._stop.is_set():
            if conn is None:
                try:
                    conn = self._store._connect(autocommit=True)
                    conn.execute(f"LISTEN {self._store.sql.channel}")
                    # Timers set before this listener listened (by any host, any time).
                    upcoming = conn.execute(self._store.sql.timers).fetchall()
                except (psycopg.Error, StoreUnavailable):
                    if conn is not None:
                        with suppress(Exception):
                            conn.close()
                    conn = None
                    self._stop.wait(min(1.0, self._due()) or RETRY_DELAY)
                    continue
                with self._lock:
                    self._timers = sorted({*self._timers, *(row[0] for row in upcoming)})
                self._fire(1)  # work may have been announced while nobody listened
            try:
                for notice in conn.notifies(timeout=min(0.5, self._due()) or 0.01,
                                            stop_after=1):
                    self._handle(notice.payload)
            except psycopg.Error:
                with suppress(Exception):
                    conn.close()
                conn = None
        if conn is not None:
            with suppress(Exception):
                conn.close()


