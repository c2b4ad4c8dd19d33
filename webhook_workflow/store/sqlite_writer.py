"""One writer thread per SQLite store and process: group commit without lock contention.

Every write of the store is a small function of a connection. Callers submit it and wait
(or get a future). The writer thread takes all pending writes and runs them in ONE
transaction, each inside its own savepoint, so one failing write does not undo the others,
then commits once and answers every caller. Many concurrent webhook acknowledgements thus
share one commit, and threads of this process never wait on SQLite's file lock for each
other (other processes still do, through the busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import Any

from ..errors import StoreUnavailable

__all__ = ["Writer"]

#: Writes per transaction at most; keeps a commit (and the latency it adds) bounded.
MAX_BATCH = 256


def _unavailable(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return StoreUnavailable(f"sqlite: {exc}")
    return exc


class _Write:
    __slots__ = ("fn", "future", "raw")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], raw: bool) -> None:
        self.fn = fn
        self.raw = raw
        self.future: Future[Any] = Future()


class Writer:
    """Runs write functions on a dedicated thread, batching them into transactions."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._pending: deque[_Write] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False

    def submit(self, fn: Callable[[sqlite3.Connection], Any], *, raw: bool = False
               ) -> Future[Any]:
        """Queue a write; ``raw`` runs it outside any transaction (PRAGMAs)."""
        write = _Write(fn, raw)
        with self._ready:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            # Started lazily in the process that writes: a fork never inherits the thread.
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._pending.clear()
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="webhook-workflow-sqlite-writer")
                self._thread.start()
            self._pending.append(write)
            self._ready.notify()
        return write.future

    def run(self, fn: Callable[[sqlite3.Connection], Any], *, raw: bool = False) -> Any:
        """Submit a write and wait for its result (or its error)."""
        return self.submit(fn, raw=raw).result()

    def close(self, timeout: float = 10.0) -> None:
        """Finish the pending writes and stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the writer thread ------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            # Without a connection no write can run: fail the waiting ones (never leave them
            # hanging) and let the next submit try again with a new thread.
            with self._ready:
                failed = list(self._pending)
                self._pending.clear()
                self._thread = None
            for write in failed:
                write.future.set_exception(_unavailable(exc))
            return
        try:
            while True:
                with self._ready:
                    while not self._pending and not self._closed:
                        self._ready.wait()
                    if not self._pending:
                        return
                    batch: list[_Write] = []
                    while self._pending and len(batch) < MAX_BATCH:
                        if self._pending[0].raw:
                            if not batch:
                                batch.append(self._pending.popleft())
                            break
                        batch.append(self._pending.popleft())
                if batch[0].raw:
                    self._run_raw(conn, batch[0])
                else:
                    self._run_batch(conn, batch)
        finally:
            conn.close()

    @staticmethod
    def _run_raw(conn: sqlite3.Connection, write: _Write) -> None:
        try:
            write.future.set_result(write.fn(conn))
        except BaseException as exc:
            write.future.set_exception(_unavailable(exc))

    @staticmethod
    def _run_batch(conn: sqlite3.Connection, batch: list[_Write]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for write in batch:
                write.future.set_exception(_unavailable(exc))
            return
        done: list[tuple[_Write, Any]] = []
        for write in batch:
            try:
                conn.execute("SAVEPOINT write")
                result = write.fn(conn)
                conn.execute("RELEASE write")
            except BaseException as exc:
                write.future.set_exception(_unavailable(exc))
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK TO write")
                        conn.execute("RELEASE write")
                    continue
                # SQLite rolled the whole transaction back (e.g. disk full): the writes
                # done so far are gone too; say so and go on in a fresh transaction.
                lost = StoreUnavailable(f"sqlite: transaction rolled back: {exc}")
                for earlier, _ in done:
                    earlier.future.set_exception(lost)
                done = []
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error:
                    for rest in batch[batch.index(write) + 1:]:
                        rest.future.set_exception(lost)
                    return
                continue
            done.append((write, result))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for write, _ in done:
                write.future.set_exception(_unavailable(exc))
            return
        for write, result in done:
            write.future.set_result(result)
