"""What the memory store keeps beside the run: versions, cancel requests, callbacks."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Collection
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..ids import id_parts
from ..records import Execution
from ..status import Status
from .compact import unpack

__all__ = ["MemoryUpkeep"]

_STARTED = int(Status.STARTED)


class MemoryUpkeep:
    """Part of :class:`~webhook_workflow.store.memory.MemoryStore` (a base class of it; the
    store sets these attributes in its constructor)."""

    _lock: threading.Lock
    _versions: dict[str, list[tuple[str, dict[str, Any]]]]
    _cancels: dict[str, str]
    _all: dict[str, Execution | tuple[int | None, str, bytes]]
    _queue: deque[str]
    #: Callbacks by execution id, then node key: their requests.
    _callbacks: dict[str, dict[str, Any]]
    _secret: bytes
    _waiting: dict[str, float]
    #: The clock due times, idempotency keys and ends are read from (the engine's; a fake
    #: one in tests, whose advance wakes what is due at once).
    clock: Clock = SYSTEM_CLOCK

    def next_wake(self, workflow_keys: Collection[str] | None = None) -> float | None:
        """When the first waiting execution (of ``workflow_keys``) is due, in epoch seconds;
        None when none waits on a timer."""
        with self._lock:
            dues = [due for execution_id, due in self._waiting.items()
                    if due != float("inf") and (workflow_keys is None or (
                        (entry := self._all.get(execution_id)) is not None
                        and (entry[1] if entry.__class__ is tuple
                             else entry.workflow_key) in workflow_keys))]  # type: ignore[union-attr]
            return min(dues) if dues else None

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

    def oldest_queued_at(self, workflow_keys: Collection[str] | None = None) -> float | None:
        """When the oldest execution (of ``workflow_keys``) still queued came in (epoch
        seconds), or None when none is queued."""
        with self._lock:  # a copy: the walk below must not hold requests up
            queued = list(self._queue)
        oldest: float | None = None
        for execution_id in queued:
            entry = self._all.get(execution_id)
            if not isinstance(entry, tuple) or entry[0] is not None or (
                    workflow_keys is not None and entry[1] not in workflow_keys):
                continue
            try:  # an id tells when it was drawn, as the execution was made
                came = id_parts(execution_id)[0] / 1000
            except ValueError:  # an id given by hand
                came = unpack(entry[2]).created_at.timestamp()
            oldest = came if oldest is None else min(oldest, came)
        return oldest

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        with self._lock:
            entry = self._all.get(execution_id)
            # A running execution is kept unpacked; a waiting one is packed (cancel() is for
            # it).
            if entry is None or entry.__class__ is tuple or entry.status != _STARTED:  # type: ignore[union-attr]
                return False
            self._cancels[execution_id] = reason
            return True

    def cancel_requests(self, execution_ids: Collection[str]) -> dict[str, str]:
        with self._lock:
            return {i: self._cancels[i] for i in execution_ids if i in self._cancels}

    # -- callbacks (nodes.callback) ---------------------------------------------------------
    def record_callback(self, execution_id: str, node_key: str, payload: Any) -> bool:
        """Record the one callback of a waiting node; False when one was recorded before."""
        with self._lock:
            mine = self._callbacks.setdefault(execution_id, {})
            if node_key in mine:
                return False
            mine[node_key] = copy.deepcopy(payload)
            return True

    def callbacks_of(self, execution_id: str) -> dict[str, Any]:
        """The callbacks recorded for an execution, by node key. A node whose job is no
        longer PENDING has used its callback: reading them again changes nothing."""
        with self._lock:
            return copy.deepcopy(self._callbacks.get(execution_id, {}))

    def shared_secret(self) -> bytes:
        """The key resume URLs are signed with (this store lives in one process)."""
        return self._secret

