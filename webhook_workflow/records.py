"""The records a run produces: :class:`Job` (one node run) and :class:`Execution` (one run).

Their times read as aware UTC datetimes, but are taken as ``time.time()`` floats and turned
into datetimes when first read: a run takes several timestamps per node, most are never read
before a store writes them (as epoch seconds), and building a datetime costs ten times as
much as reading the clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar, overload

from .ids import new_id
from .status import RUNNING, Status, execution_status, execution_status_name

__all__ = ["Execution", "FlowMark", "Job", "utcnow"]

_clock = time.time
_fromtimestamp = datetime.fromtimestamp


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


T = TypeVar("T", datetime, datetime | None)


class _Instant(Generic[T]):
    """A time attribute kept in slot ``slot`` as a float (epoch seconds), a datetime or None;
    read as a datetime (converted once)."""

    __slots__ = ("slot",)

    def __init__(self, slot: str) -> None:
        self.slot = slot

    @overload
    def __get__(self, obj: None, owner: type) -> _Instant[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...

    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        value = getattr(obj, self.slot)
        if value.__class__ is float:
            value = _fromtimestamp(value, UTC)
            setattr(obj, self.slot, value)
        return value

    def __set__(self, obj: object, value: datetime | float | None) -> None:
        setattr(obj, self.slot, value)


_RESOLVED = Status.RESOLVED


class Job:
    """The record of one node run.

    Custom nodes may return ``Job(status=..., result=..., log=...)`` to choose the status;
    the engine fills in the other fields. The ``id`` is drawn the first time it is read
    (when a store persists the job, or a caller asks): most jobs of a sync run in the memory
    store never need one, and drawing it is a good part of what a job costs.
    """

    __slots__ = ("_finished", "_id", "_started", "log", "meta", "node_key", "result", "status")

    started_at: _Instant[datetime | None] = _Instant("_started")
    finished_at: _Instant[datetime | None] = _Instant("_finished")

    def __init__(self, status: Status = _RESOLVED, result: Any = None, log: str | None = None,
                 node_key: str = "", id: str | None = None,
                 started_at: datetime | float | None = None,
                 finished_at: datetime | float | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.status = status
        self.result = result
        self.log = log
        self.node_key = node_key
        self._id = id
        self._started = started_at
        self._finished = finished_at
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
        return None, {"_id": self.id, "_finished": self._finished, "log": self.log,
                      "meta": self.meta, "node_key": self.node_key, "result": self.result,
                      "_started": self._started, "status": self.status}

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


class FlowMark(NamedTuple):
    """The flow control an execution is under (``options.concurrency`` / ``throttle`` /
    ``debounce``), with its keys rendered when it was acknowledged: what the store's claim
    reads to decide when it may start. Times are epoch seconds, periods seconds."""

    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    throttle_key: str | None = None
    throttle_limit: int | None = None
    throttle_period: float | None = None
    debounce_key: str | None = None
    not_before: float | None = None


_EXECUTION_FIELDS = ("workflow_key", "version", "context", "status", "sync", "output",
                     "response", "replay_of", "parent_id", "stack", "id", "created_at",
                     "started_at", "finished_at", "reason", "flow", "trace", "origin", "jobs")


class Execution:
    """One run of a workflow version, from the trigger to its final status.

    ``status`` is ``None`` while the execution waits in the queue. ``response`` holds the HTTP
    answer of a sync execution (``{"status", "headers", "body"}``), else ``None``.
    ``parent_id`` is the execution whose ``subflow`` node started this one; ``stack`` the
    workflow keys of the ancestors (subflow chains), oldest first, which bounds recursion.
    ``reason`` says why an execution ended other than RESOLVED (``"timeout"``,
    ``"manual_cancel"``, ``"node:<key>"`` ...: see the execution log's docs), else ``None``.
    ``trace`` is the trace context it continues (W3C ``traceparent``/``tracestate`` headers,
    recorded at its webhook request when tracing is on), else ``None``.
    """

    __slots__ = ("_created", "_finished", "_started", "_status", "context", "flow", "id",
                 "jobs", "origin", "output", "parent_id", "reason", "replay_of", "response",
                 "stack", "sync", "trace", "version", "workflow_key")

    created_at: _Instant[datetime] = _Instant("_created")
    started_at: _Instant[datetime | None] = _Instant("_started")
    finished_at: _Instant[datetime | None] = _Instant("_finished")

    def __init__(self, workflow_key: str, version: int, context: dict[str, Any],
                 status: Status | None = None, sync: bool = False, output: Any = None,
                 response: dict[str, Any] | None = None, replay_of: str | None = None,
                 parent_id: str | None = None, stack: list[str] | None = None,
                 id: str | None = None,
                 created_at: datetime | float | None = None,
                 started_at: datetime | float | None = None,
                 finished_at: datetime | float | None = None,
                 jobs: list[Job] | None = None, reason: str | None = None,
                 flow: FlowMark | None = None,
                 trace: dict[str, str] | None = None, origin: str | None = None) -> None:
        self.workflow_key = workflow_key
        self.version = version
        self.context = context
        self.status = status
        self.sync = sync
        self.output = output
        self.response = response
        self.replay_of = replay_of
        self.parent_id = parent_id
        self.stack: list[str] = [] if stack is None else stack
        self.id: str = new_id() if id is None else id
        self._created = _clock() if created_at is None else created_at
        self._started = started_at
        self._finished = finished_at
        self.jobs: list[Job] = [] if jobs is None else jobs
        self.reason = reason
        #: The flow control it is under (async workflows with ``options.concurrency`` ...).
        self.flow = flow
        #: The trace context to continue (propagation headers), or None: kept with the
        #: execution so a run on another worker, process or host joins the request's trace.
        self.trace = trace
        #: Where its webhook was served (``scheme://host`` and mount point), for resume URLs
        #: when the engine has no ``public_url``; else None.
        self.origin = origin

    @property
    def status(self) -> Status | None:
        """None while queued, STARTED (0) while running or waiting, then the final status."""
        return self._status

    @status.setter
    def status(self, value: Status | None) -> None:
        # 0 is kept as RUNNING, which reads STARTED: Status(0) would read PENDING.
        self._status = value if value is None or value is RUNNING else execution_status(value)

    @property
    def finished(self) -> bool:
        """True once the execution has a final status."""
        return self.status is not None and self.status != Status.STARTED

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Execution:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _EXECUTION_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _EXECUTION_FIELDS)
        return f"Execution({fields})"

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
            "reason": self.reason,
            "jobs": [job.to_dict() for job in self.jobs],
        }
