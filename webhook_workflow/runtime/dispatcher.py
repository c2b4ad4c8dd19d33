"""Background workers for async executions, independent of any host event loop.

Worker threads are created lazily by :meth:`Dispatcher.start` in the serving process (never at
import, so ``gunicorn --preload`` forks before any thread exists). Each worker claims queued
executions from the store and runs them; :meth:`drain` waits until nothing is queued or running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection

from ..errors import StoreUnavailable
from ..ids import new_id
from ..instruments import NO_INSTRUMENTS, Instruments
from ..logs import fields
from ..records import Execution
from ..store.base import Store

__all__ = ["Dispatcher"]

logger = logging.getLogger("webhook_workflow.dispatcher")

# How long an idle worker sleeps before looking at the store again when nobody notified it;
# a notification (a new execution in this process) wakes it at once.
POLL_SECONDS = 0.5


class Dispatcher:
    """Runs queued executions on ``workers`` threads."""

    def __init__(self, store: Store, run: Callable[[Execution], None],
                 workflow_keys: Callable[[], Collection[str]], workers: int = 4, *,
                 lease: float = 30.0, retention: dict[str, float] | None = None) -> None:
        self.store = store
        self.lease = lease
        self.retention = retention
        #: Ids of the executions this process runs now (async and sync): their leases are
        #: renewed by the heartbeat.
        self.running: set[str] = set()
        #: Cancels asked of executions this process runs (by id: the reason), found by the
        #: heartbeat in the store or set here; a run stops before its next node.
        self.cancels: dict[str, str] = {}
        self.owner = f"worker-{new_id()}"
        #: Told of the store calls that fail here (set by the engine).
        self.instruments: Instruments = NO_INSTRUMENTS
        self._run = run
        self._keys = workflow_keys
        self._size = workers
        self._threads: list[threading.Thread] = []
        self._wake = threading.Condition()
        self._idle = threading.Condition()
        self._running = 0
        self._stopping = False
        self._halt = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def started(self) -> bool:
        """True while worker threads are running."""
        return bool(self._threads)

    def start(self) -> None:
        """Start the worker threads (idempotent)."""
        with self._wake:
            if self._threads:
                return
            self._stopping = False
            self._halt.clear()
            for i in range(self._size):
                thread = threading.Thread(target=self._work, name=f"webhook-workflow-{i}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            heartbeat = threading.Thread(target=self._heartbeat, daemon=True,
                                         name="webhook-workflow-heartbeat")
            self._threads.append(heartbeat)
            heartbeat.start()
            # A store that announces new work (PostgreSQL LISTEN/NOTIFY) wakes idle workers
            # at once, also for work added by other hosts; polling stays as the fallback.
            subscribe = getattr(self.store, "subscribe", None)
            if subscribe is not None and self._unsubscribe is None:
                try:
                    self._unsubscribe = subscribe(self.notify)
                except Exception:
                    logger.exception("subscribing to the store's announcements failed")

    def _heartbeat(self) -> None:
        """Renew the leases of running executions; apply retention now and then."""
        interval = max(0.05, self.lease / 3)
        pruned_at = 0.0
        while not self._halt.wait(interval):
            try:
                running = list(self.running)
                if running:
                    self.store.renew(self.owner, running, self.lease)
                    asked = self.store.cancel_requests(running)
                    if asked:
                        self.cancels.update(asked)
                if time.monotonic() - pruned_at > 60:
                    pruned_at = time.monotonic()
                    if self.retention:
                        self.store.prune(**self.retention)  # type: ignore[attr-defined]
                    # Sync runs of processes that died (several processes on one store).
                    abort = getattr(self.store, "abort_orphaned_sync", None)
                    if abort is not None:
                        abort()
            except Exception as exc:  # a busy or broken store must not stop the heartbeat
                self.instruments.store_error("renew", exc)
                logger.exception("renewing leases failed")

    def notify(self) -> None:
        """Tell one idle worker that an execution was queued."""
        with self._wake:
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
            execution = None
            # Counted as running before the claim, so drain() never sees a claimed execution
            # as neither queued nor running.
            with self._idle:
                self._running += 1
            try:
                execution = self.store.claim(self.owner, self._keys(), self.lease)
            except StoreUnavailable as exc:  # an outage: one line, not a traceback a tick
                self.instruments.store_error("claim", exc)
                logger.warning("claiming an execution failed: %s", exc)
            except Exception as exc:  # a store hiccup must not kill the worker
                self.instruments.store_error("claim", exc)
                logger.exception("claiming an execution failed")
            if execution is None:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()
                with self._wake:
                    if self._stopping:
                        return
                    self._wake.wait(POLL_SECONDS)
                continue
            try:
                self.running.add(execution.id)
                self._run(execution)
            except Exception:
                logger.exception("execution %s: unexpected error in the worker", execution.id,
                                 extra=fields(execution.id, execution.workflow_key))
            finally:
                self.running.discard(execution.id)
                self.cancels.pop(execution.id, None)
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

    def run_due(self) -> int:
        """Claim and run executions in this thread until the store hands out none (queued
        ones, and waiting ones that are due); how many ran."""
        ran = 0
        while True:
            with self._idle:  # counted as running before the claim, as a worker does
                self._running += 1
            try:
                execution = self.store.claim(self.owner, self._keys(), self.lease)
                if execution is None:
                    return ran
                self.running.add(execution.id)
                try:
                    self._run(execution)
                finally:
                    self.running.discard(execution.id)
                    self.cancels.pop(execution.id, None)
                ran += 1
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

    def hold(self) -> None:
        """Count a run that goes on outside the workers (a sync run past ``syncWait``) as
        running until :meth:`release`, so :meth:`drain` and shutdown wait for it."""
        with self._idle:
            self._running += 1

    def release(self) -> None:
        """The run counted by :meth:`hold` ended."""
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    def busy(self) -> bool:
        """True while an execution of ours is queued or running."""
        # The queue first: a worker counts itself running before it claims, so an execution
        # leaving the queue after this read is seen as running below.
        if self.store.queued_count(self._keys()) > 0:
            return True
        with self._idle:
            return self._running > 0

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no execution runs here (queued ones may wait on); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._running > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.05))
            return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or running; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.busy():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.notify()
            with self._idle:
                self._idle.wait(min(remaining, 0.05))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers after their current execution."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._wake:
            self._stopping = True
            self._halt.set()
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
