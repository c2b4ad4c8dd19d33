"""The records a run produces: :class:`Job` (one node run) and :class:`Execution` (one run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ids import new_id
from .status import Status, execution_status_name

__all__ = ["Execution", "Job", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Job:
    """The record of one node run.

    Custom nodes may return ``Job(status=..., result=..., log=...)`` to choose the status;
    the engine fills in the other fields.
    """

    status: Status = Status.RESOLVED
    result: Any = None
    log: str | None = None
    node_key: str = ""
    id: str = field(default_factory=new_id)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Bookkeeping of the run loop: ``seq`` orders saves, ``branch`` marks a started branch.
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (datetimes stay datetimes)."""
        return {
            "id": self.id,
            "node_key": self.node_key,
            "status": int(self.status),
            "result": self.result,
            "log": self.log,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(slots=True)
class Execution:
    """One run of a workflow version, from the trigger to its final status.

    ``status`` is ``None`` while the execution waits in the queue. ``response`` holds the HTTP
    answer of a sync execution (``{"status", "headers", "body"}``), else ``None``.
    """

    workflow_key: str
    version: int
    context: dict[str, Any]
    status: Status | None = None
    sync: bool = False
    output: Any = None
    response: dict[str, Any] | None = None
    replay_of: str | None = None
    #: The execution whose ``subflow`` node started this one, if any.
    parent_id: str | None = None
    #: Workflow keys of the ancestors (subflow chains), oldest first; bounds recursion.
    stack: list[str] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    jobs: list[Job] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """True once the execution has a final status."""
        return self.status is not None and self.status != Status.STARTED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view of the execution and its jobs (datetimes stay datetimes)."""
        return {
            "id": self.id,
            "workflow_key": self.workflow_key,
            "version": self.version,
            "status": None if self.status is None else int(self.status),
            "status_name": execution_status_name(self.status),
            "sync": self.sync,
            "context": self.context,
            "output": self.output,
            "response": self.response,
            "replay_of": self.replay_of,
            "parent_id": self.parent_id,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "jobs": [job.to_dict() for job in self.jobs],
        }
