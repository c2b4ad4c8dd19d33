"""The memory store's pages of the execution log (:class:`~.pages.Pages`)."""

from __future__ import annotations

import threading
from typing import Any

from ..records import Execution
from ..status import Status
from .compact import unpack
from .pages import ExecutionRow, row_of, status_key

__all__ = ["MemoryPages"]


class MemoryPages:
    """Part of :class:`~webhook_workflow.store.memory.MemoryStore` (a base class of it; the
    store sets these attributes in its constructor)."""

    _lock: threading.Lock
    _all: dict[str, Execution | tuple[int | None, str, bytes]]
    _keys: dict[tuple[str, str], Any]

    def _rows(self) -> list[tuple[int | None, str, Execution | bytes]]:
        """``(status, workflow key, execution or packed bytes)`` of every kept execution,
        the newest first (unpacked only when a filter or a page needs it)."""
        with self._lock:
            out: list[tuple[int | None, str, Execution | bytes]] = []
            for entry in reversed(self._all.values()):
                if entry.__class__ is tuple:
                    out.append(entry)
                else:
                    live: Any = entry
                    out.append((live.status, live.workflow_key, live))
            return out

    def page(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             since: float | None = None, until: float | None = None,
             before: str | None = None, replay_of: str | None = None,
             limit: int = 50) -> list[ExecutionRow]:
        out: list[ExecutionRow] = []
        seen_cursor = before is None
        timed = since is not None or until is not None or replay_of is not None
        for state, key, entry in self._rows():
            if len(out) >= limit:
                break
            if workflow_key is not None and key != workflow_key:
                continue
            if status == "queued":
                if state is not None:
                    continue
            elif status is not None and state != int(status):
                continue
            execution = entry if isinstance(entry, Execution) else None
            if not seen_cursor or timed:
                execution = execution or unpack(entry)  # type: ignore[arg-type]
                if not seen_cursor:
                    seen_cursor = execution.id == before
                    continue
                created = execution.created_at.timestamp()
                if (since is not None and created < since) or (
                        until is not None and created >= until) or (
                        replay_of is not None and execution.replay_of != replay_of):
                    continue
            out.append(row_of(execution or unpack(entry)))  # type: ignore[arg-type]
        if not seen_cursor:
            return []
        # Insertion order is the order they came in; a page lists by the time received.
        out.sort(key=lambda r: r.created_at, reverse=True)
        return out

    def status_counts(self, since: float) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for state, key, entry in self._rows():
            execution = entry if isinstance(entry, Execution) else unpack(entry)
            if execution.created_at.timestamp() < since:
                continue
            by = out.setdefault(key, {})
            name = status_key(state)
            by[name] = by.get(name, 0) + 1
        return out

    def idempotency_ids(self, key: str) -> list[str]:
        with self._lock:
            return [record.execution_id for (_, name), record in self._keys.items()
                    if name == key]
