"""The memory store's book of flow control: which queued executions may start, and when.

The durable stores read the same rules from their rows (see the SQLite store's claim); the
memory store keeps them here, under its lock: the flow mark of every queued execution that
has one, the executions of each concurrency key that run now, the recent starts of each
throttle key and the queued executions of each debounce key.
"""

from __future__ import annotations

from collections import defaultdict, deque

from ..records import Execution, FlowMark

__all__ = ["FlowBook"]


class FlowBook:
    """Flow-control bookkeeping for one memory store (not thread-safe: the store locks)."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[str, FlowMark]] = {}  # queued id -> (workflow, mark)
        self.running: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.holding: dict[str, tuple[str, str]] = {}  # running id -> its concurrency key
        self.starts: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.debounced: dict[tuple[str, str], set[str]] = defaultdict(set)

    def queued(self, execution: Execution) -> list[str]:
        """Note a queued execution; the ids of the queued ones it debounces (to cancel)."""
        flow = execution.flow
        if flow is None:
            return []
        key = execution.workflow_key
        self.marks[execution.id] = (key, flow)
        if flow.debounce_key is None:
            return []
        bucket = self.debounced[(key, flow.debounce_key)]
        earlier = sorted(bucket)
        for ident in earlier:
            self.marks.pop(ident, None)
        bucket.clear()
        bucket.add(execution.id)
        return earlier

    def may_start(self, execution_id: str, now: float) -> bool:
        """True when the queued execution may be handed to a worker now."""
        found = self.marks.get(execution_id)
        if found is None:
            return True
        key, flow = found
        if flow.not_before is not None and flow.not_before > now:
            return False
        if flow.concurrency_limit is not None and len(
                self.running[(key, flow.concurrency_key or "")]) >= flow.concurrency_limit:
            return False
        if flow.throttle_limit is not None and flow.throttle_period is not None:
            starts = self.starts[(key, flow.throttle_key or "")]
            while starts and starts[0] <= now - flow.throttle_period:
                starts.popleft()
            if len(starts) >= flow.throttle_limit:
                return False
        return True

    def started(self, execution: Execution, now: float, first: bool) -> None:
        """A worker took the execution (``first``: from the queue, not woken)."""
        flow = execution.flow
        if flow is None:
            return
        key = execution.workflow_key
        self.marks.pop(execution.id, None)
        if flow.debounce_key is not None:
            self.debounced[(key, flow.debounce_key)].discard(execution.id)
        if flow.concurrency_limit is not None:
            slot = (key, flow.concurrency_key or "")
            self.running[slot].add(execution.id)
            self.holding[execution.id] = slot
        if first and flow.throttle_limit is not None:
            self.starts[(key, flow.throttle_key or "")].append(now)

    def stopped(self, execution_id: str) -> None:
        """The execution no longer runs (it ended, waits, or was canceled)."""
        slot = self.holding.pop(execution_id, None)
        if slot is not None:
            self.running[slot].discard(execution_id)
        found = self.marks.pop(execution_id, None)
        if found is not None and found[1].debounce_key is not None:
            self.debounced[(found[0], found[1].debounce_key)].discard(execution_id)
