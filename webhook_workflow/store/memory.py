"""The in-memory store: the library default; bounded, lost when the process ends."""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Collection, Sequence
from typing import Any

from ..errors import StoreUnavailable
from ..runtime.records import Execution, Job, utcnow
from ..runtime.status import Status
from .base import Idempotency, IdempotencyRecord

__all__ = ["MemoryStore"]


def _snapshot(execution: Execution) -> Execution:
    """A deep copy; retried because a worker thread may be appending jobs meanwhile."""
    for _ in range(10):
        try:
            return copy.deepcopy(execution)
        except RuntimeError:  # "changed size during iteration"
            continue
    return copy.deepcopy(execution)


class MemoryStore:
    """Keeps executions in process memory.

    At most ``max_queue`` executions wait in the queue (more → :class:`StoreUnavailable`, which
    the doors answer with 503); at most ``max_executions`` finished ones are kept (oldest
    dropped first). Reads return copies, so callers never see an execution change under them.
    """

    def __init__(self, *, max_executions: int = 10_000, max_queue: int = 10_000) -> None:
        self.max_executions = max_executions
        self.max_queue = max_queue
        self._lock = threading.Lock()
        # Insertion-ordered (oldest first), as list() needs; a plain dict pops faster.
        self._all: dict[str, Execution] = {}
        self._queue: deque[str] = deque()
        self._finished: deque[str] = deque()
        #: Executions waiting on a timer: id -> epoch seconds when they are due.
        self._waiting: dict[str, float] = {}
        self._versions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._keys: dict[tuple[str, str], IdempotencyRecord] = {}

    def add(self, execution: Execution,
            idempotency: Idempotency | None = None) -> IdempotencyRecord | None:
        with self._lock:
            if idempotency is not None:
                ident = (idempotency.workflow_key, idempotency.key)
                found = self._keys.get(ident)
                now = time.time()
                if found is not None and found.expires_at > now \
                        and not idempotency.takes_over(found):
                    return found
            if execution.status is None:
                if len(self._queue) >= self.max_queue:
                    raise StoreUnavailable(f"queue full ({self.max_queue} executions waiting)")
                self._queue.append(execution.id)
            self._all[execution.id] = execution
            if execution.finished:
                self._keep_finished(execution.id)
            if idempotency is not None:
                if len(self._keys) > 2 * self.max_executions:
                    self._keys = {k: r for k, r in self._keys.items() if r.expires_at > now}
                self._keys[ident] = IdempotencyRecord(execution.id, idempotency.answer,
                                                      now + idempotency.ttl)
            return None

    def remember(self, workflow_key: str, key: str, answer: dict[str, Any]) -> None:
        with self._lock:
            found = self._keys.get((workflow_key, key))
            if found is not None:
                self._keys[(workflow_key, key)] = IdempotencyRecord(
                    found.execution_id, answer, found.expires_at)

    def claim(self, owner: str, workflow_keys: Collection[str],
              lease: float = 30.0) -> Execution | None:
        with self._lock:
            if self._waiting:
                now = time.time()
                for execution_id, due in sorted(self._waiting.items(), key=lambda kv: kv[1]):
                    execution = self._all.get(execution_id)
                    if execution is None or execution.status != Status.STARTED:
                        del self._waiting[execution_id]
                    elif due <= now and execution.workflow_key in workflow_keys:
                        del self._waiting[execution_id]
                        return execution
            for _ in range(len(self._queue)):
                execution_id = self._queue.popleft()
                execution = self._all.get(execution_id)
                if execution is None or execution.status is not None:
                    continue  # canceled or deleted while queued
                if execution.workflow_key in workflow_keys:
                    execution.status = Status.STARTED
                    return execution
                self._queue.append(execution_id)
            return None

    def save(self, execution: Execution) -> None:
        with self._lock:
            self._all[execution.id] = execution
            if execution.finished:
                self._waiting.pop(execution.id, None)
                self._keep_finished(execution.id)

    def save_jobs(self, execution: Execution, jobs: Sequence[Job]) -> None:
        """A running execution is the stored object itself; jobs changed on a copy (e.g. by
        ``engine.resume``) are written into the stored one."""
        with self._lock:
            stored = self._all.get(execution.id)
            if stored is None or stored is execution:
                return
            by_id = {job.id: job for job in stored.jobs}
            for job in jobs:
                target = by_id.get(job.id)
                if target is None:
                    stored.jobs.append(copy.deepcopy(job))
                elif target is not job:
                    target.status, target.result, target.log = job.status, job.result, job.log
                    target.meta, target.finished_at = dict(job.meta), job.finished_at

    def release(self, execution: Execution, wake_at: float | None) -> None:
        with self._lock:
            self._all[execution.id] = execution
            self._waiting[execution.id] = wake_at if wake_at is not None else float("inf")

    def detach(self, execution: Execution, owner: str, lease: float) -> None:
        with self._lock:
            execution.sync = False
            self._all[execution.id] = execution

    def wake(self, execution_id: str, job: Job | None = None) -> bool:
        with self._lock:
            now = time.time()
            # Already due (woken, or its timer ran out): a worker is about to run it, and
            # a second wake must not overwrite what the first one handed over.
            if self._waiting.get(execution_id, now) <= now:
                return False
            self._waiting[execution_id] = now
            stored = self._all.get(execution_id)
            if job is not None and stored is not None:
                for mine in stored.jobs:
                    if mine.id == job.id:
                        mine.result = job.result
            return True

    def renew(self, owner: str, execution_ids: Collection[str], lease: float) -> None:
        """Nothing to do: memory executions cannot outlive their process."""

    def save_version(self, key: str, digest: str, definition: dict[str, Any]) -> int:
        with self._lock:
            versions = self._versions.setdefault(key, [])
            if not versions or versions[-1][0] != digest:
                versions.append((digest, definition))
            return len(versions)

    def latest_version(self, key: str) -> int | None:
        with self._lock:
            return len(self._versions[key]) if self._versions.get(key) else None

    def load_version(self, key: str, version: int) -> dict[str, Any] | None:
        with self._lock:
            versions = self._versions.get(key, [])
            return versions[version - 1][1] if 1 <= version <= len(versions) else None

    def _keep_finished(self, execution_id: str) -> None:
        self._finished.append(execution_id)
        while len(self._finished) > self.max_executions:
            old = self._finished.popleft()
            self._all.pop(old, None)

    def get(self, execution_id: str) -> Execution | None:
        with self._lock:
            execution = self._all.get(execution_id)
            return None if execution is None else _snapshot(execution)

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50) -> list[Execution]:
        out: list[Execution] = []
        with self._lock:
            for execution in reversed(self._all.values()):
                if len(out) >= limit:
                    break
                if workflow_key is not None and execution.workflow_key != workflow_key:
                    continue
                if status == "queued":
                    if execution.status is not None:
                        continue
                elif status is not None and execution.status != status:
                    continue
                out.append(_snapshot(execution))
        return out

    def delete(self, execution_id: str) -> bool:
        with self._lock:
            return self._all.pop(execution_id, None) is not None

    def cancel(self, execution_id: str) -> Execution | None:
        with self._lock:
            execution = self._all.get(execution_id)
            if execution is None:
                return None
            if execution_id in self._waiting:
                del self._waiting[execution_id]
                for job in execution.jobs:
                    if job.status == Status.PENDING:
                        job.status, job.finished_at = Status.CANCELED, utcnow()
            elif execution.status is not None:
                return None
            else:
                self._queue.remove(execution_id)  # frees its queue slot at once
            execution.status = Status.CANCELED
            execution.finished_at = utcnow()
            self._keep_finished(execution_id)
            return _snapshot(execution)

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        with self._lock:
            return sum(1 for i in self._queue if (e := self._all.get(i)) is not None
                       and e.status is None
                       and (workflow_keys is None or e.workflow_key in workflow_keys))

    def close(self) -> None:
        """Nothing to release; kept for the Store protocol."""
