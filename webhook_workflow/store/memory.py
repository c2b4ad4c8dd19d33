"""The in-memory store: the library default; bounded in count and bytes, lost at exit."""

from __future__ import annotations

import copy
import math
import secrets
import threading
from collections import deque
from collections.abc import Collection, Sequence
from typing import Any

from ..errors import StoreUnavailable
from ..records import Execution, Job
from ..status import Status
from .base import Idempotency, IdempotencyRecord
from .compact import pack, unpack
from .memory_flow import FlowBook
from .memory_pages import MemoryPages
from .memory_upkeep import MemoryUpkeep

__all__ = ["DEFAULT_MAX_BYTES", "MemoryStore"]

#: What the memory store keeps by default, in bytes of packed executions (128 MiB).
DEFAULT_MAX_BYTES = 128 * 1024 * 1024

#: A packed execution: ``(status or None, workflow key, bytes)``. A tuple of untracked values
#: is itself untracked by the garbage collector after its first collection.
_Packed = tuple[int | None, str, bytes]
_STARTED = int(Status.STARTED)


def _snapshot(execution: Execution) -> Execution:
    """A deep copy; retried because a worker thread may be appending jobs meanwhile."""
    for _ in range(10):
        try:
            return copy.deepcopy(execution)
        except RuntimeError:  # "changed size during iteration"
            continue
    return copy.deepcopy(execution)


def _packed(execution: Execution) -> _Packed:
    status = execution.status
    return (None if status is None else int(status), execution.workflow_key, pack(execution))


class MemoryStore(MemoryUpkeep, MemoryPages):
    """Keeps executions in process memory.

    An execution a worker is running is kept as the object the worker changes; every other
    one (queued, waiting on a timer, finished) is packed into bytes (:mod:`.compact`), which
    the garbage collector does not walk and whose size is exact. At most ``max_queue``
    executions wait in the queue; at most ``max_executions`` finished ones are kept, and
    together with the queued and waiting ones at most ``max_bytes`` bytes: the oldest finished
    ones are dropped first (the newest is always kept). A new queued execution that would take
    the queued and waiting ones over ``max_bytes`` (or ``max_queue``) is refused with
    :class:`StoreUnavailable` (the doors answer 503): acknowledged work is never dropped.
    Reads return copies, so callers never see an execution change under them.
    """

    def __init__(self, *, max_executions: int = 10_000, max_queue: int = 10_000,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_executions = max_executions
        self.max_queue = max_queue
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # Insertion-ordered (oldest first), as list() needs; a plain dict pops faster.
        self._all: dict[str, Execution | _Packed] = {}
        self._queue: deque[str] = deque()
        self._finished: deque[str] = deque()
        #: Bytes of the packed finished executions, and of the packed queued and waiting ones.
        self._finished_bytes = 0
        self._pending_bytes = 0
        #: Executions waiting on a timer: id -> epoch seconds when they are due.
        self._waiting: dict[str, float] = {}
        #: Cancels asked of running executions (request_cancel), by id.
        self._cancels: dict[str, str] = {}
        self._flow = FlowBook()
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._secret = secrets.token_bytes(32)
        self._versions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._keys: dict[tuple[str, str], IdempotencyRecord] = {}

    @property
    def kept_bytes(self) -> int:
        """Bytes of the packed executions the store holds now (finished, queued, waiting)."""
        with self._lock:
            return self._finished_bytes + self._pending_bytes

    # -- keeping entries and their bytes -----------------------------------------------------
    def _put(self, execution_id: str, entry: Execution | _Packed) -> None:
        self._forget(self._all.get(execution_id))
        self._all[execution_id] = entry
        if entry.__class__ is tuple:
            status, _, blob = entry
            if status is None or status == _STARTED:
                self._pending_bytes += len(blob)
            else:
                self._finished_bytes += len(blob)

    def _forget(self, entry: Execution | _Packed | None) -> None:
        if entry.__class__ is tuple:
            status, _, blob = entry
            if status is None or status == _STARTED:
                self._pending_bytes -= len(blob)
            else:
                self._finished_bytes -= len(blob)

    def _pop(self, execution_id: str) -> Execution | _Packed | None:
        entry = self._all.pop(execution_id, None)
        self._forget(entry)
        return entry

    def _keep_finished(self, execution_id: str, entry: _Packed) -> None:
        self._cancels.pop(execution_id, None)
        if self._callbacks:
            self._callbacks.pop(execution_id, None)
        old = self._all.get(execution_id)
        self._put(execution_id, entry)
        if not (old.__class__ is tuple and old[0] not in (None, _STARTED)):
            self._finished.append(execution_id)
        self._trim()

    def _trim(self, room: int = 0) -> None:
        """Drop the oldest finished executions over ``max_executions``, or while the kept
        bytes (plus ``room`` about to be added) exceed ``max_bytes``; the newest stays."""
        finished = self._finished
        while len(finished) > self.max_executions or (
                len(finished) > 1 and room + self._finished_bytes + self._pending_bytes
                > self.max_bytes):
            self._pop(finished.popleft())
        if room and finished and room + self._finished_bytes + self._pending_bytes \
                > self.max_bytes:
            self._pop(finished.popleft())

    def _live(self, execution_id: str) -> Execution | None:
        """The stored execution as an object (unpacked and kept so, for a worker to run)."""
        entry = self._all.get(execution_id)
        if entry is None or entry.__class__ is Execution:
            return entry
        execution = unpack(entry[2])  # type: ignore[index]
        self._put(execution_id, execution)
        return execution

    def _repack(self, execution_id: str, execution: Execution) -> None:
        packed = _packed(execution)
        if execution.finished:
            self._keep_finished(execution_id, packed)
        else:
            self._put(execution_id, packed)

    # -- the Store protocol ------------------------------------------------------------------
    def add(self, execution: Execution,
            idempotency: Idempotency | None = None) -> IdempotencyRecord | None:
        entry: Execution | _Packed = execution
        if execution.status is None or execution.finished:
            entry = _packed(execution)
        with self._lock:
            if idempotency is not None:
                ident = (idempotency.workflow_key, idempotency.key)
                found = self._keys.get(ident)
                now = self.clock.time()
                if found is not None and found.expires_at > now \
                        and not idempotency.takes_over(found):
                    return found
            if execution.status is None:
                if len(self._queue) >= self.max_queue:
                    raise StoreUnavailable(f"queue full ({self.max_queue} executions waiting)")
                size = len(entry[2])  # type: ignore[index]
                self._trim(size)
                if self._pending_bytes and self._pending_bytes + size > self.max_bytes:
                    raise StoreUnavailable(f"queue full ({self._pending_bytes} bytes of "
                                           f"executions waiting, max_bytes {self.max_bytes})")
                self._queue.append(execution.id)
                for earlier in self._flow.queued(execution):
                    self._cancel_queued(earlier, f"debounced:{execution.id}")
            if execution.finished:
                self._keep_finished(execution.id, entry)  # type: ignore[arg-type]
            else:
                self._put(execution.id, entry)
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
                now = self.clock.time()
                for execution_id, due in sorted(self._waiting.items(), key=lambda kv: kv[1]):
                    entry = self._all.get(execution_id)
                    status = None if entry is None else (
                        entry[0] if entry.__class__ is tuple
                        else entry.status)  # type: ignore[union-attr]
                    if status != _STARTED:
                        del self._waiting[execution_id]
                    elif due <= now and entry[1] in workflow_keys:  # type: ignore[index]
                        del self._waiting[execution_id]
                        woken = self._live(execution_id)
                        if woken is not None:
                            self._flow.started(woken, now, first=False)
                        return woken
            now = self.clock.time()
            for _ in range(len(self._queue)):
                execution_id = self._queue.popleft()
                entry = self._all.get(execution_id)
                if entry is None or entry.__class__ is not tuple \
                        or entry[0] is not None:
                    continue  # canceled or deleted while queued
                if entry[1] in workflow_keys and self._flow.may_start(execution_id, now):
                    execution = self._live(execution_id)
                    assert execution is not None
                    execution.status = Status.STARTED
                    self._flow.started(execution, now, first=True)
                    return execution
                self._queue.append(execution_id)
            return None

    def save(self, execution: Execution) -> None:
        packed = _packed(execution) if execution.finished else None
        with self._lock:
            if packed is None:
                self._put(execution.id, execution)
                return
            self._waiting.pop(execution.id, None)
            self._flow.stopped(execution.id)
            self._keep_finished(execution.id, packed)

    def save_jobs(self, execution: Execution, jobs: Sequence[Job]) -> None:
        """A running execution is the stored object itself; jobs changed on a copy (e.g. by
        ``engine.resume``) are written into the stored one."""
        with self._lock:
            entry = self._all.get(execution.id)
            if entry is None or entry is execution:
                return
            packed = entry.__class__ is tuple
            stored = unpack(entry[2]) if packed else entry  # type: ignore[index]
            assert isinstance(stored, Execution)
            by_id = {job.id: job for job in stored.jobs}
            for job in jobs:
                target = by_id.get(job.id)
                if target is None:
                    stored.jobs.append(copy.deepcopy(job))
                elif target is not job:
                    target.status, target.result, target.log = job.status, job.result, job.log
                    target.meta, target.finished_at = dict(job.meta), job.finished_at
            if packed:
                self._repack(execution.id, stored)

    def release(self, execution: Execution, wake_at: float | None) -> None:
        packed = _packed(execution)
        with self._lock:
            self._put(execution.id, packed)
            self._waiting[execution.id] = wake_at if wake_at is not None else float("inf")
            self._flow.stopped(execution.id)  # a waiting execution holds no concurrency slot
            self._trim()

    def reopen(self, execution: Execution, expected: Status, wake_at: float) -> bool:
        packed = _packed(execution)
        with self._lock:
            entry = self._all.get(execution.id)
            if entry is None:
                return False
            status = entry[0] if entry.__class__ is tuple else entry.status  # type: ignore[union-attr]
            if status is None or int(status) != int(expected):
                return False
            if execution.id in self._finished:
                self._finished.remove(execution.id)
            self._put(execution.id, packed)
            self._waiting[execution.id] = wake_at
            return True

    def detach(self, execution: Execution, owner: str, lease: float) -> None:
        with self._lock:
            execution.sync = False
            self._put(execution.id, execution)

    def wake(self, execution_id: str, job: Job | None = None) -> bool:
        with self._lock:
            now = self.clock.time()
            # Already due (woken, or its timer ran out): a worker is about to run it, and
            # a second wake must not overwrite what the first one handed over.
            if self._waiting.get(execution_id, now) <= now:
                return False
            self._waiting[execution_id] = now
            entry = self._all.get(execution_id)
            if job is not None and entry is not None:
                packed = entry.__class__ is tuple
                stored = unpack(entry[2]) if packed else entry  # type: ignore[index]
                assert isinstance(stored, Execution)
                for mine in stored.jobs:
                    if mine.id == job.id:
                        mine.result, mine.meta = job.result, dict(job.meta)
                if packed:
                    self._repack(execution_id, stored)
            return True

    def renew(self, owner: str, execution_ids: Collection[str], lease: float) -> None:
        """Nothing to do: memory executions cannot outlive their process."""

    @staticmethod
    def _copy(entry: Execution | _Packed) -> Execution:
        if entry.__class__ is tuple:
            return unpack(entry[2])
        return _snapshot(entry)  # type: ignore[arg-type]

    def get(self, execution_id: str) -> Execution | None:
        with self._lock:
            entry = self._all.get(execution_id)
            return None if entry is None else self._copy(entry)

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50, since: float | None = None,
             until: float | None = None) -> list[Execution]:
        out: list[Execution] = []
        if since is not None or until is not None:
            low = -math.inf if since is None else since
            high = math.inf if until is None else until
            return [e for e in self.list(workflow_key, status=status, limit=2**62)
                    if low <= e.created_at.timestamp() < high][:limit]
        with self._lock:
            for entry in reversed(self._all.values()):
                if len(out) >= limit:
                    break
                if entry.__class__ is tuple:
                    state, key = entry[0], entry[1]
                else:
                    state, key = entry.status, entry.workflow_key  # type: ignore[union-attr]
                if workflow_key is not None and key != workflow_key:
                    continue
                if status == "queued":
                    if state is not None:
                        continue
                elif status is not None and state != status:
                    continue
                out.append(self._copy(entry))
        return out

    def delete(self, execution_id: str) -> bool:
        with self._lock:
            self._flow.stopped(execution_id)
            return self._pop(execution_id) is not None

    def cancel(self, execution_id: str, reason: str = "manual_cancel") -> Execution | None:
        with self._lock:
            entry = self._all.get(execution_id)
            if entry is None:
                return None
            if execution_id in self._waiting:
                del self._waiting[execution_id]
                execution = self._copy(entry)
                for job in execution.jobs:
                    if job.status == Status.PENDING:
                        job.status, job.finished_at = Status.CANCELED, self.clock.time()
            elif entry.__class__ is not tuple or entry[0] is not None:
                return None
            else:
                self._queue.remove(execution_id)  # frees its queue slot at once
                execution = unpack(entry[2])
            execution.status = Status.CANCELED
            execution.finished_at = self.clock.time()
            execution.reason = reason
            self._flow.stopped(execution_id)
            self._keep_finished(execution_id, _packed(execution))
            return execution  # a copy: the store keeps only the packed bytes

    def _cancel_queued(self, execution_id: str, reason: str) -> None:
        """Cancel a queued execution (the lock is held): a debounced one."""
        entry = self._all.get(execution_id)
        if entry is None or entry.__class__ is not tuple or entry[0] is not None:
            return
        self._queue.remove(execution_id)
        execution = unpack(entry[2])
        execution.status, execution.finished_at = Status.CANCELED, self.clock.time()
        execution.reason = reason
        self._keep_finished(execution_id, _packed(execution))

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        with self._lock:
            count = 0
            for execution_id in self._queue:
                entry = self._all.get(execution_id)
                if entry is not None and entry.__class__ is tuple \
                        and entry[0] is None and (
                            workflow_keys is None or entry[1] in workflow_keys):
                    count += 1
            return count

    def close(self) -> None:
        """Nothing to release; kept for the Store protocol."""
