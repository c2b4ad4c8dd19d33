"""Job and execution statuses, numbered exactly as NocoBase numbers them."""

from __future__ import annotations

from enum import IntEnum
from typing import cast

__all__ = ["FINISHED", "RUNNING", "Status", "execution_status", "execution_status_name",
           "job_status", "status_from_value", "status_name"]


class Status(IntEnum):
    """Status of a job or an execution. An execution still queued has status ``None``."""

    PENDING = 0
    RESOLVED = 1
    FAILED = -1
    ERROR = -2
    ABORTED = -3
    CANCELED = -4
    REJECTED = -5
    RETRY_NEEDED = -6

    # NocoBase calls a running execution STARTED; it shares the number with PENDING.
    STARTED = 0

    def __str__(self) -> str:
        return self.name


class _Running(IntEnum):
    """How a running execution's status reads: STARTED (0, equal to ``Status.STARTED``), where
    ``Status(0)`` reads PENDING, the name of a job that waits."""

    STARTED = 0

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return "<Status.STARTED: 0>"


#: The status a running execution holds: equal to (and hashing as) ``Status.STARTED``.
RUNNING: Status = cast(Status, _Running.STARTED)


_KNOWN: dict[int, Status] = {int(s): s for s in Status}
_KNOWN[0] = Status.PENDING


def execution_status(value: Status | int | None) -> Status | None:
    """An execution's status as it is kept: 0 as :data:`RUNNING`, so it reads STARTED.

    A number outside the enum (a custom node's job status such as 100 or -100) becomes the
    status of its sign, as NocoBase's ``Processor.exit`` maps it (``StatusMap[s] ??
    Math.sign(s)``): an execution always ends with a status NocoBase knows.
    """
    if value is None:
        return None
    if value == 0:
        return RUNNING
    known = _KNOWN.get(value)
    return known if known is not None else _KNOWN[(value > 0) - (value < 0)]


def job_status(value: int) -> Status:
    """A job's status as it is kept: a known number as its :class:`Status`, any other number
    (a custom node's own status, 100 or -100) as that very number, as NocoBase keeps it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a job status: {value!r}")
    known = _KNOWN.get(value)
    return known if known is not None else cast(Status, int(value))


def status_name(value: int) -> str:
    """The name of a job status (``RESOLVED``), or its number for a custom one (``100``)."""
    known = _KNOWN.get(value)
    return known.name if known is not None else str(int(value))


#: Statuses that end a job or an execution (everything but PENDING/STARTED).
FINISHED = frozenset(s for s in Status if s != Status.PENDING)


def execution_status_name(status: Status | None) -> str:
    """How an execution status reads: ``QUEUED`` for None, ``STARTED`` for 0, else the name."""
    if status is None:
        return "QUEUED"
    return "STARTED" if status == Status.STARTED else Status(status).name


def status_from_value(value: int | str | Status) -> Status:
    """Turn a number (``-1``) or a name (``"failed"``, ``"RESOLVED"``) into a :class:`Status`.

    Unknown numbers fall back to their sign, as NocoBase does; unknown names raise ``ValueError``.
    """
    if isinstance(value, Status):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a status: {value!r}")
    if isinstance(value, int):
        try:
            return Status(value)
        except ValueError:
            return Status((value > 0) - (value < 0))
    name = value.strip().upper()
    if name.lstrip("-").isdigit():
        return status_from_value(int(name))
    try:
        return Status[name]
    except KeyError:
        raise ValueError(f"unknown status {value!r}") from None
