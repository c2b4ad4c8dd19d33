"""The in-memory store: the library default; bounded, lost when the process ends."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict, deque
from collections.abc import Collection

from ..errors import StoreUnavailable
from ..runtime.records import Execution, utcnow
from ..runtime.status import Status

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
        self._all: OrderedDict[str, Execution] = OrderedDict()
        self._queue: deque[str] = deque()
        self._finished: deque[str] = deque()

    def add(self, execution: Execution) -> None:
        with self._lock:
            if execution.status is None:
                if len(self._queue) >= self.max_queue:
                    raise StoreUnavailable(f"queue full ({self.max_queue} executions waiting)")
                self._queue.append(execution.id)
            self._all[execution.id] = execution
            if execution.finished:
                self._keep_finished(execution.id)

    def claim(self, owner: str, workflow_keys: Collection[str]) -> Execution | None:
        with self._lock:
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
            if execution.id not in self._all:
                self._all[execution.id] = execution
            else:
                self._all[execution.id] = execution
            if execution.finished:
                self._keep_finished(execution.id)

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
            if execution is None or execution.status is not None:
                return None
            execution.status = Status.CANCELED
            execution.finished_at = utcnow()
            self._queue.remove(execution_id)  # frees its queue slot at once
            self._keep_finished(execution_id)
            return _snapshot(execution)

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        with self._lock:
            return sum(1 for i in self._queue if (e := self._all.get(i)) is not None
                       and e.status is None
                       and (workflow_keys is None or e.workflow_key in workflow_keys))

    def close(self) -> None:
        """Nothing to release; kept for the Store protocol."""
