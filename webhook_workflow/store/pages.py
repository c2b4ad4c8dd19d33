"""Pages of the execution log: light rows newest first, found by keyset, and counts by status.

A page is what a console lists: executions without their context, output or jobs (a row holds
how many jobs it has), newest first by ``(created_at, seq)``, filtered by workflow, status,
time received and the execution replayed. ``before`` is the id of the last row of the previous
page: the next page starts after it, found through an index, so page 20 000 costs what page 1
costs. Stores implement :class:`Pages` (the memory, SQLite and PostgreSQL stores do); for a
store that does not, :func:`page_of` reads its ``list`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from ..records import Execution
from ..status import Status, execution_status, execution_status_name

__all__ = ["FALLBACK_SCAN", "ExecutionRow", "Pages", "counts_of", "find_ids", "page_filter",
           "page_of", "row_from_values", "row_of", "status_key"]

#: How many executions :func:`page_of` reads from a store without :class:`Pages`.
FALLBACK_SCAN = 10_000

#: The columns of a page row, in the order :func:`row_from_values` reads them (SQL stores).
ROW_COLUMNS = ("id, workflow_key, version, status, sync, created_at, started_at, finished_at, "
               "reason, replay_of, parent_id")


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One execution as a list shows it: no context, output or jobs, only their count."""

    id: str
    workflow_key: str
    version: int
    status: Status | None
    sync: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    replay_of: str | None
    parent_id: str | None
    job_count: int

    @property
    def finished(self) -> bool:
        """True once the execution has a final status."""
        return self.status is not None and self.status != Status.STARTED


@runtime_checkable
class Pages(Protocol):
    """What a store offers a console beside the :class:`~.base.Store` protocol."""

    def page(self, workflow_key: str | None = None, *, status: Status | str | None = None,
             since: float | None = None, until: float | None = None,
             before: str | None = None, replay_of: str | None = None,
             limit: int = 50) -> list[ExecutionRow]:
        """Rows newest first (``created_at``, then the order they were recorded), after the
        execution ``before`` when given (an unknown ``before``: no rows); ``status`` is a
        Status or ``"queued"``; ``since <= created_at < until`` (epoch seconds)."""

    def status_counts(self, since: float) -> dict[str, dict[str, int]]:
        """How many executions came in since ``since`` (epoch seconds), by workflow key, then
        by status name (``QUEUED``, ``STARTED``, ``RESOLVED`` ...)."""

    def idempotency_ids(self, key: str) -> list[str]:
        """The executions a remembered idempotency key (of any workflow) created."""


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), UTC)


def row_from_values(values: tuple[Any, ...] | list[Any], job_count: int) -> ExecutionRow:
    """A row from the values of :data:`ROW_COLUMNS` (times as epoch seconds or datetimes)."""
    return ExecutionRow(
        id=values[0], workflow_key=values[1], version=int(values[2]),
        status=execution_status(values[3]), sync=bool(values[4]),
        created_at=_time(values[5]) or datetime.now(UTC), started_at=_time(values[6]),
        finished_at=_time(values[7]), reason=values[8], replay_of=values[9],
        parent_id=values[10], job_count=int(job_count))


def row_of(execution: Execution) -> ExecutionRow:
    """The row of a whole execution."""
    return ExecutionRow(execution.id, execution.workflow_key, execution.version,
                        execution.status, execution.sync, execution.created_at,
                        execution.started_at, execution.finished_at, execution.reason,
                        execution.replay_of, execution.parent_id, len(execution.jobs))


def page_filter(workflow_key: str | None, status: Status | str | None, since: float | None,
                until: float | None, replay_of: str | None, mark: str,
                instant: str = "{}") -> tuple[list[str], list[Any]]:
    """The conditions (to join with AND) and parameters of a page query; ``mark`` is the
    driver's placeholder, ``instant`` turns an epoch parameter into the column's type."""
    where: list[str] = []
    args: list[Any] = []
    if workflow_key is not None:
        where.append(f"e.workflow_key = {mark}")
        args.append(workflow_key)
    if status == "queued":
        where.append("e.status IS NULL")
    elif status is not None:
        where.append(f"e.status = {mark}")
        args.append(int(status))
    if since is not None:
        where.append(f"e.created_at >= {instant.format(mark)}")
        args.append(float(since))
    if until is not None:
        where.append(f"e.created_at < {instant.format(mark)}")
        args.append(float(until))
    if replay_of is not None:
        where.append(f"e.replay_of = {mark}")
        args.append(replay_of)
    return where, args


def status_key(status: Status | int | None) -> str:
    """The name a count is kept under: ``QUEUED``, ``STARTED`` or the final status's."""
    return execution_status_name(execution_status(status))


def page_of(store: Any, workflow_key: str | None = None, *, status: Status | str | None = None,
            since: float | None = None, until: float | None = None, before: str | None = None,
            replay_of: str | None = None, limit: int = 50) -> list[ExecutionRow]:
    """A page from any store: its :meth:`Pages.page`, else read from its ``list`` (at most
    :data:`FALLBACK_SCAN` executions, newest first)."""
    if isinstance(store, Pages):
        return store.page(workflow_key, status=status, since=since, until=until, before=before,
                          replay_of=replay_of, limit=limit)
    rows = [row_of(e) for e in store.list(workflow_key, status=status, limit=FALLBACK_SCAN,
                                          since=since, until=until)
            if replay_of is None or e.replay_of == replay_of]
    if before is not None:
        ids = [r.id for r in rows]
        rows = rows[ids.index(before) + 1:] if before in ids else []
    return rows[:limit]


def counts_of(store: Any, since: float) -> dict[str, dict[str, int]]:
    """Counts by workflow and status since ``since``, from any store (see :func:`page_of`)."""
    if isinstance(store, Pages):
        return store.status_counts(since)
    out: dict[str, dict[str, int]] = {}
    for e in store.list(None, limit=FALLBACK_SCAN, since=since):
        by = out.setdefault(e.workflow_key, {})
        name = status_key(e.status)
        by[name] = by.get(name, 0) + 1
    return out


def find_ids(store: Any, text: str) -> list[str]:
    """The executions ``text`` names: its id, or the executions its idempotency key made."""
    text = text.strip()
    if not text:
        return []
    found = [text] if store.get(text) is not None else []
    if isinstance(store, Pages):
        found += [i for i in store.idempotency_ids(text) if i not in found]
    return found
