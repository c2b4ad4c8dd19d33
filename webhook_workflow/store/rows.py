"""Rows of the durable stores: executions and jobs as columns, and back.

JSON columns use the library's codec (datetimes as ISO text); times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..jsoncodec import dumps, loads
from ..records import Execution, FlowMark, Job
from ..status import Status, execution_status, job_status

__all__ = [
    "EXECUTION_COLUMNS",
    "JOB_COLUMNS",
    "dump",
    "execution_from_row",
    "execution_row",
    "flow_from_row",
    "job_from_row",
    "job_row",
    "list_filter",
    "load",
    "to_datetime",
    "to_epoch",
]

#: Execution columns in the order :func:`execution_row` and :func:`execution_from_row` use.
EXECUTION_COLUMNS = ("id, workflow_key, version, status, sync, context, output, response, "
                     "replay_of, parent_id, stack, created_at, started_at, finished_at, reason, "
                     "concurrency_key, concurrency_limit, throttle_key, throttle_limit, "
                     "throttle_period, debounce_key, not_before, origin, trace")
_NO_FLOW = (None,) * len(FlowMark._fields)
#: Job columns in the order :func:`job_from_row` reads them.
JOB_COLUMNS = "id, node_key, status, result, log, meta, started_at, finished_at"


def list_filter(workflow_key: str | None, status: Status | str | None, mark: str,
                column: str = "", since: float | None = None, until: float | None = None,
                instant: str = "{}") -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (empty, or starting with a space) and its parameters of a
    ``list`` query; ``mark`` is the driver's placeholder, ``column`` a table alias prefix,
    ``since``/``until`` bound ``created_at`` (epoch seconds; ``instant`` turns a parameter
    into the column's type, e.g. ``to_timestamp({})``)."""
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append(f"{column}created_at >= {instant.format(mark)}")
        args.append(float(since))
    if until is not None:
        where.append(f"{column}created_at < {instant.format(mark)}")
        args.append(float(until))
    if workflow_key is not None:
        where.append(f"{column}workflow_key = {mark}")
        args.append(workflow_key)
    if status == "queued":
        where.append(f"{column}status IS NULL")
    elif status is not None:
        where.append(f"{column}status = {mark}")
        args.append(int(status))
    return (" WHERE " + " AND ".join(where) if where else ""), args


def dump(value: Any) -> str:
    """A JSON column."""
    return dumps(value)


def load(text: str | bytes | None) -> Any:
    """A JSON column back (None stays None)."""
    return None if text is None else loads(text)


def to_epoch(value: datetime | None) -> float | None:
    """A time column."""
    return None if value is None else value.timestamp()


def to_datetime(value: float | None) -> datetime | None:
    """A time column back, as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def execution_row(execution: Execution) -> tuple[Any, ...]:
    """The values of :data:`EXECUTION_COLUMNS`."""
    return (execution.id, execution.workflow_key, execution.version,
            None if execution.status is None else int(execution.status),
            int(execution.sync), dump(execution.context), dump(execution.output),
            dump(execution.response), execution.replay_of, execution.parent_id,
            dump(execution.stack), to_epoch(execution.created_at),
            to_epoch(execution.started_at), to_epoch(execution.finished_at), execution.reason,
            *(execution.flow or _NO_FLOW), execution.origin,
            None if execution.trace is None else dump(execution.trace))


def job_row(execution_id: str, job: Job) -> tuple[Any, ...]:
    """``(id, execution_id, node_key, status, result, log, meta, started_at, finished_at)``."""
    return (job.id, execution_id, job.node_key, int(job.status), dump(job.result), job.log,
            dump(job.meta), to_epoch(job.started_at), to_epoch(job.finished_at))


def job_from_row(row: tuple[Any, ...]) -> Job:
    """A job from the values of :data:`JOB_COLUMNS`."""
    return Job(status=job_status(row[2]), result=load(row[3]), log=row[4], node_key=row[1],
               id=row[0], started_at=to_datetime(row[6]), finished_at=to_datetime(row[7]),
               meta=load(row[5]) or {})


def execution_from_row(row: tuple[Any, ...], jobs: Iterable[tuple[Any, ...]]) -> Execution:
    """An execution from the values of :data:`EXECUTION_COLUMNS` and its job rows."""
    return Execution(
        id=row[0], workflow_key=row[1], version=row[2],
        status=execution_status(row[3]), sync=bool(row[4]),
        context=load(row[5]), output=load(row[6]), response=load(row[7]),
        replay_of=row[8], parent_id=row[9], stack=load(row[10]) or [],
        created_at=to_datetime(row[11]) or datetime.now(UTC), started_at=to_datetime(row[12]),
        finished_at=to_datetime(row[13]), reason=row[14], flow=flow_from_row(row[15:22]),
        origin=row[22], trace=load(row[23]),
        jobs=[job_from_row(r) for r in jobs])


def flow_from_row(values: Sequence[Any]) -> FlowMark | None:
    """The flow mark of an execution row's seven flow columns (None when all are null)."""
    if all(value is None for value in values):
        return None
    return FlowMark(*values)
