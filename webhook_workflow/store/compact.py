"""Executions packed into bytes: how the memory store keeps what no worker is running.

A packed execution is one ``bytes`` object: the garbage collector does not track it (a kept
execution as objects is about seven tracked containers, and a full collection walks them all,
pausing every request in flight), its size is exact (so the store can bound what it keeps in
bytes), and unpacking gives a fresh copy (reads never share objects with the store).

The bytes are :mod:`marshal`'s when every value is a plain one (dict, list, tuple, str,
int, float, bool, None: what JSON bodies and most results hold), else :mod:`pickle`'s: the
two fastest exact round trips of Python values in the standard library (JSON would turn tuples
into lists and datetimes into text), marshal about twice as fast as pickle. Their first byte
tells them apart (pickle's is 0x80, marshal never writes it first). Neither format may read
bytes from elsewhere: these never leave the process and never come from outside it. Times go
as integers of microseconds (a datetime pickles ten times slower than an int), statuses as
ints.
"""

from __future__ import annotations

import marshal
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

from ..ids import give_ids
from ..records import Execution, FlowMark, Job
from ..status import execution_status, job_status

__all__ = ["pack", "unpack"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_PICKLED = pickle.PROTO[0]  # the first byte of every pickle since protocol 2


def _instant(value: datetime | float | None) -> int | float | None:
    # Floats (epoch seconds from the clock) stay floats; datetimes become exact integers.
    if value is None or value.__class__ is float:
        return value
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def _time(value: int | float | None) -> datetime | float | None:
    if value is None or value.__class__ is float:
        return value
    return _EPOCH + timedelta(microseconds=value)


def _fields(execution: Execution) -> tuple[Any, ...]:
    give_ids(execution.jobs)
    status = execution.status
    return (execution.id, execution.workflow_key, execution.version,
            None if status is None else int(status), execution.sync, execution.context,
            execution.output, execution.response, execution.replay_of, execution.parent_id,
            execution.stack, _instant(execution._created), _instant(execution._started),
            _instant(execution._finished), execution.reason, execution.trace,
            None if execution.flow is None else tuple(execution.flow), execution.origin,
            [(job.id, job.node_key, int(job.status), job.result, job.log, job.meta,
              _instant(job._started), _instant(job._finished)) for job in execution.jobs])


class _Lenient(pickle.Pickler):
    """Pickles what plain pickle refuses (a custom node's lambda, a lock ...) as its text,
    the form a durable store's JSON would keep of it."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in _PLAIN:
            return NotImplemented
        try:
            pickle.dumps(obj, _PROTOCOL)
        except Exception:  # any object pickle refuses, however it refuses
            return str, (str(obj),)
        return NotImplemented


_PLAIN = frozenset({dict, list, tuple, str, int, float, bool, type(None), bytes, datetime})


def pack(execution: Execution) -> bytes:
    """The execution (with its jobs) as bytes."""
    fields = _fields(execution)
    try:
        return marshal.dumps(fields)
    except ValueError:  # a value marshal cannot write (a datetime, a dict subclass ...)
        pass
    try:
        return pickle.dumps(fields, _PROTOCOL)
    except Exception:  # a value pickle refuses: keep its text instead of losing the record
        import io

        buffer = io.BytesIO()
        _Lenient(buffer, _PROTOCOL).dump(fields)
        return buffer.getvalue()


def unpack(blob: bytes) -> Execution:
    """A fresh execution from :func:`pack`'s bytes."""
    (ident, workflow_key, version, status, sync, context, output, response, replay_of,
     parent_id, stack, created, started, finished, reason, trace, flow, origin, jobs) = (
        pickle.loads(blob) if blob[0] == _PICKLED else marshal.loads(blob))
    return Execution(
        workflow_key, version, context, status=execution_status(status), sync=sync, output=output,
        response=response, replay_of=replay_of, parent_id=parent_id, stack=stack, id=ident,
        created_at=_time(created), started_at=_time(started), finished_at=_time(finished),
        reason=reason, trace=trace, flow=None if flow is None else FlowMark(*flow), origin=origin,
        jobs=[Job(job_status(job[2]), job[3], job[4], job[1], job[0], _time(job[6]),
                  _time(job[7]), job[5]) for job in jobs])
