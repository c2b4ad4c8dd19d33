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


_RESOLVED = Status.RESOLVED


class Job:
    """The record of one node run.

    Custom nodes may return ``Job(status=..., result=..., log=...)`` to choose the status;
    the engine fills in the other fields. The ``id`` is drawn the first time it is read
    (when a store persists the job, or a caller asks): most jobs of a sync run in the memory
    store never need one, and drawing it is a good part of what a job costs.
    """

    __slots__ = ("_id", "finished_at", "log", "meta", "node_key", "result", "started_at",
                 "status")

    def __init__(self, status: Status = _RESOLVED, result: Any = None, log: str | None = None,
                 node_key: str = "", id: str | None = None,
                 started_at: datetime | None = None, finished_at: datetime | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.status = status
        self.result = result
        self.log = log
        self.node_key = node_key
        self._id = id
        self.started_at = started_at
        self.finished_at = finished_at
        #: Bookkeeping of the run loop: ``seq`` orders saves, ``branch`` marks a started branch.
        self.meta: dict[str, Any] = {} if meta is None else meta

    @property
    def id(self) -> str:
        """The job's unique id (time-ordered, like execution ids)."""
        ident = self._id
        if ident is None:
            ident = self._id = new_id()
        return ident

    @id.setter
    def id(self, value: str) -> None:
        self._id = value

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        # Copies and pickles carry the id: a copy must not draw an id of its own later.
        return None, {"_id": self.id, "finished_at": self.finished_at, "log": self.log,
                      "meta": self.meta, "node_key": self.node_key, "result": self.result,
                      "started_at": self.started_at, "status": self.status}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Job:
            return NotImplemented
        assert isinstance(other, Job)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def _fields(self) -> tuple[Any, ...]:
        return (self.status, self.result, self.log, self.node_key, self.id, self.started_at,
                self.finished_at, self.meta)

    def __repr__(self) -> str:
        return (f"Job(status={self.status!r}, result={self.result!r}, log={self.log!r}, "
                f"node_key={self.node_key!r}, id={self.id!r}, started_at={self.started_at!r}, "
                f"finished_at={self.finished_at!r}, meta={self.meta!r})")

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
