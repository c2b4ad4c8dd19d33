"""The :class:`Store` protocol: where executions are recorded, queued, claimed and kept."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, runtime_checkable

from ..runtime.records import Execution
from ..runtime.status import Status

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Records executions. Implementations must be safe to call from several threads.

    ``add`` must have recorded the execution when it returns (an async webhook is acknowledged
    right after it) or raise :class:`~webhook_workflow.errors.StoreUnavailable`.
    """

    def add(self, execution: Execution) -> None:
        """Record a new execution (queued when its status is None, else started)."""

    def claim(self, owner: str, workflow_keys: Collection[str]) -> Execution | None:
        """Atomically take the oldest queued execution of one of ``workflow_keys``."""

    def save(self, execution: Execution) -> None:
        """Write an execution's current state (status, jobs, output, response, times)."""

    def get(self, execution_id: str) -> Execution | None:
        """One execution with its jobs, or None."""

    def list(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             limit: int = 50) -> list[Execution]:
        """Executions newest first; ``status`` is a Status or ``"queued"``."""

    def delete(self, execution_id: str) -> bool:
        """Forget an execution; True if it existed."""

    def cancel(self, execution_id: str) -> Execution | None:
        """Mark a queued execution CANCELED (and finished) atomically; return it, or None if
        it was not queued."""

    def queued_count(self, workflow_keys: Collection[str] | None = None) -> int:
        """How many executions (of ``workflow_keys``, or of any workflow) wait in the queue."""

    def close(self) -> None:
        """Release resources."""
